"""The erasure worklist and its proof, on a generated shop: the round trip closes the retention,
erasure and free-text findings, leaves held and fiscal data in place and changes no other rule's
violations (except violations whose rows were themselves erased, which the comparison names)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit import remediate, schema
from toolkit.cli import app
from toolkit.exceptions import PrivauditError
from toolkit.generate import generate

AS_OF = "2026-10-31"
CLOSED = ("RET-001", "RET-005", "RET-006", "RET-014", "DSR-004", "NWS-006")


def truth(exports: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with open(exports / "_truth" / "findings.csv", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["rule_id"], set()).add(row["subject_id"])
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("remediate")
    exports = root / "exports"
    generate(exports, customers=300, seed=0)
    db = root / "audit.duckdb"
    toolkit.load(exports, db=db)
    t = truth(exports)
    con = duckdb.connect(str(db))
    # an open hold on one table of an expired customer: that table stays, the rest goes
    held_cid = next(c for c in sorted(t["RET-001"]) if con.execute(
        "SELECT count(*) FROM visits WHERE customer_id = $1", [c]).fetchone()[0] > 0
        and con.execute("SELECT email IS NOT NULL FROM customers WHERE customer_id = $1",
                        [c]).fetchone()[0])
    con.execute("INSERT INTO legal_holds (hold_id, customer_id, scope_tables, reason, opened_at) "
                "VALUES ('LH-TEST-1', $1, ['visits'], 'litigation', TIMESTAMPTZ '2026-01-05 10:00:00+01')",
                [held_cid])
    # an open hold on the chat messages of a customer whose message holds a card number
    msg = sorted(m for m in t["SEC-002"] if m.startswith("M"))[0]
    msg_cid = con.execute("SELECT c.customer_id FROM chat_messages m JOIN chats c USING (chat_id) "
                          "WHERE m.message_id = $1", [msg]).fetchone()[0]
    con.execute("INSERT INTO legal_holds (hold_id, customer_id, scope_tables, reason, opened_at) "
                "VALUES ('LH-TEST-2', $1, ['chat_messages'], 'police_preservation_126ni', "
                "TIMESTAMPTZ '2026-02-01 10:00:00+01')", [msg_cid])
    # a disclosure of an expired customer's data: the recipient must be notified (Art. 19)
    notified = next(c for c in sorted(t["RET-001"]) if c != held_cid)
    con.execute("INSERT INTO transfers (transfer_id, recipient_id, transferred_at, customer_id, fields, "
                "purpose, destination_country) SELECT 'T-TEST-1', recipient_id, "
                "TIMESTAMPTZ '2024-03-01 12:00:00+01', $1, ['email', 'first_name'], 'newsletter', 'NL' "
                "FROM recipients WHERE category = 'email_service' ORDER BY recipient_id LIMIT 1",
                [notified])
    con.close()
    run = toolkit.audit(db, AS_OF)
    original = root / "original.duckdb"
    shutil.copyfile(db, original)
    plan = remediate.plan(db, run.run_id, root / "plan")
    copy = root / "copy.duckdb"
    result = remediate.apply(plan, copy=copy)
    return {"root": root, "exports": exports, "db": db, "original": original, "run": run,
            "plan": plan, "result": result, "copy": copy, "truth": t, "held_cid": held_cid,
            "msg": msg, "msg_cid": msg_cid, "notified": notified}


def rows(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'Europe/Amsterdam'")
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_round_trip_closes_the_retention_and_erasure_findings(shop):
    res = shop["result"]
    assert res.ok, res.to_frame().to_string()
    by = {r.rule_id: r for r in res.rules}
    for rid in CLOSED:
        assert by[rid].before >= 3 and by[rid].after == 0, by[rid]
        assert by[rid].verdict == "closed"
    # free text: everything closed except the message under the hold
    assert by["SEC-002"].after == 1 and by["SEC-002"].remaining == 0
    assert by["SEC-004"].after == 0 and by["SEC-006"].after == 0
    after = res.after
    assert {f["subject_id"] for f in after.findings if f["rule_id"] == "SEC-002"} == {shop["msg"]}


def test_no_other_rule_changes(shop):
    res, plan = shop["result"], shop["plan"]
    deleted = {(t, k) for t, ks in plan.deleted.items() for k in ks}
    before, after = res.before, res.after
    assert before.table_rows == toolkit.audit(shop["original"], AS_OF, rules="DSR-001",
                                              store=False).table_rows   # the copy was the original
    for r in res.rules:
        if r.target:
            continue
        b = {(f["subject_table"], f["subject_id"]) for f in before.findings if f["rule_id"] == r.rule_id}
        a = {(f["subject_table"], f["subject_id"]) for f in after.findings if f["rule_id"] == r.rule_id}
        assert a <= b, (r.rule_id, a - b)
        assert b - a <= deleted, (r.rule_id, b - a)        # only rows the plan erased
        assert r.verdict == ("unchanged" if a == b else "subjects erased")
    changed = [r.rule_id for r in res.rules if not r.target and r.verdict != "unchanged"]
    # the generator's sends to erased customers are also NWS-003 violations (the erasure request
    # counts as an unsubscribe); erasing the send rows removes them from the live data too
    assert changed in ([], ["NWS-003"])
    excluded = {r.rule_id: (r.excluded_before, r.excluded_after) for r in res.rules}
    assert all(b == a for rid, (b, a) in excluded.items() if rid != "RET-001")
    # the customer whose visits are held: a violation before, only held data left after
    assert excluded["RET-001"][1] == excluded["RET-001"][0] + 1


def test_held_data_stays_and_is_listed(shop):
    cid = shop["held_cid"]
    q = "SELECT count(*) FROM visits WHERE customer_id = $1"
    assert rows(shop["copy"], q, [cid]) == rows(shop["original"], q, [cid]) != [(0,)]
    assert rows(shop["copy"], "SELECT email FROM customers WHERE customer_id = $1", [cid]) == [(None,)]
    held = {(h.rule_id, h.customer_id, h.table) for h in shop["plan"].held}
    assert ("RET-001", cid, "visits") in held
    assert ("SEC-002", shop["msg_cid"], "chat_messages") in held
    q = "SELECT body FROM chat_messages WHERE message_id = $1"
    assert rows(shop["copy"], q, [shop["msg"]]) == rows(shop["original"], q, [shop["msg"]])
    text = (shop["plan"].out / "held.csv").read_text()
    assert "LH-TEST-1" in text and "LH-TEST-2" in text
    # every open hold of the shop: its tables keep all their rows for that customer
    for hid, c, scope in rows(shop["original"], "SELECT hold_id, customer_id, scope_tables FROM "
                              "legal_holds WHERE closed_at IS NULL"):
        for t in scope:
            if schema.table(t).has("customer_id"):
                q = f'SELECT count(*) FROM "{t}" WHERE customer_id = $1'
                assert rows(shop["copy"], q, [c]) == rows(shop["original"], q, [c]), (hid, t)


def test_fiscal_data_inside_the_window_is_untouched(shop):
    present = {c for (c,) in rows(shop["original"], "SELECT column_name FROM information_schema.columns "
                                  "WHERE table_name = 'orders'")}
    fiscal = [c.name for c in schema.table("orders").columns if c.fiscal and c.name in present]
    cols = ", ".join(f'"{c}"' for c in fiscal)
    q = (f"SELECT {cols} FROM orders WHERE year(timezone('Europe/Amsterdam', placed_at)) >= 2019 "
         f"ORDER BY order_id")
    assert rows(shop["copy"], q) == rows(shop["original"], q)
    for t in ("orders", "order_items", "payments"):
        assert rows(shop["copy"], f'SELECT count(*) FROM "{t}"') == rows(shop["original"], f'SELECT count(*) FROM "{t}"')
    ppresent = {c for (c,) in rows(shop["original"], "SELECT column_name FROM information_schema.columns "
                                   "WHERE table_name = 'payments'")}
    pq = ", ".join(f'"{c.name}"' for c in schema.table("payments").columns
                   if c.fiscal and c.name in ppresent)
    q = (f"SELECT {pq} FROM payments p JOIN orders o USING (order_id) WHERE "
         f"year(timezone('Europe/Amsterdam', o.placed_at)) >= 2019 ORDER BY payment_id")
    assert rows(shop["copy"], q) == rows(shop["original"], q)
    # RET-006 orders lost exactly their checkout contact fields
    for oid in shop["truth"]["RET-006"]:
        (e, p, ip, name), = rows(shop["copy"], "SELECT email_at_order, phone_at_order, ip_address, "
                                 "billing_name FROM orders WHERE order_id = $1", [oid])
        assert (e, p, ip) == (None, None, None)
        assert (name is None) == (rows(shop["original"], "SELECT billing_name FROM orders WHERE "
                                       "order_id = $1", [oid])[0][0] is None)


def test_orders_past_the_ceiling_are_anonymised_with_one_pseudonym(shop):
    for oid in shop["truth"]["RET-005"]:
        (cid, name, email, anon), = rows(shop["copy"], "SELECT customer_id, billing_name, email_at_order, "
                                         "anonymised_at FROM orders WHERE order_id = $1", [oid])
        assert cid.startswith("PSN-") and name is None and email is None and anon is not None
        pays = rows(shop["copy"], "SELECT DISTINCT customer_id FROM payments WHERE order_id = $1", [oid])
        assert pays in ([], [(cid,)])
        assert not rows(shop["copy"], "SELECT 1 FROM customers WHERE customer_id = $1", [cid])
        orig = rows(shop["original"], "SELECT customer_id FROM orders WHERE order_id = $1", [oid])[0][0]
        assert rows(shop["copy"], "SELECT count(*) FROM customers WHERE customer_id = $1", [orig]) == [(1,)]


def test_notifications_name_the_recipients_that_received_the_data(shop):
    ns = [n for n in shop["plan"].notifications if n.customer_id == shop["notified"]]
    assert len(ns) == 1 and ns[0].transfers == 1 and ns[0].fields == ["email", "first_name"]
    assert ns[0].category == "email_service" and "RET-001" in ns[0].rules
    text = (shop["plan"].out / "notifications.csv").read_text()
    assert shop["notified"] in text and "Art. 19" in text


def test_outputs_hold_no_personal_data(shop):
    secrets = set()
    for sql in ("SELECT first_name, last_name, email, phone, street FROM customers",
                "SELECT email_at_order, phone_at_order, billing_name, ip_address, NULL FROM orders",
                "SELECT iban, card_pan, NULL, NULL, NULL FROM payments"):
        for r in rows(shop["original"], sql):
            secrets.update(v for v in r if isinstance(v, str) and len(v) >= 6)
    for b, in rows(shop["original"], "SELECT body FROM chat_messages WHERE body IS NOT NULL"):
        secrets.update(tok for tok in b.split() if len(tok) >= 12 and any(ch.isdigit() for ch in tok))
    out = shop["plan"].out
    for f in ("actions.csv", "held.csv", "notifications.csv", "skipped.csv", "plan.json",
              "remediate.sql", "before_after.csv"):
        text = (out / f).read_text(encoding="utf-8")
        leaked = [s for s in secrets if s in text]
        assert not leaked, (f, leaked[:3])


def test_the_original_database_is_not_touched(shop):
    q = "SELECT count(*), count(email) FROM customers"
    assert rows(shop["db"], q) == rows(shop["original"], q)
    assert rows(shop["db"], "SELECT count(*) FROM visits") == rows(shop["original"], "SELECT count(*) FROM visits")


def test_the_script_is_exact_and_all_or_nothing(shop, tmp_path):
    script = shop["plan"].out / "remediate.sql"
    text = script.read_text()
    assert text.count("BEGIN TRANSACTION;") == 1 and text.rstrip().endswith("COMMIT;")
    # applied a second time, the first statement no longer changes its rows: nothing is applied
    again = tmp_path / "again.duckdb"
    shutil.copyfile(shop["copy"], again)
    before = rows(again, "SELECT count(*) FROM visits")
    with pytest.raises(PrivauditError, match="nothing was applied"):
        remediate.execute_script(again, script)
    assert rows(again, "SELECT count(*) FROM visits") == before
    # the plan's own counts
    meta = json.loads((shop["plan"].out / "plan.json").read_text())
    assert meta["run_id"] == shop["run"].run_id
    assert sum(s["expect"] for s in meta["statements"]) == shop["result"].changed_rows


def test_redaction_spans_match_duckdb_characters():
    con = duckdb.connect()
    text = "Hoi 👋🏽 é, mijn kaart 4111 1111 1111 1111 en nog eens 4111 1111 1111 1111! IBAN NL91ABNA0417164300 graag"
    spans = remediate._spans(text, ["4111 1111 1111 1111"], {"4111111111111111"}, "card")
    spans = remediate._merge(spans + remediate._spans(text, ["NL91ABNA0417164300 graag"],
                                                      {"NL91ABNA0417164300"}, "iban"))
    out = con.execute(f"SELECT {remediate._redacted_expr('t', spans)} FROM (SELECT $1 AS t)",
                      [text]).fetchone()[0]
    assert out == ("Hoi 👋🏽 é, mijn kaart [redacted] en nog eens [redacted]! IBAN [redacted] graag")


def test_a_changed_policy_or_the_original_as_copy_is_refused(shop, tmp_path):
    with pytest.raises(PrivauditError, match="original database"):
        remediate.apply(shop["plan"], copy=shop["db"])
    pol = tmp_path / "p.yaml"
    pol.write_text(Path(shop["run"].policy.source).read_text() + "\n# edited\n")
    db = tmp_path / "p.duckdb"
    shutil.copyfile(shop["original"], db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE runs SET policy = $1", [str(pol)])
    con.close()
    with pytest.raises(PrivauditError, match="changed since the run"):
        remediate.plan(db, shop["run"].run_id, tmp_path / "out")


def test_cli_plan_and_apply(shop, tmp_path):
    db = tmp_path / "cli.duckdb"
    shutil.copyfile(shop["original"], db)
    out = tmp_path / "plan"
    r = CliRunner().invoke(app, ["remediate", "--db", str(db), "--run", shop["run"].run_id,
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "held (left out)" in r.output and (out / "remediate.sql").is_file()
    assert not (out / "remediated.duckdb").exists()
    r = CliRunner().invoke(app, ["remediate", "--db", str(db), "--run", shop["run"].run_id,
                                 "--out", str(out), "--apply"])
    assert r.exit_code == 0, r.output
    assert "RET-001" in r.output and "closed" in r.output and (out / "remediated.duckdb").is_file()
    r = CliRunner().invoke(app, ["remediate", "--db", str(db), "--run", "nope", "--out", str(out)])
    assert r.exit_code == 2 and "no run 'nope'" in r.output


def test_a_number_in_an_extra_export_column_is_redacted(tmp_path):
    """Free text in a column the schema does not know (kept from the export) is redacted like a
    declared one: the planner reads it from the table itself, not from the audit's view."""
    from .conftest import write_files
    export = write_files(tmp_path / "export", {
        "customers.csv": "customer_id,created_at,status,email,Opmerking Klant\n"
                         "c1,2025-01-05T10:00:00Z,active,a@example.nl,pas 4111 1111 1111 1111 graag\n"
                         "c2,2025-01-05T10:00:00Z,active,b@example.nl,geen nummer\n"})
    db = tmp_path / "a.duckdb"
    toolkit.load(export, db=db)
    run = toolkit.audit(db, "2025-03-02", rules="SEC-002")
    assert [(f["subject_id"], json.loads(f["details"])["column"]) for f in run.findings] == \
        [("c1", "customers.opmerking_klant")]
    plan = remediate.plan(db, run.run_id, tmp_path / "plan")
    assert [(a.table, a.action, a.columns) for a in plan.actions] == \
        [("customers", "redact", ["opmerking_klant"])]
    res = remediate.apply(plan, copy=tmp_path / "copy.duckdb")
    assert rows(tmp_path / "copy.duckdb", "SELECT opmerking_klant FROM customers ORDER BY 1") == \
        [("geen nummer",), ("pas [redacted] graag",)]
    assert {r.rule_id: r.after for r in res.rules}["SEC-002"] == 0
