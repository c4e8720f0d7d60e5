"""Personal data in the extra columns of an export: the profile (toolkit.personal_data), TRN-001,
and the retention and erasure rules counting such columns as personal data."""

from __future__ import annotations

import csv
import io
import json

import duckdb
import pytest
from stdnum import luhn
from stdnum.nl import bsn as stdnum_bsn

import toolkit
from toolkit import personal_data
from toolkit.findings import prepare
from toolkit.ingest import connect
from toolkit.policy import load_policy

from .conftest import write_files

AS_OF = "2025-03-02"


def csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _bsns(n: int) -> list[str]:
    out, k = [], 100000000
    while len(out) < n:
        k += 1
        if stdnum_bsn.is_valid(str(k)):
            out.append(str(k))
    return out


def _cards(n: int) -> list[str]:
    return [p + luhn.calc_check_digit(p) for p in (f"411111111111{i:03d}" for i in range(n))]


IBANS = ["NL91ABNA0417164300", "NL20 INGB 0001 2345 67", "DE89370400440532013000",
         "BE71096123456769", "NL39RABO0300065264", "GB82WEST12345698765432"]
N = 6


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A customers export with one extra column per category of personal data and six that
    only look like it (order numbers, SKUs, barcodes, notes, postcode areas, amounts)."""
    root = tmp_path_factory.mktemp("extras")
    header = ["customer_id", "created_at", "first_name", "Alt Email", "Mobiel", "Rekening", "Sofi",
              "Pas", "Afleveradres", "Login IP", "Order Number", "SKU", "EAN", "Notes 2",
              "Postcode Area", "Amount", "Half Mail"]
    bsns, cards = _bsns(N), _cards(N)
    rows = []
    for i in range(N):
        rows.append([
            f"C{i}", "2023-01-01T10:00:00Z", "Piet",
            f"piet.{i}@ziggo.nl", ["06-12345678", "+31 6 23456789", "(020) 123 4567",
                                   "0612345678", "+32 470 12 34 56", "0031 6 1234 5678"][i],
            IBANS[i], bsns[i], cards[i],
            ["Dorpsstraat 12, 1234 AB Utrecht", "1012 JS 5", "Kerkweg 3a 9711 AA Groningen",
             "2511CV 14", "Laan 1, 3011 XX Rotterdam", "7322 BX, 256"][i],
            ["83.84.85.86", "10.0.0.1", "2001:db8:85a3::8a2e:370:7334", "192.168.1.20",
             "145.12.0.9", "fe80::1"][i],
            str(100000120 + i), f"SKU-{1000 + i}", f"871{i:09d}5",
            ["bel me op 0612345678 aub", "graag snel", "dank", "ok", "", "geen"][i],
            f"{1000 + i}", f"-{i}.50", f"a{i}@example.nl" if i % 2 else "n/a"])
    export = write_files(root / "export", {"customers.csv": csv_text(header, rows)})
    db = root / "audit.duckdb"
    toolkit.load(export, db=db)
    res = toolkit.audit(db, AS_OF, rules="TRN-001")
    return db, res


EXPECTED = {"customers.alt_email": "email", "customers.mobiel": "phone", "customers.rekening": "iban",
            "customers.sofi": "bsn", "customers.pas": "card",
            "customers.afleveradres": "postcode_house_number", "customers.login_ip": "ip_address"}


def test_each_category_of_personal_data_is_found(planted):
    _, res = planted
    got = {f["subject_id"]: json.loads(f["details"]) for f in res.findings}
    assert {k: v["category"] for k, v in got.items()} == EXPECTED
    for d in got.values():
        assert d["share"] == 1.0 and d["matching"] == N and d["filled"] == N
        assert d["fill_rate"] == 1.0 and d["first_seen"] == "2023-01-01"
    assert all(f["subject_table"] == "customers" and f["severity"] == "S3" for f in res.findings)
    rule = next(r for r in res.rules if r.rule_id == "TRN-001")
    # the population: 14 extra columns and the data model's 12 personal columns of customers
    # (filled with a name and an e-mail address, which the statement names: no finding)
    assert rule.status == "evaluated" and rule.population == 14 + 12 and rule.violations == 7


def test_nothing_in_order_numbers_skus_barcodes_notes_or_amounts(planted):
    db, _ = planted
    con = connect(db, read_only=True)
    try:
        prepare(con, load_policy(), toolkit.findings.parse_as_of(AS_OF)[0])
        prof = {f"{r['tbl']}.{r['col']}": r for r in personal_data.found(con)}
    finally:
        con.close()
    for col in ("order_number", "sku", "ean", "notes_2", "postcode_area", "amount", "half_mail"):
        p = prof[f"customers.{col}"]
        assert not p["personal"], p
    assert prof["customers.half_mail"]["category"] == "email"        # 3 of 6: below 60 %
    assert prof["customers.half_mail"]["share"] == 0.5
    assert prof["customers.notes_2"]["filled"] == 5                  # empty text is not a value


def test_thresholds_come_from_the_policy(planted):
    db, _ = planted
    pol = load_policy()
    lower = pol.model_copy(update={"personal_data": pol.personal_data.model_copy(
        update={"min_share": 0.5})})
    res = toolkit.audit(db, AS_OF, policy=lower, rules="TRN-001", store=False)
    assert "customers.half_mail" in {f["subject_id"] for f in res.findings}
    stricter = pol.model_copy(update={"personal_data": pol.personal_data.model_copy(
        update={"min_values": N + 1})})
    res = toolkit.audit(db, AS_OF, policy=stricter, rules="TRN-001", store=False)
    assert res.findings == []


def test_the_policy_refuses_a_share_outside_0_to_1(tmp_path):
    from toolkit.exceptions import PolicyError
    text = toolkit.policy.DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "min_share: 0.6", "min_share: 1.5")
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="personal_data.min_share"):
        load_policy(p)


def test_findings_show_categories_never_values(planted):
    _, res = planted
    blob = json.dumps(res.findings, default=str)
    for secret in ("piet.0@ziggo.nl", "06-12345678", "NL91ABNA0417164300", "83.84.85.86",
                   "Dorpsstraat", _bsns(1)[0], _cards(1)[0]):
        assert secret not in blob


def test_rows_after_as_of_are_not_profiled(tmp_path):
    rows = [[f"C{i}", "2023-01-01T10:00:00Z" if i < 2 else "2026-01-01T10:00:00Z", f"x{i}@y.nl"]
            for i in range(6)]
    export = write_files(tmp_path / "e", {"customers.csv": csv_text(
        ["customer_id", "created_at", "Mail 2"], rows)})
    toolkit.load(export, db=tmp_path / "a.duckdb")
    early = toolkit.audit(tmp_path / "a.duckdb", AS_OF, rules="TRN-001", store=False)
    assert early.findings == []                                      # two values: below min_values
    late = toolkit.audit(tmp_path / "a.duckdb", "2026-02-01", rules="TRN-001", store=False)
    assert [f["subject_id"] for f in late.findings] == ["customers.mail_2"]


def test_no_extra_columns_no_findings_and_still_evaluated(tmp_path):
    export = write_files(tmp_path / "e", {"customers.csv": "customer_id,email\nc1,a@b.nl\n"})
    toolkit.load(export, db=tmp_path / "a.duckdb")
    res = toolkit.audit(tmp_path / "a.duckdb", AS_OF, rules="TRN-001", store=False)
    rule = res.rules[0]
    # judged: customers' 12 personal columns of the data model (an e-mail address, named)
    assert (rule.status, rule.population, rule.violations, res.findings) == ("evaluated", 12, 0, [])


def test_chat_messages_reach_their_customer_through_the_chat(tmp_path):
    chats = "chat_id,customer_id,started_at\nk1,c1,2023-01-01T10:00:00Z\n"
    msgs = csv_text(["message_id", "chat_id", "sent_at", "body", "Sender Email"],
                    [[f"m{i}", "k1", "2023-01-01T10:00:00Z", "hoi", f"s{i}@x.nl"] for i in range(4)])
    export = write_files(tmp_path / "e", {"chats.csv": chats, "chat_messages.csv": msgs})
    toolkit.load(export, db=tmp_path / "a.duckdb")
    con = connect(tmp_path / "a.duckdb", read_only=True)
    try:
        prepare(con, load_policy(), toolkit.findings.parse_as_of(AS_OF)[0])
        rows = con.execute("SELECT tbl, id, customer_id, fields FROM personal_extras "
                           "ORDER BY id").fetchall()
    finally:
        con.close()
    assert rows == [("chat_messages", f"m{i}", "c1", ["sender_email"]) for i in range(4)]


# ------------------------------------------------------------ retention and erasure count them

def _retention_shop(tmp_path):
    """c1: expired, every declared personal column empty, but an extra phone column filled;
    c2: expired and empty everywhere; an order of c1 with only an extra e-mail column; a
    transfer row of c1 with an extra e-mail column; c1 erased by a completed request."""
    customers = csv_text(
        ["customer_id", "created_at", "status", "first_name", "Telefoon 2"],
        [["c1", "2022-01-01T10:00:00Z", "erased", "", "0612345678"],
         ["c2", "2022-01-01T10:00:00Z", "active", "", ""],
         ["c3", "2024-12-01T10:00:00Z", "active", "Jan", "0623456789"],
         ["c4", "2024-12-01T10:00:00Z", "active", "Jan", "0634567890"]])
    visits = csv_text(["visit_id", "customer_id", "started_at", "origin"],
                      [["v1", "c3", "2024-12-01T10:00:00Z", "web"]])
    orders = csv_text(["order_id", "customer_id", "placed_at", "Notify Mail"],
                      [["o1", "c1", "2022-06-01T10:00:00Z", "p1@ziggo.nl"],
                       ["o2", "c3", "2024-12-01T10:00:00Z", "p2@ziggo.nl"],
                       ["o3", "c4", "2024-12-01T10:00:00Z", "p3@ziggo.nl"],
                       ["o4", "c2", "2022-06-01T10:00:00Z", ""]])
    transfers = csv_text(["transfer_id", "customer_id", "recipient_id", "transferred_at", "Contact"],
                         [[f"t{i}", "c1", "r1", "2022-06-02T10:00:00Z", f"p{i}@ziggo.nl"]
                          for i in range(3)])
    dsr = csv_text(["dsr_id", "customer_id", "type", "received_at", "completed_at"],
                   [["d1", "c1", "erasure", "2024-01-01T10:00:00Z", "2024-01-10T10:00:00Z"]])
    export = write_files(tmp_path / "e", {
        "customers.csv": customers, "visits.csv": visits, "orders.csv": orders,
        "transfers.csv": transfers, "dsr_requests.csv": dsr})
    toolkit.load(export, db=tmp_path / "a.duckdb")
    return tmp_path / "a.duckdb"


@pytest.fixture(scope="module")
def retention_run(tmp_path_factory):
    db = _retention_shop(tmp_path_factory.mktemp("ret"))
    res = toolkit.audit(db, AS_OF, rules="RET-*,DSR-004,TRN-001", store=False)
    errors = [(r.rule_id, r.error) for r in res.rules if r.status == "error"]
    assert not errors, errors
    by = {}
    for f in res.findings:
        by.setdefault(f["rule_id"], {})[f["subject_id"]] = json.loads(f["details"])
    return by


def test_ret001_counts_an_extra_personal_column_and_other_tables(retention_run):
    got = retention_run["RET-001"]
    assert set(got) == {"c1"}                                        # c2 holds nothing personal
    assert got["c1"]["residue"] == {"customers": 1, "transfers(contact)": 3}


def test_ret014_lists_the_extra_column(retention_run):
    assert retention_run["RET-014"]["c1"]["filled_fields"] == ["telefoon_2"]


def test_ret006_counts_an_extra_personal_order_column(retention_run):
    got = retention_run["RET-006"]
    assert set(got) == {"o1"} and got["o1"]["fields"] == ["notify_mail"]


def test_dsr004_counts_extra_personal_columns_as_residue(retention_run):
    d = retention_run["DSR-004"]["d1"]
    assert d["residue"] == {"customers": 1, "orders(notify_mail)": 1, "transfers(contact)": 3}


def test_trn001_names_the_columns(retention_run):
    assert set(retention_run["TRN-001"]) == {"customers.telefoon_2", "orders.notify_mail",
                                             "transfers.contact"}


def test_views_and_tables_exist_on_a_database_without_extras(tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.close()
    c = connect(tmp_path / "x.duckdb", read_only=True)
    try:
        prepare(c, load_policy(), toolkit.findings.parse_as_of(AS_OF)[0])
        assert c.execute("SELECT count(*) FROM extra_values").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM extra_columns").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM personal_extras").fetchone() == (0,)
    finally:
        c.close()


def test_one_pass_profile_equals_the_long_form(planted, tmp_path):
    """The per-table aggregate (every category tested on every value in one pass) and the
    per-table personal_extras pass equal the same profile computed from the long form,
    extra_values, value by value (a column of mixed kinds included: half_mail, notes_2)."""
    db, _ = planted
    con = connect(db, read_only=True)
    try:
        prepare(con, load_policy(), toolkit.findings.parse_as_of(AS_OF)[0])
        cats = personal_data.category_sql("v")
        counts = ", ".join(f"count_if({sql}) AS \"{name}\"" for name, sql in cats.items())
        long_form = con.execute(
            f"SELECT tbl, col, count(*), min(ts), {counts} FROM (SELECT tbl, col, ts, "
            f"trim(value) AS v FROM extra_values) GROUP BY ALL ORDER BY ALL").fetchall()
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        present = toolkit.findings.existing_columns(con, catalog)
        extras = personal_data.extra_columns(present)
        names = ", ".join(f'"{n}"' for n in cats)
        one_pass = con.execute(
            f"SELECT tbl, col, filled, first_seen, {names} FROM "
            f"({personal_data.counts_sql(catalog, extras, present)}) WHERE filled > 0 "
            f"ORDER BY ALL").fetchall()
        assert one_pass == long_form and len(one_pass) == 14       # every extra column
        assert sum(r[4] for r in one_pass) > N                     # the categories do count
        pe_long = con.execute(
            "SELECT v.tbl, v.id, any_value(v.customer_id), list_sort(list(DISTINCT v.col)) "
            "FROM extra_values v JOIN extra_columns c ON c.tbl = v.tbl AND c.col = v.col "
            "AND c.personal GROUP BY ALL ORDER BY ALL").fetchall()
        pe = con.execute("SELECT * FROM personal_extras ORDER BY ALL").fetchall()
        assert pe == pe_long and len(pe) == N
        assert all(len(r[3]) == 7 for r in pe)                     # the seven planted categories
    finally:
        con.close()
