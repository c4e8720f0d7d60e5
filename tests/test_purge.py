"""The copy expires (toolkit.purge): a warning past auditor.retention_days, and a purge that
leaves no personal value in the database file while the masked run history still renders."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from toolkit import database, schema
from toolkit.cli import app
from toolkit.exceptions import PolicyError, UnusableInputError
from toolkit.findings import audit
from toolkit.generate import generate
from toolkit.ingest import load
from toolkit.policy import DEFAULT_POLICY, load_policy
from toolkit.purge import RetentionWarning, purge
from toolkit.report import report

from .personal_values import EXTRA, in_bytes, personal_values

KEY = "correct-horse-battery-staple-42"
BAD_IBAN = "NL91ABNA0417164300"
DATES = ("2026-09-30", "2026-10-31")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A generated shop with one payment rejected (its raw record holds an IBAN)."""
    root = tmp_path_factory.mktemp("purge") / "exports"
    generate(root, customers=300, seed=21)
    with open(root / "payments.csv", "a", encoding="utf-8") as f:
        f.write(f"PAYX00000001,O00000001,C0000002,31-02-2026,creditcard,PG-X,1.00,,,,{BAD_IBAN}\n")
    return root


def age(db: Path, days: int) -> None:
    con = duckdb.connect(str(db))
    con.execute(f"UPDATE load_log SET loaded_at = loaded_at - INTERVAL {int(days)} DAY")
    con.close()


def policy_with(tmp_path: Path, days) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(DEFAULT_POLICY.read_text(encoding="utf-8") + f"\nauditor:\n  retention_days: {days}\n",
                 encoding="utf-8")
    return p


def test_retention_days_is_part_of_the_policy_and_validated(tmp_path):
    assert load_policy().auditor.retention_days == 90
    assert load_policy(policy_with(tmp_path, 30)).auditor.retention_days == 30
    for bad in (0, -5, "soon"):
        with pytest.raises(PolicyError, match="retention_days"):
            load_policy(policy_with(tmp_path, bad))


def test_commands_warn_once_on_loads_older_than_the_retention_period(exports, tmp_path):
    db = tmp_path / "audit.duckdb"
    load(exports, db=db, as_of=DATES[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetentionWarning)
        database.connect(db, read_only=True).close()          # fresh: no warning
    age(db, 91)
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "--db", str(db), "--as-of", DATES[1], "--rules", "RET-001"])
    assert res.exit_code in (0, 1), res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "loaded 91 days ago" in lines[0], res.stderr
    assert "beyond auditor.retention_days 90" in lines[0] and "privaudit purge" in lines[0]
    res = runner.invoke(app, ["subject", "find", "--db", str(db), "--customer-id", "C0000001"])
    assert "warning:" in res.stderr, res.stderr
    # a policy that allows a year: no warning
    res = runner.invoke(app, ["audit", "--db", str(db), "--as-of", DATES[1], "--rules", "RET-001",
                              "--policy", str(policy_with(tmp_path, 365))])
    assert "warning:" not in res.stderr, res.stderr
    # a reload refreshes the copy: no warning for it
    load(exports, db=db, as_of=DATES[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RetentionWarning)
        database.connect(db, read_only=True, retention_days=30).close()


def test_purge_leaves_no_personal_value_and_the_history_still_renders(exports, tmp_path):
    db = tmp_path / "audit.duckdb"
    load(exports, db=db, as_of=DATES[1])
    runs = [audit(db, d).run_id for d in DATES]
    values = personal_values(db)          # every personal column and extra column, by kind
    values[schema.IBAN].add(BAD_IBAN)       # in the rejected record only
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM rejected_rows WHERE raw LIKE $1",
                       [f"%{BAD_IBAN}%"]).fetchone()[0] == 1
    history = con.execute("SELECT run_id, rule_id, violations FROM rule_results ORDER BY ALL"
                          ).fetchall()
    con.close()
    for kind in (schema.EMAIL, schema.NAME, schema.PHONE, schema.IBAN, schema.TEXT, EXTRA):
        # the grep can fail: they are in the file now
        assert len(values[kind]) > 3 and in_bytes(db, values[kind]), kind
    (tmp_path / ".privaudit-tmp" / db.name).mkdir(parents=True, exist_ok=True)   # as audits leave it
    (tmp_path / ".privaudit-tmp" / db.name / "duckdb_temp_storage-0.tmp").write_bytes(b"spill")
    os.link(db, tmp_path / "old-inode")       # the old file's bytes, seen after the purge
    age(db, 100)

    res = CliRunner().invoke(app, ["purge", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "16 loaded tables dropped, 1 rejected records deleted" in res.stdout
    assert "warning:" not in res.stderr, res.stderr

    for kind, found in values.items():
        assert in_bytes(db, found) == [], kind
    assert set((tmp_path / "old-inode").read_bytes()) == {0}      # overwritten, not just unlinked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.duckdb", "old-inode"]
    assert db.stat().st_mode & 0o777 == 0o600
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        assert tables == {"load_log", "rejected_rows", "runs", "rule_results", "findings"}
        assert con.execute("SELECT count(*) FROM rejected_rows").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM load_log WHERE purged_at IS NULL").fetchone()[0] == 0
        notes = con.execute("SELECT notes FROM load_log WHERE format = 'purged'").fetchall()
        assert len(notes) == 1 and "customers" in json.loads(notes[0][0])["tables_dropped"]
        assert con.execute("SELECT run_id, rule_id, violations FROM rule_results ORDER BY ALL"
                           ).fetchall() == history
    finally:
        con.close()
    with warnings.catch_warnings():       # purged: nothing expired any more
        warnings.simplefilter("error", RetentionWarning)
        database.connect(db, read_only=True, retention_days=1).close()

    rep = report(db, DATES[1], tmp_path / "rep", run_id=runs[1], notebooks=["summary"])
    assert rep.exit_code == 0, rep.messages()
    head = json.loads((tmp_path / "rep" / "headline" / "summary.json").read_text())
    assert head["history_dates"] == list(DATES)
    assert "2 audit dates: 2026-09-30, 2026-10-31" in (tmp_path / "rep" / "summary.html").read_text()


def test_an_encrypted_database_stays_encrypted_through_a_purge(exports, tmp_path, monkeypatch):
    monkeypatch.delenv(database.ENV_KEY_FILE, raising=False)
    monkeypatch.setattr(database, "_keyring_key", lambda: None)
    db = tmp_path / "enc.duckdb"
    load(exports, db=db, as_of=DATES[1], encrypt=True, key=KEY)
    monkeypatch.delenv(database.ENV_KEY, raising=False)
    res = CliRunner().invoke(app, ["purge", "--db", str(db)])
    assert res.exit_code == 2 and "no database key" in res.output
    monkeypatch.setenv(database.ENV_KEY, KEY)
    result = purge(db)
    assert result.tables_dropped and database.is_encrypted(db)
    con = database.connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM load_log WHERE format = 'purged'").fetchone()[0] == 1
    finally:
        con.close()


def test_purge_refuses_what_is_not_an_audit_database(tmp_path):
    with pytest.raises(UnusableInputError, match="database not found"):
        purge(tmp_path / "missing.duckdb")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(UnusableInputError, match="no load_log"):
        purge(other)
