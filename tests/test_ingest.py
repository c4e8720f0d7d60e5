"""The loader: every format and quirk of contract section 2, reconciliation, atomicity, idempotency."""

from __future__ import annotations

import io
import json
import os
import stat
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import toolkit
from toolkit import ingest
from toolkit.exceptions import MappingError, UnusableInputError

from .conftest import assert_reconciles, write_files

CUSTOMERS_ROWS = [
    ("c1", "Jan", "de Vries", "jan@example.nl", "2024-03-01T10:00:00Z"),
    ("c2", "Anaïs", "Bakker", "anais@example.nl", "2024-03-02T11:30:00+01:00"),
    ("c3", "Piet", "Smit", "piet@example.nl", "2024-03-03T12:00:00Z"),
]
EXPECTED_CUSTOMERS = [
    ("c1", "Jan", "de Vries", "jan@example.nl", datetime(2024, 3, 1, 10, tzinfo=timezone.utc)),
    ("c2", "Anaïs", "Bakker", "anais@example.nl", datetime(2024, 3, 2, 10, 30, tzinfo=timezone.utc)),
    ("c3", "Piet", "Smit", "piet@example.nl", datetime(2024, 3, 3, 12, tzinfo=timezone.utc)),
]
HEADER = ["customer_id", "first_name", "last_name", "email", "created_at"]


def customers_utc(con):
    con.execute("SET TimeZone = 'UTC'")
    return con.execute("SELECT customer_id, first_name, last_name, email, created_at "
                       "FROM customers ORDER BY customer_id").fetchall()


def csv_text(delim: str = ",", rows=CUSTOMERS_ROWS, header=HEADER, newline="\n") -> str:
    lines = [delim.join(header)] + [delim.join(r) for r in rows]
    return newline.join(lines) + newline


# ---------------------------------------------------------------- formats

@pytest.mark.parametrize("name,content", [
    ("customers.csv", csv_text(",")),
    ("customers.csv.gz", csv_text(",")),
    ("customers.tsv", csv_text("\t")),
    ("customers.jsonl", "".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in CUSTOMERS_ROWS)),
    ("customers.ndjson", "".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in CUSTOMERS_ROWS)),
    ("customers.json", json.dumps([dict(zip(HEADER, r)) for r in CUSTOMERS_ROWS], indent=2)),
])
def test_every_text_format_loads_the_same_rows(load_files, name, content):
    result, con = load_files({name: content})
    assert customers_utc(con) == EXPECTED_CUSTOMERS
    assert result.files[0].rows_loaded == 3 and result.files[0].rows_rejected == 0


def test_parquet_with_native_types_and_lists(load_files, tmp_path):
    table = pa.table({
        "transfer_id": ["t1", "t2"],
        "recipient_id": ["r1", "r2"],
        "transferred_at": pa.array([datetime(2024, 3, 1, 23, 30, tzinfo=timezone.utc),
                                    datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)],
                                   pa.timestamp("us", tz="UTC")),
        "fields": pa.array([["email", "street"], []], pa.list_(pa.string())),
        "customer_id": ["c1", None],
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    result, con = load_files({"transfers.parquet": buf.getvalue()})
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute("SELECT transfer_id, transferred_at, fields, customer_id FROM transfers "
                       "ORDER BY transfer_id").fetchall()
    assert rows == [("t1", datetime(2024, 3, 1, 23, 30, tzinfo=timezone.utc), ["email", "street"], "c1"),
                    ("t2", datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc), [], None)]
    assert result.files[0].naive_timestamps == 0


def test_parquet_naive_timestamps_are_amsterdam_and_counted(load_files):
    table = pa.table({"visit_id": ["v1"], "started_at": pa.array([datetime(2024, 7, 1, 12, 0)],
                                                                 pa.timestamp("us"))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    result, con = load_files({"visits.parquet": buf.getvalue()})
    con.execute("SET TimeZone = 'UTC'")
    assert con.execute("SELECT started_at FROM visits").fetchone()[0] == datetime(
        2024, 7, 1, 10, 0, tzinfo=timezone.utc)
    assert result.files[0].naive_timestamps == 1


# ---------------------------------------------------------------- CSV dialects and encodings

@pytest.mark.parametrize("delim", [",", ";", "\t"])
def test_delimiter_is_detected(load_files, delim):
    result, con = load_files({"customers.csv": csv_text(delim)})
    assert result.files[0].delimiter == delim
    assert customers_utc(con) == EXPECTED_CUSTOMERS


def test_utf8_with_bom_and_semicolons(load_files):
    data = b"\xef\xbb\xbf" + csv_text(";").encode("utf-8")
    result, con = load_files({"customers.csv": data})
    assert result.files[0].encoding == "utf-8-sig"
    assert customers_utc(con) == EXPECTED_CUSTOMERS   # the BOM did not stick to customer_id


def test_crlf_line_endings(load_files):
    result, con = load_files({"customers.csv": csv_text(",", newline="\r\n")})
    assert customers_utc(con) == EXPECTED_CUSTOMERS


def test_windows_1252_with_euro_sign_and_curly_quotes(load_files):
    text = ("message_id;chat_id;body\n"
            "m1;k1;Prijs \u20ac 12,50 \u2013 \u201cgraag\u201d, caf\u00e9\n")
    result, con = load_files({"chat_messages.csv": text.encode("cp1252")})
    assert result.files[0].encoding == "cp1252"
    assert con.execute("SELECT body FROM chat_messages").fetchone()[0] == \
        "Prijs \u20ac 12,50 \u2013 \u201cgraag\u201d, caf\u00e9"


def test_mixed_encodings_are_decoded_line_by_line(load_files):
    data = ("message_id;body\nm1;caf\u00e9 utf8\n".encode("utf-8")
            + "m2;caf\u00e9 \u20ac cp1252\n".encode("cp1252"))
    result, con = load_files({"chat_messages.csv": data})
    assert result.files[0].encoding == "utf-8+cp1252"
    assert result.files[0].notes["cp1252_lines"] == 1
    assert con.execute("SELECT body FROM chat_messages ORDER BY message_id").fetchall() == [
        ("caf\u00e9 utf8",), ("caf\u00e9 \u20ac cp1252",)]


def test_encoding_forced_by_mapping(load_files):
    data = "customer_id,first_name\nc1,Zo\u00eb\n".encode("latin-1")
    result, con = load_files({"customers.csv": data},
                             mapping=toolkit.mapping.parse_mapping(
                                 {"tables": {"customers": {"encoding": "latin-1"}}}))
    assert result.files[0].encoding == "latin-1"
    assert con.execute("SELECT first_name FROM customers").fetchone()[0] == "Zo\u00eb"


def test_quoted_multiline_fields(load_files):
    text = ('message_id,chat_id,body\n'
            'm1,k1,"Hallo,\nmijn pas is ""kapot""\nGroet"\n'
            'm2,k1,kort\n')
    result, con = load_files({"chat_messages.csv": text})
    assert con.execute("SELECT body FROM chat_messages ORDER BY message_id").fetchall() == [
        ('Hallo,\nmijn pas is "kapot"\nGroet',), ("kort",)]


def test_column_names_match_case_insensitively_after_trimming(load_files):
    result, con = load_files({"customers.csv": " Customer_ID ,FIRST_NAME\nc1,Jan\n"})
    assert con.execute("SELECT customer_id, first_name FROM customers").fetchall() == [("c1", "Jan")]


# ---------------------------------------------------------------- values

def test_dutch_and_english_booleans(load_files):
    text = "visit_id,is_bot\n" + "".join(
        f"v{i},{w}\n" for i, w in enumerate(["ja", "Nee", "TRUE", "false", "1", "0", "yes", "NO", ""]))
    result, con = load_files({"visits.csv": text})
    assert [r[0] for r in con.execute("SELECT is_bot FROM visits ORDER BY visit_id").fetchall()] == [
        True, False, True, False, True, False, True, False, None]


def test_invalid_boolean_is_rejected_with_reason(load_files):
    result, con = load_files({"visits.csv": "visit_id,is_bot\nv1,misschien\nv2,nee\n"})
    assert con.execute("SELECT row_number, reason, raw FROM rejected_rows").fetchall() == [
        (1, "invalid boolean in column is_bot", '{"visit_id":"v1","is_bot":"misschien"}')]


@pytest.mark.parametrize("text,expected", [
    ("12.50", Decimal("12.50")), ("12,50", Decimal("12.50")), ("1.234,50", Decimal("1234.50")),
    ("1,234.50", Decimal("1234.50")), ("\u20ac 7,00", Decimal("7.00")), ("-3", Decimal("-3.00")),
    ("NaN", None), ("", None),
])
def test_decimal_numbers(load_files, text, expected):
    result, con = load_files({"orders.csv": f'order_id;total_incl_vat\no1;"{text}"\n'})
    assert con.execute("SELECT total_incl_vat FROM orders").fetchone()[0] == expected


def test_decimal_separator_forced_by_mapping(load_files):
    m = toolkit.mapping.parse_mapping({"tables": {"orders": {"decimal": ","}}})
    result, con = load_files({"orders.csv": 'order_id;total_incl_vat\no1;"1.234"\n'}, mapping=m)
    assert con.execute("SELECT total_incl_vat FROM orders").fetchone()[0] == Decimal("1234.00")


def test_integers_accept_pandas_floats(load_files):
    result, con = load_files({"calls.csv": "call_id,duration_s\nk1,300\nk2,12.0\nk3,1.5\n"})
    assert con.execute("SELECT call_id, duration_s FROM calls ORDER BY 1").fetchall() == [
        ("k1", 300), ("k2", 12)]
    assert con.execute("SELECT reason FROM rejected_rows").fetchall() == [
        ("invalid integer in column duration_s (not a whole number)",)]


@pytest.mark.parametrize("cell,expected", [
    ('"[""email"",""street""]"', ["email", "street"]),
    ("email|street| iban", ["email", "street", "iban"]),
    ("email", ["email"]),
    ("[]", []),
    ("", None),
])
def test_list_columns_as_json_array_or_pipes(load_files, cell, expected):
    result, con = load_files({"transfers.csv": f"transfer_id,fields\nt1,{cell}\n"})
    assert con.execute("SELECT fields FROM transfers").fetchone()[0] == expected


def test_native_json_lists(load_files):
    text = json.dumps({"hold_id": "h1", "scope_tables": ["chats", "calls"]}) + "\n"
    result, con = load_files({"legal_holds.jsonl": text})
    assert con.execute("SELECT scope_tables FROM legal_holds").fetchone()[0] == ["chats", "calls"]


def test_broken_json_list_in_csv_is_rejected(load_files):
    result, con = load_files({"transfers.csv": 'transfer_id,fields\nt1,"[""email"","\n'})
    assert con.execute("SELECT reason FROM rejected_rows").fetchall() == [
        ("invalid list in column fields",)]


# ---------------------------------------------------------------- timestamps

def test_timestamps_with_z_offsets_and_naive(load_files):
    text = ("visit_id,started_at\n"
            "v1,2024-03-01T23:30:00Z\n"
            "v2,2024-03-02T00:30:00+01:00\n"
            "v3,2024-03-02 00:30:00\n"          # naive: Amsterdam winter time
            "v4,2024-07-01 12:00\n"             # naive: Amsterdam summer time
            "v5,2024-03-01 14:22:10 +0100\n"    # Shopify style
            "v6,2024-03-01\n")                  # a date alone: midnight, naive
    result, con = load_files({"visits.csv": text})
    con.execute("SET TimeZone = 'UTC'")
    got = dict(con.execute("SELECT visit_id, started_at FROM visits").fetchall())
    utc = timezone.utc
    assert got == {"v1": datetime(2024, 3, 1, 23, 30, tzinfo=utc),
                   "v2": datetime(2024, 3, 1, 23, 30, tzinfo=utc),
                   "v3": datetime(2024, 3, 1, 23, 30, tzinfo=utc),
                   "v4": datetime(2024, 7, 1, 10, 0, tzinfo=utc),
                   "v5": datetime(2024, 3, 1, 13, 22, 10, tzinfo=utc),
                   "v6": datetime(2024, 2, 29, 23, 0, tzinfo=utc)}
    f = result.files[0]
    assert f.naive_timestamps == 3
    assert f.notes["naive_timestamps"] == {"started_at": 3}


def test_per_table_date_formats_from_the_mapping(load_files):
    m = toolkit.mapping.parse_mapping({"tables": {
        "dsr_requests": {"date_format": "%d-%m-%Y %H:%M",
                         "column_formats": {"answered_at": ["%d/%m/%Y", "%Y-%m-%dT%H:%M:%S%z"]}}}})
    text = ("dsr_id,received_at,answered_at\n"
            "d1,31-01-2024 23:30,01/03/2024\n"
            "d2,01-02-2024 08:00,2024-02-10T10:00:00+0100\n"
            "d3,31-02-2024 10:00,\n")
    result, con = load_files({"dsr_requests.csv": text}, mapping=m)
    con.execute("SET TimeZone = 'UTC'")
    utc = timezone.utc
    assert con.execute("SELECT dsr_id, received_at, answered_at FROM dsr_requests ORDER BY 1"
                       ).fetchall() == [
        ("d1", datetime(2024, 1, 31, 22, 30, tzinfo=utc), datetime(2024, 2, 29, 23, 0, tzinfo=utc)),
        ("d2", datetime(2024, 2, 1, 7, 0, tzinfo=utc), datetime(2024, 2, 10, 9, 0, tzinfo=utc))]
    assert con.execute("SELECT row_number, reason FROM rejected_rows").fetchall() == [
        (3, "invalid timestamp in column received_at")]


def test_dates(load_files):
    result, con = load_files({"recipient_agreements.csv":
                              "agreement_id,valid_from,valid_to\na1,2024-01-01,2024-12-31\n"
                              "a2,2024-02-30,\n"})
    assert con.execute("SELECT valid_from, valid_to FROM recipient_agreements").fetchall() == [
        (date(2024, 1, 1), date(2024, 12, 31))]
    assert con.execute("SELECT reason FROM rejected_rows").fetchall() == [
        ("invalid date in column valid_from",)]


def test_future_timestamps_are_loaded_and_counted(load_files):
    soon = (datetime.now(timezone.utc) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result, con = load_files({"visits.csv": f"visit_id,started_at\nv1,{soon}\n"
                                            "v2,2024-01-01T00:00:00Z\nv3,2099-01-01T00:00:00Z\n"})
    assert result.files[0].rows_loaded == 2
    assert result.files[0].future_timestamps == 1
    # beyond the plausible window (the day after the load's as-of date): rejected
    reason = con.execute("SELECT reason FROM rejected_rows").fetchone()[0]
    assert reason.startswith("timestamp outside the plausible window in column started_at (1990-01-01 .. ")


UTC = timezone.utc
INVALID_TS = "invalid timestamp in column started_at"
WINDOW_TS = "timestamp outside the plausible window in column started_at"


@pytest.mark.parametrize("text,expected", [
    # the ISO rules: T or space, seconds and fractions optional, offsets Z/UTC/GMT/+hh/+hhmm/+hh:mm
    ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01 10:00:00z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01T10:00:00+01:00", datetime(2024, 3, 1, 9, tzinfo=UTC)),
    ("2024-03-01T10:00:00-0230", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
    ("2024-03-01T10:00+14", datetime(2024, 2, 29, 20, tzinfo=UTC)),
    ("2024-03-01 10:00:00 UTC", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01T10:00:00,5Z", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
    ("2024-03-01T10:00:00.123456789Z", datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2024-03-01T10:00", datetime(2024, 3, 1, 9, tzinfo=UTC)),         # naive: Amsterdam
    ("2024-03-01", datetime(2024, 2, 29, 23, tzinfo=UTC)),
    ("2024-10-27 02:30", datetime(2024, 10, 27, 1, 30, tzinfo=UTC)),    # overlap: standard time
    # never a lenient cast
    ("07-05-19 11:10", INVALID_TS), ("7-5-2019", INVALID_TS), ("2024-3-1", INVALID_TS),
    ("epoch", INVALID_TS), ("infinity", INVALID_TS), ("-infinity", INVALID_TS),
    ("now", INVALID_TS), ("2024-03-01T10:00:00+25:00", INVALID_TS),
    ("2024-03-01T10:00:00+15:00", INVALID_TS), ("2024-03-01 24:30:00", INVALID_TS),
    ("2024-03-01 24:00:00", INVALID_TS), ("2024-03-01 10:60", INVALID_TS),
    ("2024-02-30T10:00:00Z", INVALID_TS), ("20240301T100000Z", INVALID_TS),
    ("1700000000", INVALID_TS), ("2024-03-01T10:00:00Z garbage", INVALID_TS),
    # plausible window: 1990-01-01 00:00 Amsterdam .. the day after the load's as-of date
    ("0007-05-19 11:10", WINDOW_TS), ("1989-12-31T22:59:59Z", WINDOW_TS),
    ("1989-12-31T23:00:00Z", datetime(1989, 12, 31, 23, tzinfo=UTC)),
    ("9999-12-31T00:00:00Z", WINDOW_TS),
    # clocks moved forward: no such local time
    ("2024-03-31 02:30", "nonexistent local time in column started_at (clocks moved forward)"),
    ("2024-03-31 03:30", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
])
def test_timestamps_follow_the_documented_rules_only(load_files, text, expected):
    result, con = load_files({"visits.csv": f'visit_id,started_at\nv1,"{text}"\n'})
    con.execute("SET TimeZone = 'UTC'")
    if isinstance(expected, datetime):
        assert con.execute("SELECT started_at FROM visits").fetchone()[0] == expected
    else:
        assert con.execute("SELECT count(*) FROM visits").fetchone()[0] == 0
        reason = con.execute("SELECT reason FROM rejected_rows").fetchone()[0]
        assert reason.startswith(expected), reason


def test_dst_overlap_times_are_counted_and_gap_times_rejected(load_files):
    text = ("visit_id,started_at\nv1,2024-10-27 02:30\nv2,2024-10-27 02:59:59\n"
            "v3,2024-10-27 03:00\nv4,2024-03-31 02:00\nv5,2024-10-27T02:30:00+02:00\n")
    result, con = load_files({"visits.csv": text})
    f = result.files[0]
    assert f.notes["ambiguous_local_times"] == {"started_at": 2}
    assert f.naive_timestamps == 3
    assert con.execute("SELECT row_number FROM rejected_rows").fetchall() == [(4,)]


def test_timestamp_window_from_the_mapping_and_as_of(tmp_path):
    export = write_files(tmp_path / "x", {"visits.csv": "visit_id,started_at\nv1,1985-06-01T10:00:00Z\n"
                                                        "v2,2027-06-01T10:00:00Z\n"})
    m = toolkit.mapping.parse_mapping({"timestamp_window": {"earliest": "1980-01-01"},
                                       "tables": {}})
    r = toolkit.load(export, db=tmp_path / "a.duckdb", mapping=m, as_of="2027-12-31")
    assert r.files[0].rows_loaded == 2
    m = toolkit.mapping.parse_mapping({"tables": {"visits": {"timestamp_window": {
        "earliest": "1980-01-01", "latest": "2027-05-31"}}}})
    r = toolkit.load(export, db=tmp_path / "a.duckdb", mapping=m)
    assert (r.files[0].rows_loaded, r.files[0].rows_rejected) == (1, 1)
    with pytest.raises(MappingError, match="latest is before earliest"):
        toolkit.mapping.parse_mapping({"timestamp_window": {"earliest": "2000-01-01",
                                                            "latest": "1999-01-01"}})


def test_expiry_times_are_bounded_from_below_only(load_files):
    text = ("observation_id,expires_at\no1,2099-12-31T00:00:00Z\no2,9999-12-31T23:59:59Z\n"
            "o3,1970-01-01T00:00:00Z\n")
    result, con = load_files({"cookie_observations.csv": text})
    assert result.files[0].rows_loaded == 2
    assert con.execute("SELECT row_number FROM rejected_rows").fetchall() == [(3,)]


@pytest.mark.parametrize("text,expected", [
    ("2024-01-31", date(2024, 1, 31)), ("2024-01-31 00:00:00", date(2024, 1, 31)),
    ("2024-01-31T00:00", date(2024, 1, 31)), ("9999-12-31", date(9999, 12, 31)),
    ("2024-01-31T10:00:00", "invalid date"), ("31-01-2024", "invalid date"),
    ("24-01-31", "invalid date"), ("0024-01-31", "date outside the plausible window"),
    ("1899-12-31", "date outside the plausible window"),
])
def test_dates_follow_the_documented_rules_only(load_files, text, expected):
    result, con = load_files({"recipient_agreements.csv": f"agreement_id,valid_to\na1,{text}\n"})
    if isinstance(expected, date):
        assert con.execute("SELECT valid_to FROM recipient_agreements").fetchone()[0] == expected
    else:
        assert con.execute("SELECT reason FROM rejected_rows").fetchone()[0].startswith(expected)


INVALID_N = "invalid number in column total_incl_vat"


@pytest.mark.parametrize("text,expected", [
    ("12.50", Decimal("12.50")), ("-0", Decimal("0.00")), ("-12,50", Decimal("-12.50")),
    ("+7", Decimal("7.00")), ("1 234,50", Decimal("1234.50")), ("1\u00a0234.50", Decimal("1234.50")),
    ("€ -1.234,56", Decimal("-1234.56")), ("-€ 5", Decimal("-5.00")), ("5,00 EUR", Decimal("5.00")),
    ("1.234.567", Decimal("1234567.00")), ("1,234,567.5", Decimal("1234567.50")),
    ("12.5000", Decimal("12.50")), ("0,5", Decimal("0.50")),
    ("12,5,0", INVALID_N), ("1e5", INVALID_N), ("1E+05", INVALID_N), ("0x1F", INVALID_N),
    ("12.345", INVALID_N + " (ambiguous thousands separator)"),
    ("1.234", INVALID_N + " (ambiguous thousands separator)"),
    ("12,500", INVALID_N + " (ambiguous thousands separator)"),
    ("0.125", INVALID_N + " (more decimals than the column holds)"),
    ("12.3456", INVALID_N + " (more decimals than the column holds)"),
    ("1.23.4", INVALID_N), ("5-", INVALID_N), ("(5)", INVALID_N), (".5", INVALID_N),
    ("12 34", INVALID_N), ("99999999999999999", INVALID_N),
])
def test_numbers_are_read_exactly_or_rejected(load_files, text, expected):
    result, con = load_files({"orders.csv": f'order_id;total_incl_vat\no1;"{text}"\n'})
    if isinstance(expected, Decimal):
        assert con.execute("SELECT total_incl_vat FROM orders").fetchone()[0] == expected
    else:
        assert con.execute("SELECT reason FROM rejected_rows").fetchone()[0] == expected


@pytest.mark.parametrize("decimal,text,expected", [
    (",", "1.234", Decimal("1234.00")), (",", "12,345", None), (",", "1.234,5", Decimal("1234.50")),
    (".", "12,345", Decimal("12345.00")), (".", "1.234", None), (".", "12.5", Decimal("12.50")),
    (".", "12,5", None),
])
def test_a_declared_decimal_separator_settles_grouping(load_files, decimal, text, expected):
    m = toolkit.mapping.parse_mapping({"tables": {"orders": {"decimal": decimal}}})
    result, con = load_files({"orders.csv": f'order_id;total_incl_vat\no1;"{text}"\n'}, mapping=m)
    got = con.execute("SELECT total_incl_vat FROM orders").fetchall()
    assert got == ([(expected,)] if expected is not None else [])


def test_json_records_with_repeated_keys_or_nested_values(load_files):
    text = ('{"customer_id": "c1", "email": "a@example.nl", "EMAIL": "b@example.nl"}\n'
            '{"customer_id": "c2", "email": "a@example.nl", "email": "b@example.nl"}\n'
            '{"customer_id": "c3", "email": {"address": "c@example.nl"}}\n'
            '{"customer_id": "c4", "notes": "{smile} [sic]", "loyalty": {"tier": "gold"}}\n'
            '{"customer_id": "c5", "email": "e@example.nl", "status": ["active"]}\n')
    result, con = load_files({"customers.jsonl": text})
    assert con.execute("SELECT customer_id, notes, loyalty FROM customers").fetchall() == [
        ("c4", "{smile} [sic]", '{"tier":"gold"}')]
    assert con.execute("SELECT row_number, reason FROM rejected_rows ORDER BY 1").fetchall() == [
        (1, "duplicate key in the JSON object (one of its values would be lost)"),
        (2, "duplicate key in the JSON object (one of its values would be lost)"),
        (3, "invalid value in column email (an object or array, not one value)"),
        (5, "invalid value in column status (an object or array, not one value)")]


def test_list_elements_must_be_names(load_files):
    text = ('{"transfer_id": "t1", "fields": ["email", 1]}\n'
            '{"transfer_id": "t2", "fields": ["email", {"a": 1}]}\n'
            '{"transfer_id": "t3", "fields": ["email", "street"]}\n')
    result, con = load_files({"transfers.jsonl": text})
    assert con.execute("SELECT transfer_id, fields FROM transfers").fetchall() == [
        ("t3", ["email", "street"])]
    assert [r[0] for r in con.execute("SELECT reason FROM rejected_rows").fetchall()] == [
        "invalid list in column fields"] * 2


# ---------------------------------------------------------------- keys, columns, rejects

def test_duplicate_primary_keys_keep_the_first(load_files):
    text = "customer_id,first_name\nc1,Jan\nc2,Piet\nc1,Jan bis\nc1,Jan ter\n"
    result, con = load_files({"customers.csv": text})
    assert con.execute("SELECT customer_id, first_name FROM customers ORDER BY 1").fetchall() == [
        ("c1", "Jan"), ("c2", "Piet")]
    assert con.execute("SELECT row_number, reason FROM rejected_rows ORDER BY 1").fetchall() == [
        (3, "duplicate primary key customer_id (first at row 1)"),
        (4, "duplicate primary key customer_id (first at row 1)")]


def test_missing_primary_key_column_rejects_every_row(load_files):
    result, con = load_files({"customers.csv": "first_name,email\nJan,j@example.nl\n"})
    assert result.files[0].rows_loaded == 0
    assert con.execute("SELECT reason FROM rejected_rows").fetchall() == [
        ("missing required column customer_id (not in the file)",)]


def test_empty_primary_key_value_is_rejected(load_files):
    result, con = load_files({"customers.csv": "customer_id,first_name\n,Jan\nc2,Piet\n"})
    assert con.execute("SELECT row_number, reason FROM rejected_rows").fetchall() == [
        (1, "missing primary key customer_id")]


def test_wrong_column_counts_are_rejected_with_row_numbers(load_files):
    text = ('customer_id,notes,email\n'
            'c1,"Jan\nmulti",a@example.nl\n'      # row 1 spans two lines (free text may)
            'c2,Piet\n'                             # row 2: too few
            'c3,Klaas,k@example.nl,extra\n'         # row 3: too many
            'c4,Els,e@example.nl\n')
    result, con = load_files({"customers.csv": text})
    assert [r[0] for r in con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall()] == ["c1", "c4"]
    rej = con.execute("SELECT row_number, reason, raw FROM rejected_rows ORDER BY 1").fetchall()
    assert [(r[0], r[2]) for r in rej] == [(2, "c2,Piet"), (3, "c3,Klaas,k@example.nl,extra")]
    assert "missing columns" in rej[0][1] and "too many columns" in rej[1][1]


def test_row_numbers_of_typed_rejects_count_around_unreadable_records(load_files):
    text = ("customer_id,created_at\n"
            "c1,2024-01-01\n"
            "c2\n"                     # row 2 unreadable
            "c3,2024-13-01\n"          # row 3 invalid timestamp
            "c4\n"                     # row 4 unreadable
            "c5,2024-01-05\n"
            "c6,not a date\n")         # row 6 invalid
    result, con = load_files({"customers.csv": text})
    assert [r[0] for r in con.execute("SELECT row_number FROM rejected_rows ORDER BY 1").fetchall()] == [
        2, 3, 4, 6]


def test_extra_columns_are_kept_as_text(load_files):
    result, con = load_files({"customers.csv": "customer_id,Loyalty Tier,2nd-phone\nc1,gold,06\n"})
    assert con.execute("SELECT loyalty_tier, c_2nd_phone FROM customers").fetchall() == [("gold", "06")]
    assert result.files[0].notes["extra_columns"] == ["loyalty_tier", "c_2nd_phone"]


def test_absent_optional_columns_are_absent_not_null(load_files):
    result, con = load_files({"customers.csv": "customer_id\nc1\n"})
    cols = [r[0] for r in con.execute("DESCRIBE customers").fetchall()]
    assert cols == ["customer_id"]
    assert "email" in result.files[0].notes["missing_columns"]


def test_unknown_code_values_are_counted_not_rejected(load_files):
    result, con = load_files({"customers.csv": "customer_id,status\nc1,active\nc2,actief\n"})
    assert result.files[0].rows_loaded == 2
    assert result.files[0].notes["unknown_values"] == {"status": 1}


def test_json_lines_with_bad_lines(load_files):
    text = ('{"message_id": "m1", "body": "hoi\\nallemaal"}\n'
            "\n"
            '{"message_id": "m2", broken\n'
            '["not", "an object"]\n'
            '{"MESSAGE_ID": "m3", "Body": "hoofdletters"}\n')
    result, con = load_files({"chat_messages.jsonl": text})
    assert con.execute("SELECT message_id, body FROM chat_messages ORDER BY 1").fetchall() == [
        ("m1", "hoi\nallemaal"), ("m3", "hoofdletters")]
    assert con.execute("SELECT row_number, reason FROM rejected_rows ORDER BY 1").fetchall() == [
        (3, "invalid JSON"), (4, "not a JSON object")]


def test_unknown_files_are_listed_and_skipped(load_files):
    result, con = load_files({"customers.csv": "customer_id\nc1\n", "notes.txt": "hello",
                              "wishlist.csv": "a\n1\n"})
    assert result.skipped == ["notes.txt", "wishlist.csv"]


def test_two_files_for_one_table_is_unusable(tmp_path):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n",
                                          "customers.jsonl": '{"customer_id": "c2"}\n'})
    with pytest.raises(UnusableInputError, match="two files for table customers"):
        toolkit.load(export, db=tmp_path / "a.duckdb")


# ---------------------------------------------------------------- the database

def _dump(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name <> 'load_log' "
            "ORDER BY 1").fetchall()]
        return {t: (con.execute(f'DESCRIBE "{t}"').fetchall(),
                    con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()) for t in tables}
    finally:
        con.close()


MIXED = {
    "customers.csv": "\ufeffcustomer_id;first_name;created_at\nc1;Jan;2024-01-01T10:00:00Z\nc1;X;\n",
    "visits.csv.gz": "visit_id,customer_id,started_at,is_bot\nv1,c1,2024-02-01 10:00,nee\n",
    "chat_messages.jsonl": '{"message_id": "m1", "body": "a\\nb"}\nnot json\n',
}


def test_loading_twice_gives_the_same_database(tmp_path):
    export = write_files(tmp_path / "x", MIXED)
    db = tmp_path / "a.duckdb"
    first = toolkit.load(export, db=db)
    before = _dump(db)
    second = toolkit.load(export, db=db)
    assert _dump(db) == before
    assert [f.sha256 for f in first.files] == [f.sha256 for f in second.files]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(DISTINCT load_id) FROM load_log").fetchone()[0] == 2
    con.close()


def test_a_new_export_replaces_only_its_tables(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(write_files(tmp_path / "x", MIXED), db=db)
    r = toolkit.load(write_files(tmp_path / "y", {"customers.csv": "customer_id\nc9\n"}), db=db)
    assert_reconciles(r, db)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT customer_id FROM customers").fetchall() == [("c9",)]
    assert con.execute("SELECT count(*) FROM visits").fetchone()[0] == 1
    # the old customers rejects are gone with the old customers table; others stay
    assert con.execute("SELECT table_name, count(*) FROM rejected_rows GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [("chat_messages", 1)]
    assert con.execute("SELECT count(*) FROM load_log WHERE table_name = 'customers'"
                       ).fetchone()[0] == 2
    con.close()


SKIPPING = {"tables": {"customers": {"file": "klanten.csv", "only_rows": {"status": ["active"]},
                                    "columns": {"customer_id": "id", "status": "status"}}}}


def test_rows_skipped_is_logged_printed_and_added_to_older_databases(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app
    from toolkit.mapping import parse_mapping
    export = write_files(tmp_path / "x", {"klanten.csv": "id,status\nc1,active\nc2,closed\n"
                                                         "c3,active\nc4,closed\nc4,x\n"})
    db = tmp_path / "a.duckdb"
    toolkit.load(write_files(tmp_path / "y", {"visits.csv": "visit_id\nv1\n"}), db=db)
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE load_log DROP COLUMN rows_skipped")     # a database made before it
    con.close()
    r = toolkit.load(export, db=db, mapping=parse_mapping(SKIPPING))
    assert_reconciles(r, db)
    f = r.files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_rejected, f.rows_skipped) == (5, 2, 0, 3)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT table_name, rows_read, rows_loaded, rows_rejected, rows_skipped "
                       "FROM load_log WHERE table_name IS NOT NULL ORDER BY loaded_at, 1"
                       ).fetchall() == [("visits", 1, 1, 0, None), ("customers", 5, 2, 0, 3)]
    con.close()
    mapping = tmp_path / "m.yaml"
    mapping.write_text(json.dumps(SKIPPING))                      # JSON is YAML
    res = CliRunner().invoke(app, ["load", str(export), "--db", str(db), "--mapping", str(mapping)],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    header = next(ln for ln in res.output.splitlines() if "rejected" in ln and "table" in ln)
    assert header.split()[1::2][:9] == ["table", "file", "format", "encoding", "read", "loaded",
                                        "rejected", "skipped", "notes"]
    row = next(ln for ln in res.output.splitlines() if "klanten.csv" in ln)
    assert [c.strip() for c in row.split("│")[5:9]] == ["5", "2", "0", "3"]
    assert "skipped: status is not 'active'" in row
    assert "3 skipped by the mapping" in res.output


def test_a_failure_after_the_first_table_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "a.duckdb"
    toolkit.load(write_files(tmp_path / "x", MIXED), db=db)
    before = _dump(db)
    con = duckdb.connect(str(db), read_only=True)
    log_before = con.execute("SELECT count(*) FROM load_log").fetchone()[0]
    con.close()
    real = ingest._load_one
    calls = []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real(*args, **kw)

    monkeypatch.setattr(ingest, "_load_one", failing)
    new = write_files(tmp_path / "y", {"customers.csv": "customer_id\nc7\n",
                                       "visits.csv": "visit_id\nv7\n"})
    with pytest.raises(RuntimeError, match="injected"):
        toolkit.load(new, db=db)
    assert len(calls) == 2
    assert _dump(db) == before
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM load_log").fetchone()[0] == log_before
    con.close()


def test_an_unusable_file_leaves_a_new_database_empty_of_tables(tmp_path):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n",
                                          "visits.csv.gz": b"not gzip at all"})
    with pytest.raises(UnusableInputError, match="visits.csv.gz"):
        toolkit.load(export, db=tmp_path / "a.duckdb")


def test_database_is_readable_by_its_owner_only(tmp_path):
    db = tmp_path / "sub" / "a.duckdb"
    toolkit.load(write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"}), db=db)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(UnusableInputError, match="export folder not found"):
        toolkit.load(tmp_path / "nope", db=tmp_path / "a.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInputError, match="no table files"):
        toolkit.load(tmp_path / "empty", db=tmp_path / "a.duckdb")


def test_result_as_frame(load_files):
    result, con = load_files(MIXED)
    df = result.to_frame()
    assert list(df["table"]) == ["customers", "visits", "chat_messages"]
    assert (df["rows_read"] == df["rows_loaded"] + df["rows_rejected"]).all()


# ---------------------------------------------------------------- records that vanished

def test_a_record_over_the_size_limit_is_rejected_with_its_length_and_sha256(load_files):
    import hashlib
    big = "x" * (9 << 20)                      # over the 8 MiB limit, unquoted
    text = f"message_id,body\nm1,kort\nm2,{big}\nm3,ook kort\n"
    result, con = load_files({"chat_messages.csv": text})
    assert con.execute("SELECT message_id FROM chat_messages ORDER BY 1").fetchall() == [
        ("m1",), ("m3",)]
    row, reason, raw, size, digest = con.execute(
        "SELECT row_number, reason, raw, raw_bytes, raw_sha256 FROM rejected_rows").fetchone()
    line = f"m2,{big}".encode()
    assert (row, size, digest) == (2, len(line), hashlib.sha256(line).hexdigest())
    assert reason == f"record of {len(line)} bytes is over the 8 MiB limit"
    assert len(raw) == 64 << 10 and raw.startswith("m2,xxx")


def test_a_json_line_over_the_size_limit_is_rejected_and_the_rest_loads(load_files):
    big = json.dumps({"message_id": "m2", "body": "y" * (9 << 20)})
    text = '{"message_id": "m1"}\n' + big + '\n{"message_id": "m3"}\n'
    result, con = load_files({"chat_messages.jsonl": text})
    assert con.execute("SELECT message_id FROM chat_messages ORDER BY 1").fetchall() == [
        ("m1",), ("m3",)]
    assert con.execute("SELECT row_number, raw_bytes FROM rejected_rows").fetchall() == [
        (2, len(big))]


def test_json_lines_the_reader_counts_differently_are_refused(tmp_path, monkeypatch):
    # the byte pass's count of lines is the independent one: a reader that finds another number
    # (here: a byte pass made to count one line more) refuses the file rather than lose a line
    from toolkit import framing
    export = write_files(tmp_path / "x", {"chat_messages.jsonl": '{"message_id": "m1"}\n'
                                                                 '{"message_id": "m2"}\n'})
    real = framing.LineFramer.finish

    def one_more(self):
        f = real(self)
        f.records += 1
        return f

    monkeypatch.setattr(framing.LineFramer, "finish", one_more)
    with pytest.raises(UnusableInputError, match="found 2 where the file has 3"):
        toolkit.load(export, db=tmp_path / "a.duckdb")
    assert not (tmp_path / "a.duckdb").exists()


def test_a_nul_byte_rejects_its_record_only(load_files):
    rows = "".join(f"c{i},Naam {i}\n" for i in range(3000))        # the NUL is past the head
    result, con = load_files({"customers.csv": "customer_id,first_name\n" + rows
                                               + "c9999,Ni\x00et\n"})
    assert result.files[0].rows_loaded == 3000
    assert con.execute("SELECT row_number, reason FROM rejected_rows").fetchall() == [
        (3001, "NUL byte in the record")]


def test_a_file_that_changes_while_it_is_loaded_is_refused(tmp_path, monkeypatch):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\nc2\n"})
    real = ingest.stage

    def stage_then_append(con, src, *a, **kw):
        staged = real(con, src, *a, **kw)
        with open(src.path, "a") as f:             # an export job still writing the file
            f.write("c3\n")
        return staged

    monkeypatch.setattr(ingest, "stage", stage_then_append)
    with pytest.raises(UnusableInputError, match="changed while it was being loaded"):
        toolkit.load(export, db=tmp_path / "a.duckdb")
    assert not (tmp_path / "a.duckdb").exists()


def test_a_gzip_file_inflating_beyond_the_cap_is_refused(tmp_path, monkeypatch):
    import gzip
    export = tmp_path / "x"
    export.mkdir()
    data = b"visit_id\n" + b"v1\n" * (2 << 20)                     # 6 MB of the same line
    (export / "visits.csv.gz").write_bytes(gzip.compress(data))
    monkeypatch.setenv("PRIVAUDIT_INFLATE_LIMIT", "1MB")
    with pytest.raises(UnusableInputError, match="inflates to more than 1.0 MB"):
        toolkit.load(export, db=tmp_path / "a.duckdb")
    monkeypatch.setenv("PRIVAUDIT_INFLATE_LIMIT", "100MB")
    r = toolkit.load(export, db=tmp_path / "a.duckdb")
    assert r.files[0].rows_read == 2 << 20


def test_the_inflation_cap():
    from toolkit.readers import inflate_cap
    assert inflate_cap(2_400_000) == 256 << 20                     # the floor: 256 MiB
    assert inflate_cap(10_000_000) == 1_000_000_000                # 100x
    assert inflate_cap(1_000_000_000) == 20_000_000_000            # at most 20 GB


def test_a_quote_that_joins_lines_into_a_name_is_rejected(load_files):
    text = ('customer_id,first_name,notes\nc1,"Jan,ok\nc2,Piet",meer\nc3,Klaas,"regel\nregel"\n')
    result, con = load_files({"customers.csv": text})
    assert con.execute("SELECT customer_id, notes FROM customers").fetchall() == [
        ("c3", "regel\nregel")]                                   # free text may span lines
    assert con.execute("SELECT reason FROM rejected_rows").fetchall() == [
        ("line break inside column first_name (a stray quote may have joined lines)",)]


# ---------------------------------------------------------------- resources and faults

def test_db_that_is_not_a_duckdb_file_is_refused_untouched(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"})
    victim = tmp_path / "customers_export.csv"
    victim.write_text("customer_id\nc1\n")
    victim.chmod(0o644)
    for db, words in ((victim, "not a DuckDB database"), (tmp_path, "a folder"),
                      (":memory:", "must be a file")):
        with pytest.raises(UnusableInputError, match=words):
            toolkit.load(export, db=db)
        res = CliRunner().invoke(app, ["load", str(export), "--db", str(db)])
        assert res.exit_code == 2 and "internal error" not in res.output
        assert res.output.startswith("error:") and words in res.output
    assert victim.read_text() == "customer_id\nc1\n"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644


def test_a_database_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    # a read-only folder (simulated: the tests may run as root, whom modes do not stop)
    import errno

    from typer.testing import CliRunner

    from toolkit.cli import app
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"})
    out = tmp_path / "ro"
    out.mkdir()

    def refused(*a, dir=None, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(ingest.tempfile, "TemporaryDirectory", refused)
    res = CliRunner().invoke(app, ["load", str(export), "--db", str(out / "a.duckdb")])
    assert res.exit_code == 2 and "internal error" not in res.output
    assert res.output.strip() == f"error: {out}: Permission denied"
    assert list(out.iterdir()) == []


def test_a_first_load_that_fails_leaves_nothing_behind(tmp_path, monkeypatch):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n",
                                          "visits.csv": "visit_id\nv1\n"})
    real = ingest._load_one
    calls = []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt()
        return real(*args, **kw)

    monkeypatch.setattr(ingest, "_load_one", failing)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        toolkit.load(export, db=out / "a.duckdb")
    assert sorted(p.name for p in out.iterdir()) == []        # no database, no temporary files


def test_leftovers_of_a_killed_load_are_removed(tmp_path):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"})
    out = tmp_path / "out"
    out.mkdir()
    dead = 2 ** 22 + 12345                                      # no such process
    (out / f".a.duckdb.loading-{dead}-abcd1234").write_bytes(b"half a database")
    (out / f".privaudit-load-{dead}-xyz").mkdir()
    mine = out / f".a.duckdb.loading-{os.getpid()}-ffff0000"   # a live load's: kept
    mine.write_bytes(b"")
    toolkit.load(export, db=out / "a.duckdb")
    assert sorted(p.name for p in out.iterdir()) == [mine.name, "a.duckdb"]


def test_ctrl_c_in_the_cli_rolls_back_with_exit_130(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from toolkit.cli import app
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"})

    def interrupted(*a, **kw):
        raise RuntimeError("Query interrupted")     # what DuckDB makes of Ctrl-C

    monkeypatch.setattr(ingest, "_link_tables", interrupted)
    res = CliRunner().invoke(app, ["load", str(export), "--db", str(tmp_path / "a.duckdb")])
    assert res.exit_code == 130
    assert res.output.strip() == "interrupted; the database is unchanged"
    assert list(tmp_path.glob("*.duckdb*")) == [] and list(tmp_path.glob(".*")) == []


@pytest.mark.parametrize("sig,code,word", [("SIGTERM", 143, "terminated"),
                                          ("SIGINT", 130, "interrupted")])
def test_a_signal_during_the_load_leaves_the_database_unchanged(tmp_path, sig, code, word):
    import signal
    import subprocess
    import sys
    import time
    export = tmp_path / "x"
    export.mkdir()
    with open(export / "visits.csv", "w") as f:                # big enough to be caught loading
        f.write("visit_id,started_at,ip_address\n")
        f.writelines(f"v{i},2024-01-01T10:00:00Z,10.0.{i % 250}.1\n" for i in range(1_500_000))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", "load", str(export), "--db",
                             str(out / "a.duckdb")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob(".a.duckdb.loading-*")):
        time.sleep(0.05)                                       # wait for the DuckDB phase
    proc.send_signal(getattr(signal, sig))
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output
    assert output.strip().splitlines()[-1] == f"{word}; the database is unchanged"
    assert list(out.iterdir()) == []


def test_a_very_wide_file_loads_within_the_memory_limit(load_files):
    cols = [f"attr_{i}" for i in range(300)]
    text = "customer_id," + ",".join(cols) + "\n" + "".join(
        f"c{r}," + ",".join(str(r * 1000 + i) for i in range(300)) + "\n" for r in range(50))
    result, con = load_files({"customers.csv": text})
    assert result.files[0].rows_loaded == 50
    assert con.execute("SELECT customer_id, attr_0, attr_299 FROM customers WHERE customer_id = "
                       "'c7'").fetchone() == ("c7", "7000", "7299")


def test_long_json_numbers_keep_their_text_only_where_a_double_rounds_them(load_files):
    """The exact-number pass re-reads only records with a number-like value (staged as digits,
    sign, point, exponent): every long number still keeps its written text where a double would
    round it, in any key, next to values that are not numbers, and a string of digits is never
    touched (it is text already)."""
    lines = [
        '{"customer_id": "c1", "created_at": "2024-01-01T10:00:00Z", "score": 0.10000000000000001}',
        '{"customer_id": "c2", "created_at": "2024-01-01T10:00:00Z", "score": 1.0000000000000000e400}',
        '{"customer_id": "c3", "created_at": "2024-01-01T10:00:00Z", "score": -12345678901234567.5, '
        '"tags": ["a", 1.00000000000000001]}',
        '{"customer_id": "c4", "created_at": "2024-01-01T10:00:00Z", "score": 1.00000000000000000E+20}',
        '{"customer_id": "c5", "created_at": "2024-01-01T10:00:00Z", "score": "0.10000000000000001"}',
        '{"customer_id": "c6", "created_at": "2024-01-01T10:00:00Z", "score": 12.5}',
    ]
    _, con = load_files({"customers.jsonl": "\n".join(lines) + "\n"})
    got = dict(con.execute("SELECT customer_id, score FROM customers").fetchall())
    assert got == {"c1": "0.10000000000000001", "c2": "1.0000000000000000e400",
                   "c3": "-12345678901234567.5", "c4": "1e+20", "c5": "0.10000000000000001",
                   "c6": "12.5"}
