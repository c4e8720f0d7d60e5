"""Date semantics as shared DuckDB SQL macros (rule-catalogue.md section 0.4).

Every rule computes calendar deadlines with these macros and nothing else:

- ``civil_date(ts)``: the civil date of a timestamp in the policy's time zone (Europe/Amsterdam):
  2024-01-31 23:30 UTC is 2024-02-01 in Amsterdam.
- ``add_months(d, n)``: calendar months, clamped to the month's end (Reg. 1182/71 art. 3(2)(c)):
  2024-02-29 + 12 = 2025-02-28, 2024-01-31 + 1 = 2024-02-29.
- ``fy_end(d, 'MM-DD')``: the last day of the fiscal year that contains ``d``.
- ``easter(y)``, ``nl_holiday(d)``, ``working_day(d)``, ``next_working_day(d)``: Dutch public
  holidays of the Algemene termijnenwet for any year (Nieuwjaarsdag, 2e Paasdag, Koningsdag,
  Bevrijdingsdag, Hemelvaartsdag, 2e Pinksterdag, Kerstdagen), and the roll of a deadline that
  falls on a weekend or holiday to the next working day (DSR deadlines only; retention never rolls).
  ``next_working_day`` looks the answer up in a table computed at install for 1970-2100 (the
  same holidays, from :func:`nl_holidays`) and computes it in SQL outside those years.
- ``hold_covers(customer_id, table, ts)``: an open legal hold for that customer covers that table
  at ``ts`` (``opened_at <= ts < closed_at``; an empty scope covers every table; holds without a
  customer are not honoured).

A period ends at the end of its due date: a subject is in breach only when
``as_of_date > due_date + grace_days``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from .exceptions import PolicyError


def add_months(d: date, n: int) -> date:
    """``d`` plus ``n`` calendar months, clamped to the month's end (the ``add_months`` macro in
    Python): 2024-02-29 + 12 = 2025-02-28, 2024-01-31 + 1 = 2024-02-29."""
    import calendar

    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def check_timezone(tz: str) -> str:
    """A valid IANA time-zone name, safe to write into a macro (SQL cannot bind it there)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", tz):
        raise PolicyError(f"timezone: invalid time-zone name {tz!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"timezone: unknown time zone {tz!r}") from None
    return tz


def macros(timezone: str = "Europe/Amsterdam") -> list[str]:
    tz = check_timezone(timezone)
    return [
        f"CREATE OR REPLACE TEMP MACRO civil_date(ts) AS CAST(timezone('{tz}', ts) AS DATE)",
        "CREATE OR REPLACE TEMP MACRO add_months(d, n) AS CAST(d + to_months(CAST(n AS INTEGER)) AS DATE)",
        # fy_end('2024-03-05', '06-30') = 2024-06-30; fy_end('2024-08-01', '06-30') = 2025-06-30
        """CREATE OR REPLACE TEMP MACRO fy_end(d, mmdd) AS make_date(
             year(d) + CASE WHEN strftime(d, '%m-%d') > mmdd THEN 1 ELSE 0 END,
             CAST(split_part(mmdd, '-', 1) AS INTEGER), CAST(split_part(mmdd, '-', 2) AS INTEGER))""",
        # Anonymous Gregorian algorithm (Meeus/Jones/Butcher), in three steps
        """CREATE OR REPLACE TEMP MACRO _easter_h(y) AS
             (19 * (y % 19) + y // 100 - (y // 100) // 4
              - ((y // 100) - ((y // 100) + 8) // 25 + 1) // 3 + 15) % 30""",
        """CREATE OR REPLACE TEMP MACRO _easter_l(y) AS
             (32 + 2 * ((y // 100) % 4) + 2 * ((y % 100) // 4) - _easter_h(y) - ((y % 100) % 4)) % 7""",
        """CREATE OR REPLACE TEMP MACRO _easter_n(y) AS
             _easter_h(y) + _easter_l(y)
             - 7 * (((y % 19) + 11 * _easter_h(y) + 22 * _easter_l(y)) // 451) + 114""",
        """CREATE OR REPLACE TEMP MACRO easter(y) AS make_date(CAST(y AS BIGINT),
             CAST(_easter_n(y) // 31 AS BIGINT), CAST(_easter_n(y) % 31 + 1 AS BIGINT))""",
        # King's Day: 27 April (26 April when the 27th is a Sunday); Queen's Day 30 April before 2014
        """CREATE OR REPLACE TEMP MACRO kings_day(y) AS CASE
             WHEN y >= 2014 THEN CASE WHEN isodow(make_date(y, 4, 27)) = 7
                                      THEN make_date(y, 4, 26) ELSE make_date(y, 4, 27) END
             ELSE CASE WHEN isodow(make_date(y, 4, 30)) = 7
                       THEN make_date(y, 4, 29) ELSE make_date(y, 4, 30) END END""",
        """CREATE OR REPLACE TEMP MACRO nl_holiday(d) AS (
             (month(d) = 1 AND day(d) = 1) OR (month(d) = 5 AND day(d) = 5)
             OR (month(d) = 12 AND day(d) IN (25, 26))
             OR CAST(d AS DATE) = kings_day(year(d))
             OR CAST(d AS DATE) IN (CAST(easter(year(d)) + 1 AS DATE),
                                    CAST(easter(year(d)) + 39 AS DATE),
                                    CAST(easter(year(d)) + 50 AS DATE)))""",
        "CREATE OR REPLACE TEMP MACRO working_day(d) AS (isodow(d) < 6 AND NOT nl_holiday(d))",
        """CREATE OR REPLACE TEMP MACRO _next_working_day_computed(d) AS list_min(list_filter(
             list_transform(range(0, 14), lambda i: CAST(CAST(d AS DATE) + CAST(i AS INTEGER) AS DATE)),
             lambda x: working_day(x)))""",
        # a lookup in the precomputed table (install()) for the years it covers: 20x faster
        f"""CREATE OR REPLACE TEMP MACRO next_working_day(d) AS CASE
             WHEN CAST(d AS DATE) BETWEEN DATE '{TABLE_FROM}' AND DATE '{TABLE_TO}'
             THEN (SELECT w.next_day FROM _next_working_day w WHERE w.day = CAST(d AS DATE))
             ELSE _next_working_day_computed(d) END""",
    ]


TABLE_FROM, TABLE_TO = date(1970, 1, 1), date(2100, 12, 31)


def next_working_days(start: date = TABLE_FROM, end: date = TABLE_TO) -> tuple[list[date], list[date]]:
    """Every day from ``start`` to ``end`` and the first working day on or after it."""
    holidays: set[date] = set()
    for y in range(start.year, end.year + 2):
        holidays |= set(nl_holidays(y))
    days = [start + timedelta(days=i) for i in range((end - start).days + 15)]
    nxt: list[date] = [days[-1]] * len(days)
    following = None
    for i in range(len(days) - 1, -1, -1):
        d = days[i]
        if d.isoweekday() < 6 and d not in holidays:
            following = d
        nxt[i] = following
    n = (end - start).days + 1
    return days[:n], nxt[:n]


def hold_macro() -> str:
    """``hold_covers`` reads ``legal_holds``: install it once that table (or view) exists."""
    return """CREATE OR REPLACE TEMP MACRO hold_covers(cid, tbl, ts) AS EXISTS (
        SELECT 1 FROM legal_holds h
        WHERE h.customer_id = cid
          AND (h.scope_tables IS NULL OR len(h.scope_tables) = 0 OR list_contains(h.scope_tables, tbl))
          AND h.opened_at <= ts AND (h.closed_at IS NULL OR h.closed_at > ts))"""


def install(con: duckdb.DuckDBPyConnection, timezone: str = "Europe/Amsterdam",
            holds: bool = False) -> None:
    """Create the date macros (and ``hold_covers`` when ``holds``) on this connection."""
    import pyarrow as pa
    days, nxt = next_working_days()
    con.execute("CREATE OR REPLACE TEMP TABLE _next_working_day (day DATE, next_day DATE)")
    con.register("_nwd_arrow", pa.table({"day": days, "next_day": nxt}))
    con.execute("INSERT INTO _next_working_day SELECT day, next_day FROM _nwd_arrow")
    con.unregister("_nwd_arrow")
    for sql in macros(timezone):
        con.execute(sql)
    if holds:
        con.execute(hold_macro())


# ---------------------------------------------------------------- the same in Python (docs, tests)

def easter(year: int) -> date:
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ll = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ll) // 451
    month, day = divmod(h + ll - 7 * m + 114, 31)
    return date(year, month, day + 1)


def nl_holidays(year: int) -> dict[date, str]:
    """The Dutch public holidays of ``year`` that move a deadline (Algemene termijnenwet)."""
    e = easter(year)
    kd = date(year, 4, 27) if year >= 2014 else date(year, 4, 30)   # Queen's Day before 2014
    kd = kd - timedelta(days=1) if kd.isoweekday() == 7 else kd
    return {
        date(year, 1, 1): "Nieuwjaarsdag",
        e + timedelta(days=1): "Tweede Paasdag",
        kd: "Koningsdag" if year >= 2014 else "Koninginnedag",
        date(year, 5, 5): "Bevrijdingsdag",
        e + timedelta(days=39): "Hemelvaartsdag",
        e + timedelta(days=50): "Tweede Pinksterdag",
        date(year, 12, 25): "Eerste Kerstdag",
        date(year, 12, 26): "Tweede Kerstdag",
    }
