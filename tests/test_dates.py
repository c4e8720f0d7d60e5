"""The shared date macros, on their own (rule-catalogue.md section 0.4)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import duckdb
import pytest

from toolkit import dates
from toolkit.exceptions import PolicyError


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    dates.install(c)
    yield c
    c.close()


def one(con, sql, *params):
    return con.execute(sql, list(params)).fetchone()[0]


@pytest.mark.parametrize("ts,expected", [
    (datetime(2024, 1, 31, 23, 30, tzinfo=timezone.utc), date(2024, 2, 1)),   # winter, +1
    (datetime(2024, 1, 31, 22, 59, tzinfo=timezone.utc), date(2024, 1, 31)),
    (datetime(2024, 6, 30, 22, 0, tzinfo=timezone.utc), date(2024, 7, 1)),    # summer, +2
    (datetime(2024, 6, 30, 21, 59, tzinfo=timezone.utc), date(2024, 6, 30)),
    (datetime(2024, 3, 1, 23, 30, tzinfo=timezone.utc), date(2024, 3, 2)),    # catalogue example
])
def test_civil_date_is_amsterdam(con, ts, expected):
    assert one(con, "SELECT civil_date($1::TIMESTAMPTZ)", ts) == expected


@pytest.mark.parametrize("d,n,expected", [
    (date(2024, 2, 29), 12, date(2025, 2, 28)),   # leap-day anchor
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 3, 31), 1, date(2024, 4, 30)),
    (date(2024, 3, 1), 12, date(2025, 3, 1)),     # boundary-day example
    (date(2024, 2, 1), 1, date(2024, 3, 1)),
    (date(2024, 11, 30), 3, date(2025, 2, 28)),
    (date(2024, 8, 31), 6, date(2025, 2, 28)),
])
def test_add_months_clamps_to_month_end(con, d, n, expected):
    assert one(con, "SELECT add_months($1::DATE, $2)", d, n) == expected


def test_add_months_matches_a_python_reference(con):
    rnd = random.Random(1)
    import calendar
    for _ in range(300):
        d = date(2000, 1, 1) + timedelta(days=rnd.randrange(12000))
        n = rnd.randrange(0, 40)
        y, m = divmod(d.month - 1 + n, 12)
        y += d.year
        m += 1
        exp = date(y, m, min(d.day, calendar.monthrange(y, m)[1]))
        assert one(con, "SELECT add_months($1::DATE, $2)", d, n) == exp


@pytest.mark.parametrize("d,mmdd,expected", [
    (date(2017, 3, 5), "12-31", date(2017, 12, 31)),
    (date(2017, 12, 31), "12-31", date(2017, 12, 31)),
    (date(2024, 3, 5), "06-30", date(2024, 6, 30)),
    (date(2024, 6, 30), "06-30", date(2024, 6, 30)),
    (date(2024, 7, 1), "06-30", date(2025, 6, 30)),
])
def test_fiscal_year_end(con, d, mmdd, expected):
    assert one(con, "SELECT fy_end($1::DATE, $2)", d, mmdd) == expected


def test_easter_for_many_years_matches_python_and_known_dates(con):
    known = {2024: date(2024, 3, 31), 2025: date(2025, 4, 20), 2019: date(2019, 4, 21),
             2038: date(2038, 4, 25), 2000: date(2000, 4, 23), 1818: date(1818, 3, 22)}
    for y, d in known.items():
        assert dates.easter(y) == d
        assert one(con, "SELECT easter($1)", y) == d
    for y in range(1900, 2101):
        assert one(con, "SELECT easter($1)", y) == dates.easter(y)


@pytest.mark.parametrize("year", [2013, 2014, 2020, 2024, 2025, 2026, 2030])
def test_dutch_holidays_in_sql_equal_the_python_list(con, year):
    days = con.execute(
        "SELECT d::DATE FROM range($1::DATE, $2::DATE, INTERVAL 1 DAY) t(d) WHERE nl_holiday(d::DATE)",
        [date(year, 1, 1), date(year + 1, 1, 1)]).fetchall()
    assert sorted(d for (d,) in days) == sorted(dates.nl_holidays(year))


def test_known_holidays():
    h = dates.nl_holidays(2025)
    assert h[date(2025, 4, 21)] == "Tweede Paasdag"
    assert h[date(2025, 4, 26)] == "Koningsdag"          # the 27th is a Sunday
    assert h[date(2025, 5, 29)] == "Hemelvaartsdag"
    assert h[date(2025, 6, 9)] == "Tweede Pinksterdag"
    assert dates.nl_holidays(2013)[date(2013, 4, 30)] == "Koninginnedag"


@pytest.mark.parametrize("d,expected", [
    (date(2024, 12, 25), date(2024, 12, 27)),   # Christmas, Boxing Day -> Friday
    (date(2025, 2, 2), date(2025, 2, 3)),       # Sunday -> Monday
    (date(2025, 2, 1), date(2025, 2, 3)),       # Saturday -> Monday
    (date(2025, 2, 3), date(2025, 2, 3)),       # a working day stays
    (date(2024, 12, 28), date(2024, 12, 30)),
    (date(2025, 12, 31), date(2025, 12, 31)),
    (date(2026, 1, 1), date(2026, 1, 2)),
    (date(2025, 4, 18), date(2025, 4, 18)),     # Good Friday is not a holiday here
    (date(2025, 4, 19), date(2025, 4, 22)),     # Saturday, Easter Sunday, Easter Monday
    (date(2025, 5, 29), date(2025, 5, 30)),     # Ascension
])
def test_next_working_day(con, d, expected):
    assert one(con, "SELECT next_working_day($1::DATE)", d) == expected


def test_hold_covers():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute("CREATE TABLE legal_holds (hold_id VARCHAR, customer_id VARCHAR, scope_tables VARCHAR[], "
              "opened_at TIMESTAMPTZ, closed_at TIMESTAMPTZ)")
    c.execute("INSERT INTO legal_holds VALUES "
              "('h1', 'c1', ['chats'], '2024-01-01', NULL), "
              "('h2', 'c2', NULL, '2024-01-01', '2024-06-01'), "
              "('h3', NULL, NULL, '2024-01-01', NULL)")   # blanket hold: not honoured
    dates.install(c, holds=True)
    q = "SELECT hold_covers($1, $2, $3::TIMESTAMPTZ)"
    assert one(c, q, "c1", "chats", "2024-02-01") is True
    assert one(c, q, "c1", "visits", "2024-02-01") is False
    assert one(c, q, "c1", "chats", "2023-12-31") is False
    assert one(c, q, "c2", "visits", "2024-05-31") is True
    assert one(c, q, "c2", "visits", "2024-06-01") is False   # closed_at is exclusive
    assert one(c, q, "c3", "visits", "2024-02-01") is False


def test_bad_time_zone_names_are_refused():
    with pytest.raises(PolicyError, match="unknown time zone"):
        dates.install(duckdb.connect(), "Mars/Olympus")
    with pytest.raises(PolicyError, match="invalid"):
        dates.install(duckdb.connect(), "UTC'; DROP TABLE x; --")


def test_next_working_day_table_agrees_with_the_sql_computation(con):
    rows = con.execute(
        "SELECT d::DATE, next_working_day(d::DATE), _next_working_day_computed(d::DATE) "
        "FROM range(DATE '2023-12-01', DATE '2027-01-15', INTERVAL 1 DAY) t(d)").fetchall()
    assert len(rows) > 1100
    assert all(a == b for _, a, b in rows)
    # outside the table's years the SQL computation answers
    assert one(con, "SELECT next_working_day(DATE '2150-12-25')") == date(2150, 12, 28)
