"""The audit database (toolkit.database): encrypted at rest with DuckDB's own encryption, opened
by every consumer with the key, and a missing or wrong key is one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from toolkit import database
from toolkit.cli import app
from toolkit.exceptions import UnusableInputError
from toolkit.findings import audit
from toolkit.gate import gate
from toolkit.generate import generate
from toolkit.ingest import load
from toolkit.report import report

KEY = "correct-horse-battery-staple-42"
AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """One generated shop loaded twice: plain and encrypted (the key from PRIVAUDIT_DB_KEY)."""
    root = tmp_path_factory.mktemp("db")
    generate(root / "exports", customers=300, seed=11)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(database.ENV_KEY, KEY)
        mp.delenv(database.ENV_KEY_FILE, raising=False)
        load(root / "exports", db=root / "plain" / "audit.duckdb", as_of=AS_OF)
        load(root / "exports", db=root / "enc" / "audit.duckdb", as_of=AS_OF, encrypt=True)
        yield root


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv(database.ENV_KEY, KEY)
    monkeypatch.delenv(database.ENV_KEY_FILE, raising=False)


def personal_values(db: Path) -> dict[str, set[str]]:
    """E-mail addresses, names (5+ characters) and IBANs of the loaded shop."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        emails = {r[0] for r in con.execute("SELECT email FROM customers WHERE email IS NOT NULL"
                                            ).fetchall()}
        names = {r[0] for r in con.execute(
            "SELECT first_name FROM customers UNION SELECT last_name FROM customers").fetchall()
            if r[0] and len(r[0]) >= 5}
        ibans = {r[0] for r in con.execute("SELECT iban FROM payments WHERE iban IS NOT NULL"
                                           ).fetchall()}
    finally:
        con.close()
    return {"email": emails, "name": names, "iban": ibans}


def clear_in(path: Path, values: set[str]) -> list[str]:
    data = path.read_bytes()
    return [v for v in values if v.encode("utf-8") in data]


def test_an_encrypted_load_holds_no_email_name_or_iban_in_its_bytes(shop):
    values = personal_values(shop / "plain" / "audit.duckdb")
    assert all(len(v) > 20 for v in values.values()), {k: len(v) for k, v in values.items()}
    plain, enc = shop / "plain" / "audit.duckdb", shop / "enc" / "audit.duckdb"
    for kind, found in values.items():            # the plain file holds them: the scan can fail
        assert clear_in(plain, found), kind
    assert database.is_encrypted(enc) and not database.is_encrypted(plain)
    for kind, found in values.items():
        assert clear_in(enc, found) == [], kind
    # nothing next to it but the database: no plaintext copy, WAL or spill file
    left = [p for p in enc.parent.rglob("*") if p.is_file()]
    assert left == [enc], left
    assert enc.stat().st_mode & 0o777 == 0o600


def test_audit_gate_and_report_on_an_encrypted_load_equal_those_on_a_plain_load(shop, keyed):
    got = {}
    for kind in ("plain", "enc"):
        db, out = shop / kind / "audit.duckdb", shop / kind / "out"
        res = audit(db, AS_OF, out=out / "audit")
        frame = pd.read_csv(out / "audit" / "findings.csv").drop(columns=["run_id"])
        g = gate(db, AS_OF, docs=out / "gate")
        verdict = json.loads((out / "gate" / "gate.json").read_text())
        rep = report(db, AS_OF, out, run_id=res.run_id, notebooks=["summary", "free_text_pii"])
        assert rep.exit_code == 0, rep.messages()
        heads = {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "run_id"}
                 for p in sorted((out / "headline").glob("*.json"))}
        got[kind] = (frame, g.exit_code, verdict["summary"], verdict["rules"], heads)
    (pf, *prest), (ef, *erest) = got["plain"], got["enc"]
    assert len(pf) > 50 and pf.equals(ef)
    assert prest == erest and len(prest[-1]) == 2
    # the key is in no file the audit, gate and report wrote (notebooks, HTML, logs)
    for p in (shop / "enc" / "out").rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), p


def test_every_connection_to_an_encrypted_database_encrypts_its_spills(shop, keyed):
    con = database.connect(shop / "enc" / "audit.duckdb", read_only=True)
    try:
        assert con.execute("SELECT current_setting('temp_file_encryption')").fetchone()[0] is True
        assert con.execute("SELECT current_database()").fetchone()[0] == database.CATALOG
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 300
    finally:
        con.close()
    con = database.connect(shop / "plain" / "audit.duckdb", read_only=True)   # the key is unused
    try:
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 300
    finally:
        con.close()


@pytest.mark.parametrize("env, says", [
    ({}, "encrypted: no database key (set PRIVAUDIT_DB_KEY"),
    ({database.ENV_KEY: "not-the-key-at-all-0000"}, "wrong key for this encrypted database"),
    ({database.ENV_KEY: "short"}, "at least 16 characters"),
])
def test_a_missing_wrong_or_short_key_is_one_line_exit_2(shop, monkeypatch, env, says):
    monkeypatch.delenv(database.ENV_KEY, raising=False)
    monkeypatch.delenv(database.ENV_KEY_FILE, raising=False)
    monkeypatch.setattr(database, "_keyring_key", lambda: None)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    db = shop / "enc" / "audit.duckdb"
    before = db.read_bytes()
    for args in (["audit", "--db", str(db), "--as-of", AS_OF, "--out", str(shop / "x")],
                 ["gate", "--db", str(db), "--as-of", AS_OF]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error:") and says in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1 and "not-the-key" not in res.output
    assert db.read_bytes() == before


def test_the_key_file_option_opens_an_encrypted_database(shop, tmp_path, monkeypatch):
    monkeypatch.delenv(database.ENV_KEY, raising=False)
    monkeypatch.setenv(database.ENV_KEY_FILE, "")         # restored after the test
    key_file = tmp_path / "db.key"
    key_file.write_text(KEY + "\n")                       # a final newline is not the key
    res = CliRunner().invoke(app, ["--key-file", str(key_file), "audit", "--db",
                                   str(shop / "enc" / "audit.duckdb"), "--as-of", AS_OF,
                                   "--rules", "RET-001"])
    assert res.exit_code in (0, 1), res.output
    assert "RET-001" in res.output and KEY not in res.output


def test_encrypt_refuses_an_existing_plain_database_and_a_reload_stays_encrypted(shop, tmp_path,
                                                                                 keyed):
    plain = tmp_path / "p.duckdb"
    load(shop / "exports", db=plain, as_of=AS_OF)
    before = plain.read_bytes()
    with pytest.raises(UnusableInputError, match="not encrypted stays so"):
        load(shop / "exports", db=plain, as_of=AS_OF, encrypt=True)
    assert plain.read_bytes() == before
    enc = tmp_path / "e.duckdb"
    load(shop / "exports", db=enc, as_of=AS_OF, encrypt=True, key=KEY + "-other")
    with pytest.raises(UnusableInputError, match="wrong key"):
        load(shop / "exports", db=enc, as_of=AS_OF)           # PRIVAUDIT_DB_KEY is not its key
    load(shop / "exports", db=enc, as_of=AS_OF, key=KEY + "-other")   # reload: stays encrypted
    assert database.is_encrypted(enc)
    emails = personal_values(shop / "plain" / "audit.duckdb")["email"]
    assert clear_in(enc, emails) == []


def test_a_quote_in_the_key_or_the_path_is_data_not_sql(tmp_path, keyed):
    odd = tmp_path / "it's here" / "a.duckdb"
    key = "it's a key'); DROP TABLE x; --"
    con = database.connect(odd, encrypt=True, key=key)
    con.execute("CREATE TABLE t AS SELECT 'x@example.nl' AS email")
    con.close()
    assert database.is_encrypted(odd) and b"x@example.nl" not in odd.read_bytes()
    con = database.connect(odd, read_only=True, key=key)
    try:
        assert con.execute("SELECT email FROM t").fetchone()[0] == "x@example.nl"
    finally:
        con.close()


def test_a_relative_key_file_reaches_the_notebooks_kernel(shop, tmp_path, monkeypatch):
    """The kernel runs in a folder of its own: PRIVAUDIT_DB_KEY_FILE is handed over resolved."""
    monkeypatch.delenv(database.ENV_KEY, raising=False)
    monkeypatch.setattr(database, "_keyring_key", lambda: None)
    (tmp_path / "db.key").write_text(KEY + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(database.ENV_KEY_FILE, "db.key")
    db = shop / "enc" / "audit.duckdb"
    run_id = audit(db, AS_OF).run_id
    rep = report(db, AS_OF, tmp_path / "out", run_id=run_id, notebooks=["summary"])
    assert rep.exit_code == 0, rep.messages()
    for p in (tmp_path / "out").rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), p


@pytest.mark.parametrize("budget, duckdb_bytes", [
    ("1GB", 700_000_000), ("700MB", 490_000_000), ("2GiB", int(2 * 1024 ** 3 * 0.7)),
    (" 4gb ", 2_800_000_000)])
def test_duckdb_gets_70_percent_of_the_process_memory_budget(tmp_path, monkeypatch, budget,
                                                              duckdb_bytes):
    """PRIVAUDIT_MEMORY_LIMIT is the whole process's budget; every connection the toolkit opens
    (plain and encrypted) gives DuckDB's buffer pool 70 % of it."""
    monkeypatch.setenv(database.ENV_MEMORY, budget)
    expected = duckdb.connect()
    expected.execute(f"SET memory_limit = '{duckdb_bytes}B'")
    want = expected.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    for db, enc in ((tmp_path / "plain.duckdb", False), (tmp_path / "enc.duckdb", True)):
        if enc:
            monkeypatch.setenv(database.ENV_KEY, KEY)
        con = database.connect(db, encrypt=enc)
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == want
        con.close()


def test_the_memory_budget_defaults_to_1gb_and_refuses_what_is_no_size(tmp_path, monkeypatch):
    monkeypatch.delenv(database.ENV_MEMORY, raising=False)
    assert database.memory_budget() == 1_000_000_000
    for bad in ("lots", "1 GBs", "-1GB", "10MB"):
        monkeypatch.setenv(database.ENV_MEMORY, bad)
        with pytest.raises(database.PrivauditError, match="PRIVAUDIT_MEMORY_LIMIT"):
            database.connect(tmp_path / "x.duckdb")
        assert not (tmp_path / "x.duckdb").exists()        # refused before anything is made
