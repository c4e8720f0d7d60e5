"""CKE-001 ... CKE-004 and the offline classification (Appendix A's cookie scenario and more)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from toolkit import cookies

AS_OF = "2025-03-02"
# the Open Cookie Database's CSV export (Apache-2.0; tests/data/NOTICE-open-cookie-database.md)
OCD = Path(__file__).resolve().parents[1] / "data" / "open-cookie-database.csv"


def obs(oid, name, domain, state="none", kind="cookie", session=True, declared="functional",
        expires=None, vendor=None):
    return {"observation_id": oid, "scan_id": "scan-" + state, "scanned_at": "2025-02-01T10:00:00Z",
            "page_url": "https://www.contractstatus.nl/", "consent_state": state, "storage_kind": kind,
            "name": name, "domain": domain, "path": "/", "expires_at": expires, "is_session": session,
            "declared_category": declared, "vendor": vendor}


SCAN = [
    obs("php", "PHPSESSID", "www.contractstatus.nl"),
    obs("ga", "_ga", ".contractstatus.nl", session=False, declared="functional",
        expires="2027-02-01T10:00:00Z"),
    obs("fr", "fr", ".facebook.com", session=False, declared="marketing",
        expires="2025-05-01T10:00:00Z"),
    obs("ls", "reco_profile", "www.contractstatus.nl", state="rejected", kind="local_storage",
        session=None, declared="personalisation"),
    obs("sub", "cart", "shop.smootdiensten.nl"),
    obs("typo", "sess", "contrachtstatus.nl"),
    obs("dot", "lang", ".smootdiensten.nl", state="accepted_all"),
    obs("after_accept", "_gid", ".contractstatus.nl", state="accepted_all", declared="analytics"),
    obs("generic_c", "c", "www.contractstatus.nl"),     # OCD knows "c" only on ad domains
    obs("mystery", "zz_9", "www.contractstatus.nl", declared="unknown"),
]


def test_appendix_a_cookie_scenario(audit_of):
    got = audit_of({"cookie_observations": SCAN}, AS_OF, "CKE-*")
    assert set(got["CKE-001"]) == {"fr", "typo"}
    assert set(got["CKE-002"]) == {"ga", "fr", "ls"}
    assert set(got["CKE-003"]) == {"ga", "fr", "ls", "after_accept", "mystery"}
    assert set(got["CKE-004"]) == {"ga", "fr", "ls", "typo", "mystery"}
    ga = json.loads(got["CKE-003"]["ga"]["details"])
    assert ga["category"] == "analytics"
    assert ga["reclassified"] == "declared functional, known to policy pattern as analytics"
    assert json.loads(got["CKE-003"]["mystery"]["details"])["unclassified"] is True
    for rule in got.values():
        assert "php" not in rule and "sub" not in rule and "generic_c" not in rule


def test_the_open_cookie_database_reclassifies_beyond_the_policy_patterns(audit_of):
    got = audit_of({"cookie_observations": [
        obs("hubspot", "__hstc", ".contractstatus.nl", declared="functional"),
        obs("bing", "MUID", ".bing.com", declared="functional")]}, AS_OF, "CKE-003")["CKE-003"]
    assert set(got) == {"hubspot", "bing"}
    assert "Open Cookie Database" in json.loads(got["hubspot"]["details"])["reclassified"]


def test_policy_switches(audit_of):
    from toolkit.policy import load_policy
    pol = load_policy()
    lax = pol.model_copy(update={"cookies": pol.cookies.model_copy(update={
        "session_only": False, "first_party_only": False, "allowed_categories": ["functional", "analytics"]})})
    got = audit_of({"cookie_observations": SCAN}, AS_OF, "CKE-00[123]", policy=lax)
    assert "CKE-001" not in got and "CKE-002" not in got
    assert set(got["CKE-003"]) == {"fr", "ls", "mystery"}


def test_shipped_classification_is_derived_from_the_database():
    rows = cookies.derive(OCD)
    with open(cookies.CLASSES, newline="", encoding="utf-8") as f:
        shipped = list(csv.DictReader(f))
    assert [(r["name"], r["is_prefix"] == "1", r["category"]) for r in shipped] == [
        (r["name"], r["is_prefix"], r["category"]) for r in rows]
    assert len(shipped) > 2000


def test_attribution_ships_with_the_table():
    notice = (cookies.DATA / "NOTICE-open-cookie-database.md").read_text()
    assert "Apache License, Version 2.0" in notice and "Open-Cookie-Database" in notice


# ---------------------------------------------------------------- raw scans: nothing declared

def raw(oid, name, domain, expires=None, max_age=None, state="none"):
    """A raw scanner row: no declared category, no session flag, no storage kind."""
    return {"observation_id": oid, "scan_id": "s1", "scanned_at": "2025-02-01T10:00:00Z",
            "page_url": "https://www.contractstatus.nl/", "consent_state": state, "name": name,
            "domain": domain, "expires_at": expires, "max_age_s": max_age}


RAW = [
    raw("php", "PHPSESSID", "www.contractstatus.nl"),                        # OCD functional, session
    raw("sentinel", "PHPSESSID", "www.contractstatus.nl", "1970-01-01T00:00:00Z"),   # expiry -1 / 0
    raw("gone", "ASP.NET_SessionId", "www.contractstatus.nl", "2025-01-01T00:00:00Z"),  # expired
    raw("maxage0", "ASP.NET_SessionId", "www.contractstatus.nl", "2026-01-01T00:00:00Z", 0),  # Max-Age wins
    raw("ga", "_ga", ".contractstatus.nl", "2027-02-01T10:00:00Z"),          # policy pattern
    raw("hubspot", "__hstc", ".contractstatus.nl", max_age=86400 * 180),     # OCD marketing
    raw("far", "cookielawinfo-checkbox-necessary", "www.contractstatus.nl",
        "9999-12-31T23:59:59Z"),                                             # far future: lasting
    raw("mystery", "zz_9", "www.contractstatus.nl"),                         # nobody knows it
]


def test_cookie_rules_classify_a_raw_scan_without_declarations(audit_of):
    got = audit_of({"cookie_observations": RAW}, AS_OF, "CKE-*")
    res = audit_of.last
    assert {r.rule_id: r.status for r in res.rules} == dict.fromkeys(
        ("CKE-001", "CKE-002", "CKE-003", "CKE-004"), "evaluated")
    assert set(got["CKE-002"]) == {"ga", "hubspot", "far"}
    assert set(got["CKE-003"]) == {"ga", "hubspot", "mystery"}
    assert set(got["CKE-004"]) == {"ga", "hubspot", "mystery"}
    d = {k: json.loads(v["details"]) for k, v in got["CKE-003"].items()}
    assert (d["ga"]["category"], d["ga"]["category_source"]) == ("analytics", "policy pattern")
    assert (d["hubspot"]["category"], d["hubspot"]["category_source"]) == (
        "marketing", "Open Cookie Database")
    assert (d["mystery"]["category"], d["mystery"]["category_source"]) == ("unknown", "unclassified")
    assert d["ga"]["storage"] == "cookie" and d["ga"]["reclassified"] is None
    assert json.loads(got["CKE-002"]["far"]["details"])["persistent_by"] == "expiry"
    assert json.loads(got["CKE-004"]["hubspot"]["details"])["category_source"] == "Open Cookie Database"
    # how many observations stayed unclassified, and where the others' categories came from
    assert res.cookie_categories == {"Open Cookie Database": 6, "policy pattern": 1,
                                     "unclassified": 1}


def test_declared_categories_still_win_and_are_named(audit_of):
    got = audit_of({"cookie_observations": SCAN}, AS_OF, "CKE-003")["CKE-003"]
    d = {k: json.loads(v["details"]) for k, v in got.items()}
    assert d["fr"]["category_source"] == "declared"
    assert d["ga"]["category_source"] == "policy pattern"      # declared functional, known as analytics
    assert audit_of.last.cookie_categories["declared"] >= 5


def test_unclassified_count_is_in_the_manifest_and_on_the_terminal(tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    from .conftest import build_db
    db = build_db(tmp_path / "c.duckdb", {"cookie_observations": RAW})
    res = CliRunner().invoke(app, ["audit", "--db", str(db), "--as-of", AS_OF, "--rules", "CKE-*",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "cookie categories: 8 observations; Open Cookie Database 6, policy pattern 1, " \
           "unclassified 1" in " ".join(res.output.split())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["cookie_categories"]["unclassified"] == 1
