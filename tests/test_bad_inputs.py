"""The bad-input corpus (tests/data/bad/, built by build_corpus.py): the exact outcome of each case.

A case either loads, with exact loaded/rejected counts and reasons (rows_read always reconciles),
or is refused as unusable: exit code 2, one line naming the file and the problem, and the
database left as it was (here: not created at all).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.exceptions import UnusableInputError

from .conftest import assert_reconciles

BAD = Path(__file__).parent / "data" / "bad"

# case -> (table, loaded, [(row_number, reason prefix), ...])
LOADS = {
    "ragged_rows": ("customers", 2, [(2, "unreadable record: missing columns"),
                                     (3, "unreadable record: too many columns")]),
    "bom_semicolon": ("customers", 2, []),
    "mixed_encodings": ("chat_messages", 3, []),
    "windows_1252": ("customers", 2, []),
    "header_only": ("customers", 0, []),
    "one_mb_field": ("chat_messages", 2, []),
    "duplicate_keys": ("customers", 2, [(3, "duplicate primary key customer_id (first at row 1)"),
                                        (4, "duplicate primary key customer_id (first at row 2)")]),
    "impossible_dates": ("orders", 1, [(1, "invalid timestamp in column placed_at"),
                                       (2, "invalid timestamp in column placed_at"),
                                       (4, "invalid timestamp in column placed_at")]),
    "future_dates": ("visits", 1, [(1, "timestamp outside the plausible window in column started_at")]),
    "nan_strings": ("orders", 2, []),
    "unterminated_quote": ("customers", 1, [
        (2, "unreadable record: a quote in it is never closed"),
        (3, "unreadable record: inside the unclosed quote of the record on line 3")]),
    "missing_key_column": ("customers", 0, [
        (1, "missing required column customer_id (not in the file)"),
        (2, "missing required column customer_id (not in the file)")]),
    "bad_booleans": ("visits", 1, [(2, "invalid boolean in column is_bot"),
                                   (3, "invalid boolean in column is_bot")]),
    "bad_numbers": ("orders", 1, [(2, "invalid number in column total_incl_vat"),
                                  (3, "unreadable record: too many columns")]),
    "bad_json_lines": ("chat_messages", 2, [(2, "invalid JSON"), (3, "not a JSON object")]),
    "empty_key_values": ("customers", 1, [(1, "missing primary key customer_id"),
                                          (2, "missing primary key customer_id")]),
    "bad_list": ("transfers", 1, [(1, "invalid list in column fields"),
                                  (3, "invalid list in column fields")]),
    "blank_lines_and_whitespace": ("customers", 2, []),
    "json_not_array_of_objects": ("recipients", 2, [(2, "not a JSON object"),
                                                    (3, "not a JSON object")]),
    # issue 12, crashes
    "header_only_with_timestamps": ("legal_holds", 0, []),
    "only_row_invalid_timestamp": ("orders", 0, [(1, "invalid timestamp in column placed_at")]),
    "empty_parquet": ("visits", 0, []),
    "parquet_wrong_types": ("visits", 1, [
        (1, "invalid timestamp in column started_at"),
        (2, "invalid value in column ip_address (an object or array, not one value)"),
        (3, "invalid text in column user_agent (binary data, not UTF-8)")]),
    "json_empty_key": ("customers", 2, []),
    "jsonl_no_valid_record": ("customers", 0, [(1, "invalid JSON"), (2, "invalid JSON")]),
    # issue 12, values that were silently wrong
    "two_digit_years": ("orders", 1, [(1, "invalid timestamp in column placed_at"),
                                      (3, "invalid timestamp in column placed_at")]),
    "special_timestamps": ("visits", 1, [
        (1, "invalid timestamp in column started_at"), (2, "invalid timestamp in column started_at"),
        (3, "invalid timestamp in column started_at"), (4, "invalid timestamp in column started_at"),
        (5, "timestamp outside the plausible window in column started_at (1990-01-01 .. "),
        (6, "timestamp outside the plausible window in column started_at (1990-01-01 .. "),
        (8, "invalid timestamp in column started_at")]),
    "dst_local_times": ("visits", 2, [
        (1, "nonexistent local time in column started_at (clocks moved forward)")]),
    "number_forms": ("orders", 5, [
        (1, "invalid number in column total_incl_vat"),
        (2, "invalid number in column total_incl_vat (ambiguous thousands separator)"),
        (4, "invalid number in column total_incl_vat"),
        (8, "invalid number in column total_incl_vat (more decimals than the column holds)")]),
    "json_case_duplicate_keys": ("customers", 1, [
        (1, "duplicate key in the JSON object (one of its values would be lost)"),
        (2, "duplicate key in the JSON object (one of its values would be lost)"),
        (3, "invalid value in column email (an object or array, not one value)")]),
    "json_long_numbers": ("orders", 4, [
        (2, "invalid number in column total_incl_vat (more decimals than the column holds)")]),
    # issue 12, records that vanished: every line is a record loaded or rejected on its own
    "unterminated_quote_1000": ("customers", 244, [
        (245, "unreadable record: a quote in it is never closed")] + [
        (r, "unreadable record: inside the unclosed quote of the record on line 246")
        for r in range(246, 1001)]),
    "tsv_stray_quote": ("order_items", 2, [
        (3, "unreadable record: a quote in it is never closed")] + [
        (r, "unreadable record: inside the unclosed quote of the record on line 4")
        for r in (4, 5, 6)]),
    "stray_quotes_join_lines": ("customers", 2, [
        (2, "line break inside column first_name (a stray quote may have joined lines)")]),
    "text_after_closing_quote": ("customers", 2, [
        (1, "unreadable record: text after a closing quote"),
        (4, "unreadable record: text after a closing quote")]),
    "quotes_inside_unquoted": ("customers", 3, []),
    "mixed_line_endings": ("customers", 4, []),
    "cr_only_line_endings": ("customers", 2, []),
    "bare_cr_in_value": ("customers", 2, [
        (1, "unreadable record: a carriage return inside an unquoted value")]),
    "excel_crlf_multiline": ("chat_messages", 2, []),
    "trailing_delimiters": ("customers", 3, []),
    "one_column_blank_lines": ("customers", 2, [(2, "missing primary key customer_id"),
                                                (4, "missing primary key customer_id")]),
    "leading_blank_lines": ("customers", 1, []),
    "whitespace_only_line": ("customers", 2, [(2, "unreadable record: missing columns")]),
    "files_joined_together": ("customers", 4, [
        (3, "byte-order mark inside the record (files joined together?)"),
        (5, "repeated header row (files joined together?)")]),
    "jsonl_mixed_line_endings": ("chat_messages", 4, []),
    "parquet_numbers": ("orders", 4, [
        (1, "invalid number in column total_incl_vat (more decimals than the column holds)")]),
}

# case -> rows_read must equal the file's lines minus the header (an independent count)
LINE_COUNTED = ("unterminated_quote_1000", "tsv_stray_quote", "unterminated_quote",
                "mixed_line_endings", "files_joined_together",
                "whitespace_only_line", "number_forms", "special_timestamps")

# case -> notes the load_log entry of its file must have (a subset)
NOTES = {
    "json_empty_key": {"unnamed_fields": 1},
    "unterminated_quote_1000": {"unclosed_quote": {"line": 246, "lines_rejected": 756}},
    "mixed_line_endings": {"line_ends": "CRLF and LF mixed (read as LF)"},
    "cr_only_line_endings": {"line_ends": "CR alone (read as LF)"},
    "jsonl_mixed_line_endings": {"line_ends": "CRLF and LF mixed (read as LF)"},
    "dst_local_times": {"ambiguous_local_times": {"started_at": 1},
                        "naive_timestamps": {"started_at": 2}},
}

# case -> (SQL over the loaded database, its exact result)
VALUES = {
    "quotes_inside_unquoted": ("SELECT customer_id, notes FROM customers ORDER BY 1", [
        ("c1", 'Tafel 5" breed'), ("c2", 'zegt "hoi"'), ("c3", '  "spaties" ervoor')]),
    "text_after_closing_quote": ("SELECT customer_id, first_name FROM customers ORDER BY 1", [
        ("c2", "Piet"), ("c3", "Kla  as")]),
    "excel_crlf_multiline": ("SELECT message_id, body FROM chat_messages ORDER BY 1", [
        ("m1", "regel een\nregel twee"), ("m2", "kort")]),
    "bare_cr_in_value": ("SELECT customer_id, first_name FROM customers ORDER BY 1", [
        ("c2", "Piet"), ("c3", "Kla\ras")]),
    "trailing_delimiters": ("SELECT customer_id, first_name, \"column\" FROM customers ORDER BY 1", [
        ("c1", "Jan", None), ("c2", "Piet", None), ("c3", "Klaas", "x")]),
    "number_forms": ("SELECT order_id, total_incl_vat FROM orders ORDER BY 1", [
        ("o3", Decimal("1234.50")), ("o5", Decimal("0.00")), ("o6", Decimal("-12.50")),
        ("o7", Decimal("1234.56")), ("o9", Decimal("1234567.00"))]),
    "dst_local_times": ("SELECT visit_id, strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') "
                        "FROM visits ORDER BY 1", [("v2", "2024-10-27 01:30"),
                                                   ("v3", "2024-03-31 01:30")]),
    "two_digit_years": ("SELECT order_id, strftime(placed_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') "
                        "FROM orders", [("o2", "2019-05-07 09:10")]),
    "json_long_numbers": ("SELECT order_id, total_incl_vat, big, f FROM orders ORDER BY 1", [
        ("o1", Decimal("99999999999999.99"), None, None), ("o3", Decimal("100.00"), None, None),
        ("o4", Decimal("1234567890123456.78"), None, None),
        ("o5", Decimal("12.50"), "123456789012345678901234", "1.0000000000000000001")]),
    "parquet_numbers": ("SELECT order_id, total_incl_vat FROM orders ORDER BY 1", [
        ("o2", Decimal("1.50")), ("o3", Decimal("-1234.50")), ("o4", Decimal("1000.00")),
        ("o5", Decimal("12.34"))]),
    "json_case_duplicate_keys": ("SELECT customer_id, email, notes FROM customers", [
        ("c4", "d@example.nl", "{not an object}")]),
}

# case -> words the one-line error must contain (besides the file name)
REFUSED = {
    "truncated_gzip": ("visits.csv.gz", "truncated gzip"),
    "not_gzip": ("visits.csv.gz", "not gzip"),
    "empty_file": ("customers.csv", "empty file"),
    "binary_garbage": ("customers.csv", "binary data"),
    "no_header": ("customers.csv", "no header row"),
    "truncated_json_array": ("recipients.json", "not a valid JSON array"),
    "corrupt_parquet": ("cookie_observations.parquet", "unreadable Parquet file"),
    "not_parquet": ("cookie_observations.parquet", "not a Parquet file"),
    "utf16": ("customers.csv", "UTF-16"),
    "duplicate_header": ("customers.csv", "more than once"),
    "two_files_one_table": ("two files for table customers", "customers.jsonl"),
    "parquet_case_duplicate_columns": ("customers.parquet", "header names column email more "
                                                            "than once"),
    "json_pretty_printed_document": ("customers.json", "one JSON document spread over several "
                                                       "lines, not records"),
}


def test_the_corpus_has_at_least_twenty_cases_and_each_is_asserted():
    cases = sorted(p.name for p in BAD.iterdir() if p.is_dir())
    assert len(cases) >= 20
    assert sorted(LOADS) + sorted(REFUSED) and set(cases) == set(LOADS) | set(REFUSED)


@pytest.mark.parametrize("case", sorted(LOADS))
def test_case_loads_with_exact_outcome(case, tmp_path):
    table, loaded, rejects = LOADS[case]
    db = tmp_path / "a.duckdb"
    result = toolkit.load(BAD / case, db=db)
    assert_reconciles(result, db)
    f = result.by_table()[table]
    assert f.rows_loaded == loaded
    assert f.rows_rejected == len(rejects)
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT row_number, reason FROM rejected_rows ORDER BY row_number").fetchall()
    con.close()
    assert [r[0] for r in got] == [r[0] for r in rejects]
    for (_, reason), (_, prefix) in zip(got, rejects):
        assert reason.startswith(prefix), (reason, prefix)
    # the table exists even when nothing loaded, and the log's notes are those expected
    assert con_count(db, table) == loaded
    for key, value in NOTES.get(case, {}).items():
        assert f.notes.get(key) == value, (key, f.notes)
    if case in LINE_COUNTED:
        data = next((BAD / case).iterdir()).read_bytes()
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n").split(b"\n")
        assert f.rows_read == len([x for x in lines[1:] if x]), (f.rows_read, len(lines))
    if case in VALUES:
        sql, expected = VALUES[case]
        con = duckdb.connect(str(db), read_only=True)
        try:
            assert con.execute(sql).fetchall() == expected
        finally:
            con.close()


def con_count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_case_is_refused_with_one_line_and_exit_2(case, tmp_path):
    db = tmp_path / "a.duckdb"
    with pytest.raises(UnusableInputError) as e:
        toolkit.load(BAD / case, db=db)
    for word in REFUSED[case]:
        assert word in str(e.value)
    assert not db.exists()
    res = CliRunner().invoke(app, ["load", str(BAD / case), "--db", str(db)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert "Traceback" not in res.output


def test_decoded_text_is_right(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(BAD / "mixed_encodings", db=db)
    con = duckdb.connect(str(db), read_only=True)
    assert [r[0] for r in con.execute("SELECT body FROM chat_messages ORDER BY message_id").fetchall()] == [
        "Caf\u00e9 in UTF-8", "Prijs \u20ac 5 \u201cop\u201d cp1252", "na\u00efef weer UTF-8"]
    con.close()


def test_nan_means_no_value_in_typed_columns_only(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(BAD / "nan_strings", db=db)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT total_incl_vat, placed_at, email_at_order FROM orders "
                       "WHERE order_id = 'o1'").fetchone() == (None, None, "NaN")
    con.close()


def test_one_mb_field_survives_whole(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(BAD / "one_mb_field", db=db)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT length(body) FROM chat_messages WHERE message_id = 'm1'"
                       ).fetchone()[0] == 1 << 20
    con.close()


def test_whitespace_around_values_is_trimmed_except_in_free_text(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(BAD / "blank_lines_and_whitespace", db=db)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT first_name FROM customers ORDER BY 1").fetchall() == [("Jan",), ("Piet",)]
    con.close()


def test_parquet_numbers_ignore_a_mapping_decimal_comma(tmp_path):
    # a mapping's decimal: ',' is for the shop's CSV files; a Parquet DECIMAL(12,3) 1.500 read
    # with it was 1500.00 (1,000 times the amount, without a word)
    from toolkit.mapping import parse_mapping
    mp = parse_mapping({"tables": {"orders": {"file": "orders.parquet", "decimal": ",", "columns": {
        "order_id": "order_id", "total_incl_vat": "total_incl_vat"}}}})
    db = tmp_path / "a.duckdb"
    toolkit.load(BAD / "parquet_numbers", db=db, mapping=mp)
    sql, expected = VALUES["parquet_numbers"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute(sql).fetchall() == expected
    finally:
        con.close()
