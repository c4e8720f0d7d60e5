"""The statement against the data (review --db) and the policy drafted from a statement, on a
generated shop: the TRN rows reproduce the planted truth, and the drafted policy audits exactly as
the shipped one."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.generate import generate
from toolkit.policy import load_policy
from toolkit.statement import draft_policy, review

DATA = Path(__file__).parent / "data" / "statements"
SEED = Path(__file__).parents[1] / "toolkit" / "policies" / "contractstatus.nl.statement.txt"
AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("practice")
    generate(root / "exports", customers=400, seed=3)
    db = root / "audit.duckdb"
    toolkit.load(root / "exports", db=db)
    truth = defaultdict(set)
    with open(root / "exports" / "_truth" / "findings.csv", newline="") as f:
        for row in csv.DictReader(f):
            truth[row["rule_id"]].add(row["subject_id"])
    return root, db, truth


def test_review_with_data_reproduces_the_truth(shop):
    root, db, truth = shop
    res = review(SEED, db=db, as_of=AS_OF, out=root / "review")
    for rid in ("TRN-001", "TRN-002", "TRN-003", "TRN-005"):
        c = res.check(rid)
        assert c.verdict == "inconsistent", (rid, c.explanation)
        assert {d["subject_id"] for d in c.details} == truth[rid], rid
    assert "social login" in res.check("TRN-003").explanation
    assert any("sociale" in q.text or "social media" in q.text for q in res.check("TRN-003").quotes)
    assert "Doelgroep Media B.V. (advertising)" in res.check("TRN-002").explanation
    assert "Alpen Paketdienst AG (delivery in CH)" in res.check("TRN-002").explanation
    assert res.check("TRN-005").gdpr_ref == "Art. 13(3)"
    trn1 = res.check("TRN-001")
    assert "customers.telefoon_afleveradres (phone)" in trn1.explanation
    # the statement half: the call transcripts, a kind of data the statement never names (S2)
    assert "calls.transcript (call_recordings)" in trn1.explanation
    assert "of a kind the statement does not name" in trn1.explanation
    assert next(d for d in trn1.details if d["subject_id"] == "calls.transcript")["severity"] == "S2"
    # quoted: the sentences naming the kinds it does name; each location once in "where"
    assert any("e-mailadres, adres(sen), betaalgegevens" in q.text for q in trn1.quotes)
    for c in res.checks:
        where = [w for w in c.row()["where"].split("; ") if w]
        assert len(where) == len(set(where)), (c.check_id, where)
    rows = list(csv.DictReader(open(root / "review" / "statement_findings.csv", encoding="utf-8")))
    assert {r["check_id"] for r in rows} >= {"TRN-001", "TRN-002", "TRN-003", "TRN-005",
                                             "TRN-004", "TRN-005-DATE"}


def test_a_complete_statement_against_the_same_data(shop):
    """The complete statement discloses carriers, the distribution centre, the payment provider,
    sellers and US hosting, but not e-mail services, research, a customer-service party,
    authorities, advertising or analytics, and no Swiss transfers; it describes no social login,
    so TRN-003 has nothing to miss there."""
    _, db, _ = shop
    res = review(DATA / "complete.nl.md", db=db, as_of=AS_OF)
    flagged = {d["subject_id"] for d in res.check("TRN-002").details}
    assert flagged == {"R08", "R09", "R11", "R12", "R14", "R15", "R16", "R17", "R21"}
    assert res.check("TRN-003").verdict == "present"
    # dated 2026-03-01: only recipients first seen after that day are new
    assert {d["subject_id"] for d in res.check("TRN-005").details} <= {"R90", "R91"}
    assert res.exit_code == 0          # inconsistencies with the data do not fail the text review


def test_review_with_db_needs_as_of(shop):
    _, db, _ = shop
    r = CliRunner().invoke(app, ["statement", "review", str(SEED), "--db", str(db)])
    assert r.exit_code == 2 and "--as-of" in r.output


def test_policy_draft_round_trip(shop, tmp_path):
    _, db, _ = shop
    out = tmp_path / "drafted.yaml"
    r = CliRunner().invoke(app, ["policy", "draft", str(SEED), "--out", str(out)])
    assert r.exit_code == 0, r.output
    drafted = load_policy(out)
    shipped = load_policy()
    assert drafted.first_party_domains == ["contractstatus.nl", "smootdiensten.nl"]
    assert drafted.retention.inactivity_months == 12 and drafted.statement.date == shipped.statement.date
    assert drafted.controller.contact == "info@smootdiensten.nl"
    assert drafted.controller.address == shipped.controller.address
    assert set(drafted.transparency.disclosed_recipient_categories) == \
        set(shipped.transparency.disclosed_recipient_categories)
    assert set(drafted.transparency.described_processing) == \
        set(shipped.transparency.described_processing)
    assert drafted.transparency.disclosed_data_categories == \
        shipped.transparency.disclosed_data_categories
    assert drafted.gate == shipped.gate and drafted.clauses == shipped.clauses
    assert drafted.processing == shipped.processing
    a = toolkit.audit(db, AS_OF, store=False)
    b = toolkit.audit(db, AS_OF, policy=drafted, store=False)
    assert [(r.rule_id, r.status, r.violations) for r in a.rules] == \
        [(r.rule_id, r.status, r.violations) for r in b.rules]
    key = lambda f: (f["rule_id"], f["subject_id"], f["severity"], f["evidence"])  # noqa: E731
    assert sorted(map(key, a.findings)) == sorted(map(key, b.findings))


def test_policy_draft_quotes_and_confirms():
    text = draft_policy(SEED)
    data = yaml.safe_load(text)
    assert data["retention"]["inactivity_months"] == 12
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.strip().startswith("inactivity_months:"))
    assert "12 maanden na uw laatste bezoek" in lines[i - 1] and "art. 7.1" in lines[i - 1]
    assert "not contrachtstatus.nl: a look-alike of contractstatus.nl" in text
    # each category of personal data the statement names, with the sentence naming it
    lines_ = text.splitlines()
    i = next(n for n, ln in enumerate(lines_) if ln.strip().startswith("disclosed_data_categories:"))
    assert data["transparency"]["disclosed_data_categories"] == [
        "account", "address", "chats", "email", "ip_address", "name", "notes",
        "online_identifiers", "payment", "phone"]
    assert any(ln.strip().startswith("# chats:") and "bewaart chats" in ln and "art. 1.5" in ln
               for ln in lines_[i - 12:i])
    assert "oss_registered: false  # confirm" in text
    # no statement: every rule quote the base policy has was found in the seed, so none is confirmed
    assert "quote is not in this statement" not in text


def test_policy_draft_of_another_statement_marks_what_it_could_not_find():
    text = draft_policy(DATA / "complete.en.html")
    data = yaml.safe_load(text)
    assert data["first_party_domains"] == ["contractstatus.nl", "smootdiensten.nl"]
    assert data["controller"] == {"name": "Smootdiensten B.V.", "contact": "privacy@smootdiensten.nl",
                                  "address": "Gentiaanstraat 256, 7322 BX Apeldoorn"}
    assert data["statement"]["date"].isoformat() == "2026-03-01" and data["statement"]["language"] == "en"
    assert data["transparency"]["disclosed_countries"] == ["US"]
    assert "payment_provider" in data["transparency"]["disclosed_recipient_categories"]
    assert "quote is not in this statement" in text       # the Dutch quotes of the base policy
    toolkit.policy.parse_policy(data)


def test_policy_draft_unusable_input(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("", encoding="utf-8")
    r = CliRunner().invoke(app, ["policy", "draft", str(p)])
    assert r.exit_code == 2 and "too short" in r.output
