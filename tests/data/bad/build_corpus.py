"""Build the bad-input corpus: one folder per case, each an export folder with one broken file.

Run ``python tests/data/bad/build_corpus.py`` to rewrite it; the files are committed, and
``tests/test_bad_inputs.py`` asserts the exact outcome of loading each folder.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
GOOD_CSV = ("customer_id,first_name,email,created_at\n"
            "c1,Jan,jan@example.nl,2024-01-01T10:00:00Z\n"
            "c2,Piet,piet@example.nl,2024-01-02T10:00:00Z\n")


def cases() -> dict[str, dict[str, bytes]]:
    rnd = random.Random(7)
    gz = gzip.compress(("visit_id,started_at\n" + "".join(
        f"v{i},2024-01-01T10:00:00Z\n" for i in range(5000))).encode(), mtime=0)
    buf = io.BytesIO()
    pq.write_table(pa.table({"observation_id": ["o1"], "name": ["_ga"]}), buf)
    parquet = buf.getvalue()
    return {
        "truncated_gzip": {"visits.csv.gz": gz[: len(gz) // 2]},
        "not_gzip": {"visits.csv.gz": b"visit_id,started_at\nv1,2024-01-01\n"},
        "ragged_rows": {"customers.csv": (
            "customer_id,first_name,email\nc1,Jan,j@example.nl\nc2,Piet\n"
            "c3,Klaas,k@example.nl,extra,more\nc4,Els,e@example.nl\n").encode()},
        "bom_semicolon": {"customers.csv": b"\xef\xbb\xbf" + GOOD_CSV.replace(",", ";").encode()},
        "mixed_encodings": {"chat_messages.csv": (
            "message_id;body\nm1;Caf\u00e9 in UTF-8\n".encode("utf-8")
            + "m2;Prijs \u20ac 5 \u201cop\u201d cp1252\n".encode("cp1252")
            + "m3;na\u00efef weer UTF-8\n".encode("utf-8"))},
        "windows_1252": {"customers.csv": (
            "customer_id;first_name;last_name\nc1;Zo\u00eb;Ba\u00eflly\nc2;Ren\u00e9e;\u20acuro\n"
        ).encode("cp1252")},
        "empty_file": {"customers.csv": b""},
        "header_only": {"customers.csv": b"customer_id,first_name,email\n"},
        "binary_garbage": {"customers.csv": bytes(rnd.randrange(256) for _ in range(4096))},
        "one_mb_field": {"chat_messages.csv": (
            'message_id,body\nm1,"' + "x" * (1 << 20) + '"\nm2,kort\n').encode()},
        "duplicate_keys": {"customers.csv": (GOOD_CSV + "c1,Jan,jan2@example.nl,2024-01-03T10:00:00Z\n"
                                             "c2,Piet,piet@example.nl,2024-01-02T10:00:00Z\n").encode()},
        "impossible_dates": {"orders.csv": (
            "order_id,placed_at\no1,31-02-2024\no2,2024-02-31\no3,2024-02-29T12:00:00Z\n"
            "o4,2023-02-29\n").encode()},
        "future_dates": {"visits.csv": (
            "visit_id,started_at\nv1,2099-12-31T23:59:59Z\nv2,2024-06-01T10:00:00Z\n").encode()},
        "nan_strings": {"orders.csv": (
            "order_id,total_incl_vat,placed_at,email_at_order\n"
            "o1,NaN,NaT,NaN\no2,12.50,2024-01-01T10:00:00Z,a@example.nl\n").encode()},
        "unterminated_quote": {"customers.csv": (
            'customer_id,first_name\nc1,Jan\nc2,"Piet\nc3,Klaas\n').encode()},
        "missing_key_column": {"customers.csv": b"first_name,email\nJan,j@example.nl\nPiet,p@example.nl\n"},
        "no_header": {"customers.csv": b"c1,Jan,jan@example.nl\nc2,Piet,piet@example.nl\n"},
        "bad_booleans": {"visits.csv": b"visit_id,is_bot\nv1,ja\nv2,misschien\nv3,2\n"},
        "bad_numbers": {"orders.csv": b"order_id,total_incl_vat,total_vat\no1,12.50,2.17\no2,abc,1\no3,1,2,3\n"},
        "bad_json_lines": {"chat_messages.jsonl": (
            '{"message_id": "m1", "body": "hallo"}\n{"message_id": "m2", "body": \n'
            '42\n{"message_id": "m3", "body": "tot ziens"}\n').encode()},
        "truncated_json_array": {"recipients.json": b'[{"recipient_id": "r1"}, {"recipient_id": '},
        "corrupt_parquet": {"cookie_observations.parquet": parquet[:8] + b"\x00" * 64 + parquet[-8:]},
        "not_parquet": {"cookie_observations.parquet": b"observation_id,name\no1,_ga\n"},
        "utf16": {"customers.csv": GOOD_CSV.encode("utf-16")},
        "duplicate_header": {"customers.csv": b"customer_id,email,EMAIL\nc1,a@example.nl,b@example.nl\n"},
        "empty_key_values": {"customers.csv": b"customer_id,first_name\n,Jan\n  ,Piet\nc3,Klaas\n"},
        "bad_list": {"transfers.csv": b'transfer_id,fields\nt1,"[""email"""\nt2,email|street\nt3,"{""a"": 1}"\n'},
        "two_files_one_table": {"customers.csv": GOOD_CSV.encode(),
                                "customers.jsonl": b'{"customer_id": "c9"}\n'},
        "blank_lines_and_whitespace": {"customers.csv": b"customer_id,first_name\n\nc1, Jan \n\n\nc2,Piet\n"},
        "json_not_array_of_objects": {"recipients.json": json.dumps(
            [{"recipient_id": "r1"}, "r2", [1, 2], {"recipient_id": "r4"}]).encode()},
    }


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def crash_cases() -> dict[str, dict[str, bytes]]:
    """Issue 12, crashes: zero loaded rows with a timestamp column, Parquet types that disagree
    with the schema, a JSON key that is empty."""
    return {
        "header_only_with_timestamps": {"legal_holds.csv": (
            b"hold_id,customer_id,scope_tables,reason,opened_at,closed_at\n")},
        "only_row_invalid_timestamp": {"orders.csv": b"order_id,placed_at\no1,garbage\n"},
        "empty_parquet": {"visits.parquet": parquet_bytes(pa.table({
            "visit_id": pa.array([], pa.string()), "started_at": pa.array([], pa.timestamp("us"))}))},
        "parquet_wrong_types": {"visits.parquet": parquet_bytes(pa.table({
            "visit_id": ["v1", "v2", "v3", "v4"],
            "started_at": pa.array([1700000000, None, None, None], pa.int64()),
            "ip_address": pa.array([None, {"a": "10.0.0.1"}, None, None]),
            "user_agent": pa.array([None, None, b"\xff\xfe", b"Mozilla/5.0"], pa.binary()),
            "is_bot": pa.array([None, None, None, 0], pa.int32())}))},
        # one document over several lines: no line is a record
        "json_pretty_printed_document": {"customers.json": (
            b'{\n  "customers": [\n    {"customer_id": "c1"}\n  ]\n}\n')},
        "json_empty_key": {"customers.jsonl": (
            b'{"customer_id": "c1", "": "x", "email": "a@example.nl"}\n'
            b'{"customer_id": "c2", "email": "b@example.nl"}\n')},
        # no readable record at all: no column to make the table from but its key
        "jsonl_no_valid_record": {"customers.jsonl": b'not json\n{"customer_id": \n'},
    }


def value_cases() -> dict[str, dict[str, bytes]]:
    """Issue 12, values that were silently wrong: two-digit years, lenient timestamp casts,
    DST local times, ambiguous or over-precise numbers, JSON keys that repeat."""
    return {
        "two_digit_years": {"orders.csv": (
            b"order_id,placed_at\no1,07-05-19 11:10\no2,2019-05-07 11:10\no3,31-12-99 23:59\n")},
        "special_timestamps": {"visits.csv": (
            b"visit_id,started_at\nv1,epoch\nv2,infinity\nv3,2024-03-01T10:00:00+25:00\n"
            b"v4,2024-03-01 24:30\nv5,1989-12-31T22:59:59Z\nv6,0007-05-19 11:10\n"
            b"v7,2024-03-01T10:00:00+01:00\nv8,2024-3-1\n")},
        "dst_local_times": {"visits.csv": (
            b"visit_id,started_at\nv1,2024-03-31 02:30\nv2,2024-10-27 02:30\nv3,2024-03-31 03:30\n")},
        "number_forms": {"orders.csv": (
            "order_id;total_incl_vat\no1;12,5,0\no2;12.345\no3;1 234,50\no4;1e5\no5;-0\n"
            "o6;-12,50\no7;\u20ac 1.234,56\no8;12.3456\no9;1.234.567\n").encode()},
        "json_case_duplicate_keys": {"customers.jsonl": (
            b'{"customer_id": "c1", "email": "a@example.nl", "EMAIL": "b@example.nl"}\n'
            b'{"customer_id": "c2", "email": "a@example.nl", "email": "b@example.nl"}\n'
            b'{"customer_id": "c3", "email": {"address": "c@example.nl"}}\n'
            b'{"customer_id": "c4", "email": "d@example.nl", "notes": "{not an object}"}\n')},
        # JSON numbers a double does not hold (DuckDB reads fractions as doubles): exact or rejected
        "json_long_numbers": {"orders.jsonl": (
            b'{"order_id": "o1", "total_incl_vat": 99999999999999.99}\n'
            b'{"order_id": "o2", "total_incl_vat": 0.10000000000000001}\n'
            b'{"order_id": "o3", "total_incl_vat": 1e2, "note": "4111111111111111"}\n'
            b'{"order_id": "o4", "total_incl_vat": 1234567890123456.78}\n'
            b'{"order_id": "o5", "total_incl_vat": 12.50, "big": 123456789012345678901234, '
            b'"f": 1.0000000000000000001}\n')},
        # Parquet numbers are plain text with '.' as the decimal point: DECIMAL(12,3) 1.500 is
        # 1.50 (was: ambiguous thousands separator), 12.345 has more decimals than the column
        "parquet_numbers": {"orders.parquet": parquet_bytes(pa.table({
            "order_id": ["o1", "o2", "o3", "o4", "o5"],
            "total_incl_vat": pa.array([Decimal(x) for x in ("12.345", "1.500", "-1234.500",
                                                             "1000.000", "12.340")],
                                       pa.decimal128(12, 3))}))},
        # a Parquet file whose columns repeat in another case (DuckDB renames one EMAIL_1):
        # refused like a CSV header naming a column twice
        "parquet_case_duplicate_columns": {"customers.parquet": parquet_bytes(pa.Table.from_arrays(
            [pa.array(["c1"]), pa.array(["a@example.nl"]), pa.array(["b@example.nl"])],
            names=["customer_id", "email", "EMAIL"]))},
    }


def framing_cases() -> dict[str, dict[str, bytes]]:
    """Issue 12, records that vanished or whose counts did not reconcile: unclosed and stray
    quotes, line ends, blank lines, BOMs and repeated headers of files joined together."""
    rows = [f"c{i},Naam {i},n{i}@example.nl\n" for i in range(1, 1001)]
    rows[244] = 'c245,"Retro lamp,r@example.nl\n'          # row 245 (line 246) opens a quote
    items = ["order_item_id\torder_id\tdescription\tquantity\n"] + [
        f"i{i}\to1\tLamp {i}\t1\n" for i in range(1, 7)]
    items[3] = 'i3\to1\t"Retro lamp 40cm\t1\n'
    return {
        "unterminated_quote_1000": {"customers.csv": (
            "customer_id,first_name,email\n" + "".join(rows)).encode()},
        "tsv_stray_quote": {"order_items.tsv": "".join(items).encode()},
        "stray_quotes_join_lines": {"customers.csv": (
            b'customer_id,first_name,email\nc1,Jan,j@example.nl\nc2,"Piet,p@example.nl\n'
            b'c3,Klaas,k@example.nl\nc4,Els",e@example.nl\nc5,Ann,a@example.nl\n')},
        "text_after_closing_quote": {"customers.csv": (
            b'customer_id,first_name,email\nc1,"Jan"sen,j@example.nl\nc2,"Piet"  ,p@example.nl\n'
            b'c3,"Kla"  "as",k@example.nl\nc4,Els,"e@example.nl"x\n')},
        "quotes_inside_unquoted": {"customers.csv": (
            b'customer_id,first_name,notes\nc1,Jan,Tafel 5" breed\nc2,Piet,"zegt ""hoi"""\n'
            b'c3,Klaas,  "spaties" ervoor\n')},
        "mixed_line_endings": {"customers.csv": (
            b"customer_id,first_name\r\nc1,Jan\nc2,Piet\r\nc3,Klaas\n\r\nc4,Els\r")},
        "cr_only_line_endings": {"customers.csv": b"customer_id,first_name\rc1,Jan\rc2,Piet\r"},
        "bare_cr_in_value": {"customers.csv": (
            b"customer_id,first_name\nc1,Jan\rtje\nc2,Piet\nc3,\"Kla\ras\"\n")},
        "excel_crlf_multiline": {"chat_messages.csv": (
            b'message_id,body\r\nm1,"regel een\nregel twee"\r\nm2,kort\r\n')},
        "trailing_delimiters": {"customers.csv": (
            b"customer_id,first_name,\nc1,Jan,\nc2,Piet,,\nc3,Klaas,x\n")},
        "one_column_blank_lines": {"customers.csv": b"customer_id\nc1\n\nc2\n\n"},
        "leading_blank_lines": {"customers.csv": b"\n\r\ncustomer_id,first_name\nc1,Jan\n"},
        "whitespace_only_line": {"customers.csv": b"customer_id,first_name\nc1,Jan\n   \nc2,Piet\n"},
        "files_joined_together": {"customers.csv": (
            b"\xef\xbb\xbfcustomer_id,first_name\nc1,Jan\nc2,Piet\n"
            b"\xef\xbb\xbfcustomer_id,first_name\nc3,Klaas\ncustomer_id,first_name\nc4,Els\n")},
        "jsonl_mixed_line_endings": {"chat_messages.jsonl": (
            b'{"message_id": "m1"}\n{"message_id": "m2"}\r\n{"message_id":\r "m3"}\n'
            b'{"message_id": "m4"}\r\n')},
    }


def all_cases() -> dict[str, dict[str, bytes]]:
    return {**cases(), **crash_cases(), **value_cases(), **framing_cases()}


def build() -> None:
    for case, files in all_cases().items():
        folder = HERE / case
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)


if __name__ == "__main__":
    build()
    print(f"wrote {len(all_cases())} cases under {HERE}")
