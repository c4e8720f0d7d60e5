"""The policy file: the shipped statement, a second example, and errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from toolkit.exceptions import PolicyError
from toolkit.policy import DEFAULT_POLICY, load_policy, parse_policy
from toolkit.rules import REGISTRY


def test_default_policy_codifies_the_statement():
    p = load_policy()
    assert p.controller.name == "Smootdiensten"
    assert str(p.statement.date) == "2018-05-13"
    assert p.first_party_domains == ["contractstatus.nl", "smootdiensten.nl"]
    assert (p.retention.inactivity_months, p.retention.grace_days, p.retention.fiscal_years,
            p.retention.fiscal_year_end) == (12, 0, 7, "12-31")
    assert p.newsletters.unsubscribe_grace_days == 2
    assert p.sharing.seller_window_days == 90
    assert "NO" in p.sharing.eea_countries and "US" not in p.sharing.eea_countries
    assert p.dsr.deadline_months == 1 and p.dsr.extension_months == 2
    assert len(p.sha256) == 64 and p.source.endswith("contractstatus.nl.yaml")


def test_every_policy_rule_cites_clause_quote_and_basis():
    p = load_policy()
    for rid, spec in p.rules.items():
        assert rid in REGISTRY, rid
        assert spec.clause and spec.basis and spec.quote, rid
        assert spec.severity in ("S1", "S2", "S3", "S4", "INFO")


def test_second_example_policy():
    p = load_policy("example-24-months")
    assert p.retention.inactivity_months == 24
    assert p.rules["RET-006"].enabled is False


def _data():
    return yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("change,message", [
    (lambda d: d["retention"].update(inactivity_months=0), "retention.inactivity_months: Input should be greater than or equal to 1"),
    (lambda d: d["retention"].update(fiscal_year_end="02-30"), "retention.fiscal_year_end: 02-30 is not a day of the year"),
    (lambda d: d["retention"].update(residue_tables=["klanten"]), "retention.residue_tables: 'klanten' is not a canonical table"),
    (lambda d: d.update(timezone="Mars/Base"), "timezone: unknown time zone"),
    (lambda d: d.update(first_party_domains=["not a domain"]), "first_party_domains: 'not a domain' is not a domain name"),
    (lambda d: d["rules"]["RET-001"].update(severity="S9"), "rules.RET-001.severity"),
    (lambda d: d["rules"].update({"RET001": d["rules"]["RET-001"]}), "rules: 'RET001' is not a rule id"),
    (lambda d: d.update(retentie={}), "retentie: Extra inputs are not permitted"),
    (lambda d: d.pop("statement"), "statement: Field required"),
    (lambda d: d["cookies"]["tracker_patterns"].append({"pattern": "(", "category": "x"}), "cookies.tracker_patterns.12.pattern"),
    (lambda d: d["sharing"].update(eea_countries=["NL", False]), "sharing.eea_countries.1"),
    (lambda d: d["transparency"].update(disclosed_data_categories=["name", "shoe_size"]),
     "transparency.disclosed_data_categories: 'shoe_size' is not a category of personal data"),
    # TRN-001 judges the data against the categories the statement names: they must be codified
    (lambda d: d["transparency"].pop("disclosed_data_categories"),
     "transparency.disclosed_data_categories: required by rule TRN-001"),
])
def test_malformed_policy_is_refused_naming_the_key(change, message):
    d = _data()
    change(d)
    with pytest.raises(PolicyError) as e:
        parse_policy(d, where="p.yaml")
    assert f"p.yaml: {message}" in str(e.value)


def test_unreadable_policy_files(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    bad.write_text("- a list\n")
    with pytest.raises(PolicyError, match="expected a mapping"):
        load_policy(bad)
