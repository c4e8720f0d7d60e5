"""TRN-002, TRN-003, TRN-005: the statement (the policy's transparency section and statement date)
against hand-built data, with the catalogue's edge cases."""

from __future__ import annotations

import json

import pytest

import toolkit
from toolkit.policy import load_policy

AS_OF = "2025-03-02"


def recipient(rid, category, role="processor", country="NL", disclosed=None):
    row = {"recipient_id": rid, "name": rid.title(), "role": role, "category": category,
           "country_code": country}
    if disclosed is not None:
        row["disclosed_in_statement"] = disclosed
    return row


def transfer(tid, rid, ts, country=None):
    return {"transfer_id": tid, "recipient_id": rid, "transferred_at": ts, "customer_id": "c1",
            "fields": ["email"], "destination_country": country}


def details(f):
    return json.loads(f["details"])


def test_trn002_undisclosed_category_and_country(audit_of):
    got = audit_of({
        "recipients": [recipient("carrier", "delivery"), recipient("psp", "payment_provider"),
                       recipient("ads", "advertising"), recipient("host", "hosting", country="US"),
                       recipient("ch", "delivery", country="CH"), recipient("idle", "analytics"),
                       recipient("reg", "email_service", disclosed=True),
                       recipient("hidden", "delivery", disclosed=False)],
        "transfers": [transfer("t1", "carrier", "2024-05-01T10:00:00Z"),
                      transfer("t2", "psp", "2024-05-01T10:00:00Z"),
                      transfer("t3", "ads", "2024-05-01T10:00:00Z"),
                      transfer("t4", "host", "2024-05-01T10:00:00Z"),
                      transfer("t5", "ch", "2024-05-01T10:00:00Z"),
                      transfer("t6", "carrier", "2024-06-01T10:00:00Z", country="GB"),
                      transfer("t7", "reg", "2024-06-01T10:00:00Z"),
                      transfer("t8", "hidden", "2024-06-01T10:00:00Z"),
                      transfer("t9", "ghost", "2024-06-01T10:00:00Z")]},
        AS_OF, "TRN-002")["TRN-002"]
    # carrier: disclosed category, but one parcel went to GB, which the statement does not name
    assert set(got) == {"carrier", "psp", "ads", "host", "ch", "hidden"}
    assert details(got["carrier"])["undisclosed_countries"] == ["GB"]
    assert details(got["carrier"])["category_disclosed"] is True
    assert details(got["host"])["undisclosed_countries"] == ["US"]
    assert got["ads"]["severity"] == "S2" and got["psp"]["severity"] == "S3"
    assert details(got["psp"])["transfers"] == 1
    assert audit_of.last.rules[0].population == 7       # registered recipients that received data


def test_trn002_named_third_country_is_disclosed(audit_of, tmp_path):
    pol = load_policy()
    tr = pol.transparency.model_copy(update={"disclosed_countries": ["US"],
                                             "disclosed_recipient_categories": ["hosting"]})
    got = audit_of({"recipients": [recipient("host", "hosting", country="US")],
                    "transfers": [transfer("t1", "host", "2024-05-01T10:00:00Z")]},
                   AS_OF, "TRN-002", policy=pol.model_copy(update={"transparency": tr}))
    assert got == {}


def test_trn003_described_without_evidence(audit_of):
    got = audit_of({
        "recipients": [recipient("carrier", "delivery"), recipient("lab", "research_agency")],
        "transfers": [transfer("t1", "carrier", "2024-05-01T10:00:00Z")],
        "chats": [{"chat_id": "ch1", "customer_id": "c1", "started_at": "2024-05-01T10:00:00Z"}],
        "newsletter_sends": [{"send_id": "s1", "customer_id": "c1", "newsletter_type": "general",
                              "sent_at": "2024-05-01T10:00:00Z", "personalised": False}]},
        AS_OF, "TRN-003")["TRN-003"]
    # calls, cookie_observations and order_items are not exported: those processings are not
    # judged unless another exported table could show them
    assert set(got) == {"distribution_centre", "external_sellers", "cs_outsourcer",
                        "research_invitations", "personalised_newsletters", "social_login",
                        "social_sharing"}
    assert all(f["subject_table"] == "statement" for f in got.values())
    ext = details(got["external_sellers"])
    assert ext["looked_in"] == ["transfers to external_seller recipients"]
    assert ext["not_exported"] == ["order lines of external sellers"]
    rr = audit_of.last.rules[0]
    assert rr.population == 12 and "calls" in rr.missing


def test_trn003_only_what_the_statement_describes(audit_of):
    pol = load_policy()
    tr = pol.transparency.model_copy(update={"described_processing": ["delivery"]})
    got = audit_of({"recipients": [recipient("carrier", "delivery")],
                    "transfers": [transfer("t1", "carrier", "2024-05-01T10:00:00Z")]},
                   AS_OF, "TRN-003", policy=pol.model_copy(update={"transparency": tr}))
    assert got == {}


def test_trn005_first_seen_after_the_statement_date(audit_of):
    # the shipped statement is dated 2018-05-13
    got = audit_of({
        "recipients": [recipient("old", "delivery"), recipient("same_day", "distribution_centre"),
                       recipient("next_day", "distribution_centre"),
                       recipient("late_contract", "hosting"), recipient("tax", "authority", role="authority")],
        "recipient_agreements": [
            {"agreement_id": "a1", "recipient_id": "old", "signed_on": "2018-05-01", "valid_from": "2018-05-25"},
            {"agreement_id": "a2", "recipient_id": "same_day", "signed_on": "2018-05-13", "valid_from": "2018-05-13"},
            {"agreement_id": "a3", "recipient_id": "next_day", "signed_on": "2018-05-14", "valid_from": "2018-05-14"},
            # backdated: valid from before the statement although signed after it
            {"agreement_id": "a4", "recipient_id": "late_contract", "signed_on": "2019-02-01", "valid_from": "2018-01-01"}],
        "transfers": [transfer("t1", "old", "2024-05-01T10:00:00Z"),
                      transfer("t2", "same_day", "2024-05-01T10:00:00Z"),
                      transfer("t3", "next_day", "2024-05-01T10:00:00Z"),
                      transfer("t4", "late_contract", "2024-05-01T10:00:00Z"),
                      transfer("t5", "tax", "2024-05-01T10:00:00Z"),
                      transfer("t6", "ghost", "2018-05-13T21:30:00Z"),    # 05-13 23:30 Amsterdam
                      transfer("t7", "ghost2", "2018-05-13T22:30:00Z")]},  # 05-14 00:30 Amsterdam
        AS_OF, "TRN-005")["TRN-005"]
    assert set(got) == {"next_day", "ghost2"}
    nd = got["next_day"]
    assert str(nd["due_date"]) == "2018-05-14" and details(nd)["first_agreement"] == "2018-05-14"
    assert details(got["ghost2"])["registered"] is False


def test_trn005_a_new_statement_date_clears_the_older_recipients(audit_of):
    pol = load_policy()
    pol = pol.model_copy(update={"statement": pol.statement.model_copy(
        update={"date": __import__("datetime").date(2024, 6, 1)})})
    got = audit_of({"recipients": [recipient("a", "delivery"), recipient("b", "delivery")],
                    "transfers": [transfer("t1", "a", "2024-05-01T10:00:00Z"),
                                  transfer("t2", "b", "2024-06-02T10:00:00Z")]},
                   AS_OF, "TRN-005", policy=pol)
    assert set(got["TRN-005"]) == {"b"}


def test_trn_rules_need_the_transparency_section(tmp_path):
    text = (toolkit.policy.DEFAULT_POLICY.read_text(encoding="utf-8")
            .split("# what the statement discloses")[0]
            + "dsr:" + toolkit.policy.DEFAULT_POLICY.read_text(encoding="utf-8").split("\ndsr:", 1)[1])
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(toolkit.policy.PolicyError, match=r"p.yaml: transparency: required by rules "
                                                         r"TRN-002, TRN-003"):
        load_policy(p)
    bad = toolkit.policy.DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "disclosed_countries: []", "disclosed_countries: [usa]")
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(toolkit.policy.PolicyError, match="transparency.disclosed_countries: .usa. is not a two-letter"):
        load_policy(p)


# ---------------------------------------------------------------- TRN-001: the statement half

def test_trn001_filled_personal_columns_of_kinds_the_statement_does_not_name(audit_of):
    """The shipped statement names name, e-mail, address, payment, phone, IP address, cookies,
    account, chats and notes; not birth dates, gender, device data or call recordings."""
    got = audit_of({
        "customers": [
            {"customer_id": "c1", "created_at": "2024-01-01T10:00:00Z", "first_name": "Piet",
             "email": "p@x.nl", "birth_date": "1980-01-01", "gender": " "},
            {"customer_id": "c2", "created_at": "2023-06-01T10:00:00Z", "first_name": "Jan",
             "birth_date": "1990-02-02", "gender": ""},
            {"customer_id": "c3", "created_at": "2025-06-01T10:00:00Z", "gender": "m"}],   # after as_of
        "visits": [{"visit_id": "v1", "customer_id": "c1", "started_at": "2024-03-01T10:00:00Z",
                    "ip_address": "83.84.85.86", "user_agent": "Mozilla/5.0"}],
        "calls": [{"call_id": "k1", "customer_id": "c1", "started_at": "2024-02-01T10:00:00Z",
                   "caller_number": "0612345678", "transcript": "Agent: goedemiddag"},
                  {"call_id": "k2", "customer_id": "c2", "started_at": "2024-02-02T10:00:00Z",
                   "caller_number": "0612345679"}]},
        AS_OF, "TRN-001")["TRN-001"]
    # gender: blank, empty, or filled only after as_of; named kinds (name, e-mail, IP, phone): none
    assert set(got) == {"customers.birth_date", "visits.user_agent", "calls.transcript"}
    bd = details(got["customers.birth_date"])
    assert (bd["category"], bd["filled"], bd["fill_rate"], bd["first_seen"]) == \
        ("birth_date", 2, 1.0, "2023-06-01")
    assert bd["share"] is None and bd["declared"].startswith("yes")
    tr = details(got["calls.transcript"])
    assert (tr["category"], tr["filled"], tr["fill_rate"]) == ("call_recordings", 1, 0.5)
    assert got["calls.transcript"]["severity"] == "S2"           # recordings weigh more
    assert got["customers.birth_date"]["severity"] == "S3"
    assert got["visits.user_agent"]["subject_table"] == "visits"
    rr = audit_of.last.rules[0]
    assert (rr.population, rr.violations) == (12 + 3 + 2, 3)      # the personal columns judged


def test_trn001_what_the_statement_names_is_not_a_finding(audit_of):
    pol = load_policy()
    tr = pol.transparency.model_copy(update={
        "disclosed_data_categories": [*pol.transparency.disclosed_data_categories, "birth_date",
                                      "call_recordings"]})
    got = audit_of({
        "customers": [{"customer_id": "c1", "created_at": "2024-01-01T10:00:00Z",
                       "birth_date": "1980-01-01"}],
        "calls": [{"call_id": "k1", "customer_id": "c1", "started_at": "2024-02-01T10:00:00Z",
                   "transcript": "Agent: goedemiddag"}]},
        AS_OF, "TRN-001", policy=pol.model_copy(update={"transparency": tr}))
    assert got == {}
    # a statement that names nothing: every filled personal column is a finding
    none = pol.transparency.model_copy(update={"disclosed_data_categories": []})
    got = audit_of({"customers": [{"customer_id": "c1", "created_at": "2024-01-01T10:00:00Z",
                                   "email": "a@b.nl", "city": "Utrecht"}]},
                   AS_OF, "TRN-001", policy=pol.model_copy(update={"transparency": none}))["TRN-001"]
    assert set(got) == {"customers.email", "customers.city"}
    assert details(got["customers.city"])["category"] == "address"


def test_every_personal_column_of_the_data_model_has_one_category_of_personal_data():
    from toolkit import schema
    from toolkit.policy import DATA_CATEGORIES
    from toolkit.rules.transparency import DATA_CATEGORY_COLUMNS
    from toolkit.statement.vocabulary import vocabulary

    assert tuple(DATA_CATEGORY_COLUMNS) == DATA_CATEGORIES
    assert tuple(vocabulary().data["data_categories"]) == DATA_CATEGORIES
    listed = [c for cols in DATA_CATEGORY_COLUMNS.values() for c in cols]
    personal = [f"{t.name}.{c.name}" for t in schema.TABLES for c in t.columns if c.personal]
    assert sorted(listed) == sorted(personal) and len(set(listed)) == len(listed)
