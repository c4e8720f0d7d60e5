"""A minimised load (toolkit.minimise, issue 22; work in progress on the auditor branch)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from toolkit import database, minimise
from toolkit.findings import audit
from toolkit.generate import generate
from toolkit.ingest import load

KEY = "correct-horse-battery-staple-42"
AS_OF = "2026-10-31"
# the rules whose findings a minimised load does not reproduce yet (docs/minimise.md)
NOT_YET = {"SEC-001", "SEC-002", "SEC-004", "SEC-006"}


@pytest.fixture(scope="module")
def shops(tmp_path_factory):
    root = tmp_path_factory.mktemp("min")
    generate(root / "exports", customers=300, seed=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(database.ENV_KEY, KEY)
        load(root / "exports", db=root / "full.duckdb", as_of=AS_OF)
        load(root / "exports", db=root / "min.duckdb", as_of=AS_OF, minimise=True)
        yield root


def by_rule(db, out):
    res = audit(db, AS_OF, out=out)
    frame = pd.read_csv(out / "findings.csv").drop(columns=["run_id"])
    return {r.rule_id: frame[frame.rule_id == r.rule_id].reset_index(drop=True) for r in res.rules}


def test_the_keyed_hash_matches_equal_values_and_depends_on_the_key():
    a = minimise.keyed_hash(KEY, " Jan@Example.NL")
    assert a == minimise.keyed_hash(KEY, "jan@example.nl") and len(a) == 64
    assert a != minimise.keyed_hash(KEY + "x", "jan@example.nl")
    assert minimise.keyed_hash(KEY, None) is None


def test_a_minimised_load_keeps_no_name_or_message_text(shops):
    con = duckdb.connect(str(shops / "full.duckdb"), read_only=True)
    names = {r[0] for r in con.execute("SELECT first_name FROM customers UNION SELECT last_name "
                                       "FROM customers").fetchall() if r[0] and len(r[0]) >= 5}
    msgs = {r[0] for r in con.execute("SELECT body FROM chat_messages WHERE length(body) > 30"
                                      ).fetchall()}
    emails = {r[0] for r in con.execute("SELECT email FROM customers WHERE email IS NOT NULL"
                                        ).fetchall()}
    con.close()
    data = (shops / "min.duckdb").read_bytes()
    assert names and msgs and emails
    assert [v for v in names | msgs if v.encode() in data] == []
    con = duckdb.connect(str(shops / "min.duckdb"), read_only=True)
    try:
        stored = {r[0] for r in con.execute("SELECT email FROM customers WHERE email IS NOT NULL"
                                            ).fetchall()}
    finally:
        con.close()
    assert stored == {minimise.keyed_hash(KEY, e) for e in emails}


def test_rules_give_the_same_findings_on_a_minimised_load(shops):
    full = by_rule(shops / "full.duckdb", shops / "full-out")
    mini = by_rule(shops / "min.duckdb", shops / "min-out")
    assert full.keys() == mini.keys()
    same = {rid for rid in full if full[rid].equals(mini[rid])}
    assert set(full) - NOT_YET <= same, sorted(set(full) - NOT_YET - same)


@pytest.mark.xfail(strict=True, reason="card and free-text rules need load-time facts "
                   "(docs/minimise.md); e-mail addresses in extra columns are kept")
def test_done_when_every_rule_identical_and_no_email_in_the_file(shops):
    full = by_rule(shops / "full.duckdb", shops / "full-out2")
    mini = by_rule(shops / "min.duckdb", shops / "min-out2")
    assert all(full[r].equals(mini[r]) for r in full)
    assert b"@xs4all.nl" not in (shops / "min.duckdb").read_bytes()
