"""Calendar arithmetic exactly as ``rule-catalogue.md`` section 0.4 defines it.

The generator needs the same date semantics as the rules so that planted scenarios land on the
intended side of every boundary:

* civil dates are Europe/Amsterdam dates (``nl_date``);
* months are calendar months that clamp to the month end (``add_months``);
* a period is breached only when ``as_of_date > due_date + grace``;
* DSR deadlines roll to the next Dutch working day (``next_working_day``), retention never rolls.
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

AMS = ZoneInfo("Europe/Amsterdam")
UTC = timezone.utc


def local(d: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """The instant (UTC) of a wall-clock time on an Amsterdam civil date."""
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=AMS).astimezone(UTC)


def utc(y: int, m: int, d: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, second, tzinfo=UTC)


def nl_date(ts: datetime) -> date:
    """``nl_date(ts)`` of catalogue 1.1: the Amsterdam civil date of an instant."""
    return ts.astimezone(AMS).date()


def add_months(d: date, n: int) -> date:
    """Calendar months; a missing day clamps to the month end (2024-02-29 + 12 = 2025-02-28)."""
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, _cal.monthrange(y, m)[1]))


def retention_due(anchor: datetime, months: int = 12) -> date:
    """RET-001 due date: ``add_months(nl_date(anchor), 12)``; never rolls to a working day."""
    return add_months(nl_date(anchor), months)


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@lru_cache(maxsize=None)
def nl_holidays(year: int) -> frozenset[date]:
    """Dutch public holidays used for DSR deadlines (catalogue 0.4.5).

    Nieuwjaarsdag, 2e Paasdag, Koningsdag (27 April, 26 April when the 27th is a Sunday),
    Bevrijdingsdag (5 May, every year as the catalogue lists it), Hemelvaartsdag, 2e Pinksterdag,
    1e and 2e Kerstdag.
    """
    e = easter(year)
    kings = date(year, 4, 27)
    if kings.isoweekday() == 7:
        kings = date(year, 4, 26)
    return frozenset({
        date(year, 1, 1), e + timedelta(days=1), kings, date(year, 5, 5),
        e + timedelta(days=39), e + timedelta(days=50), date(year, 12, 25), date(year, 12, 26),
    })


def is_working_day(d: date) -> bool:
    return d.isoweekday() < 6 and d not in nl_holidays(d.year)


def next_working_day(d: date) -> date:
    """``d`` itself when it is a working day, else the next one."""
    while not is_working_day(d):
        d += timedelta(days=1)
    return d


def dsr_due(received: datetime, extended: bool = False) -> date:
    """DSR-001 deadline: one month (three with a valid extension) after the Amsterdam date of
    receipt, rolled to the next Dutch working day."""
    return next_working_day(add_months(nl_date(received), 3 if extended else 1))


def fy_end(d: date) -> date:
    """End of the fiscal year (year end 12-31) in which ``d`` falls."""
    return date(d.year, 12, 31)


def fiscal_keep_until(placed_at: datetime, years: int = 7) -> date:
    """RET-005: end of the fiscal year of the Amsterdam date of ``placed_at`` plus ``years``."""
    return date(nl_date(placed_at).year + years, 12, 31)


def fmt_z(ts: datetime) -> str:
    """``2024-03-01T23:30:00Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_local(ts: datetime) -> str:
    """``2024-03-02T00:30:00+01:00`` (Amsterdam wall clock with its offset)."""
    return ts.astimezone(AMS).isoformat(timespec="seconds")
