"""CON-001 and NWS-001/002/003/006: the catalogue's edge cases on hand-built data."""

from __future__ import annotations

import json

AS_OF = "2025-03-02"


def ev(eid, cid, action, ts, method="double_opt_in", ntype="general"):
    return {"event_id": eid, "customer_id": cid, "newsletter_type": ntype, "action": action,
            "occurred_at": ts, "method": method}


def send(sid, cid, ts, ntype="general", personalised=False, campaign="cmp"):
    return {"send_id": sid, "campaign_id": campaign, "customer_id": cid, "newsletter_type": ntype,
            "sent_at": ts, "personalised": personalised, "has_unsubscribe_link": True}


def customers(*ids, **extra):
    return [{"customer_id": c, "person_key": c, "created_at": "2023-01-01T00:00:00Z",
             **extra.get(c, {})} for c in ids]


def details(f):
    return json.loads(f["details"])


def test_consent_by_visiting_and_friends(audit_of):
    got = audit_of({"newsletter_consent_events": [
        ev("e1", "c1", "subscribe", "2024-01-01T10:00:00Z", "implied_by_visit"),
        ev("e2", "c1", "subscribe", "2024-01-01T10:00:00Z", "pre_ticked"),
        ev("e3", "c1", "subscribe", "2024-01-01T10:00:00Z", "bundled_terms"),
        ev("e4", "c1", "resubscribe", "2024-01-01T10:00:00Z", "continued_use"),
        ev("e5", "c1", "subscribe", "2024-01-01T10:00:00Z", "unticked_checkbox"),
        ev("e6", "c1", "unsubscribe", "2024-01-01T10:00:00Z", "email_to_info")]}, AS_OF, "CON-001")
    assert set(got["CON-001"]) == {"e1", "e2", "e3", "e4"}


def test_opt_in_in_force_at_send_time(audit_of):
    got = audit_of({
        "customers": customers("c1", "c2", "c3", "c4", "c5", "c6"),
        "newsletter_consent_events": [
            ev("e1", "c1", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e2", "c2", "subscribe", "2024-01-01T10:00:00Z", "implied_by_visit"),
            ev("e3", "c3", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e4", "c3", "unsubscribe", "2024-02-01T10:00:00Z", "email_to_info"),
            ev("e5", "c4", "subscribe", "2024-03-01T10:00:00Z"),                  # same second
            ev("e6", "c5", "subscribe", "2024-01-01T10:00:00Z", ntype="personalised"),
            ev("e7", "c6", "subscribe", "2024-03-01T10:00:01Z")],                 # a second late
        "newsletter_sends": [send("s1", "c1", "2024-03-01T10:00:00Z"),
                             send("s2", "c2", "2024-03-01T10:00:00Z"),
                             send("s3", "c3", "2024-02-06T10:00:00Z"),
                             send("s4", "c4", "2024-03-01T10:00:00Z"),
                             send("s5", "c5", "2024-03-01T10:00:00Z"),             # general: none
                             send("s6", "c6", "2024-03-01T10:00:00Z")]}, AS_OF, "NWS-001")["NWS-001"]
    assert set(got) == {"s2", "s3", "s5", "s6"}
    assert details(got["s3"])["consent_in_force"] == "unsubscribe (email_to_info)"
    assert details(got["s5"])["consent_in_force"] == "none"


def test_consent_follows_the_person(audit_of):
    got = audit_of({"customers": customers("a", "b", a={"person_key": "p"}, b={"person_key": "p"}),
                    "newsletter_consent_events": [ev("e1", "a", "subscribe", "2024-01-01T10:00:00Z")],
                    "newsletter_sends": [send("s1", "b", "2024-03-01T10:00:00Z")]}, AS_OF, "NWS-001")
    assert "NWS-001" not in got


def test_personalised_sends_need_personalised_consent(audit_of):
    got = audit_of({
        "customers": customers("c1", "c2"),
        "newsletter_consent_events": [
            ev("e1", "c1", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e2", "c2", "subscribe", "2024-01-01T10:00:00Z", ntype="personalised"),
            ev("e3", "c2", "object_profiling", "2024-02-01T10:00:00Z", "account_setting",
               ntype="personalised")],
        "newsletter_sends": [send("p1", "c1", "2024-01-15T10:00:00Z", personalised=True),
                             send("p2", "c2", "2024-01-15T10:00:00Z", "personalised", True),
                             send("p3", "c2", "2024-03-01T10:00:00Z", "personalised", True),
                             send("g1", "c1", "2024-01-15T10:00:00Z")]}, AS_OF, "NWS-002")["NWS-002"]
    assert set(got) == {"p1", "p3"}


def test_unsubscribe_honoured_with_grace_and_resubscribe(audit_of):
    got = audit_of({
        "customers": customers("c1", "c2", "c3", "c4", "c5"),
        "newsletter_consent_events": [
            ev("e1", "c1", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e2", "c1", "unsubscribe", "2024-02-01T10:00:00Z", "email_to_info"),
            ev("e3", "c2", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e4", "c2", "unsubscribe", "2024-02-01T10:00:00Z", "link_in_mail"),
            ev("e5", "c2", "resubscribe", "2024-02-03T10:00:00Z", "account_setting"),
            ev("e6", "c3", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e7", "c3", "unsubscribe", "2024-02-01T10:00:00Z", "link_in_mail"),
            ev("e8", "c4", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e9", "c5", "subscribe", "2024-01-01T10:00:00Z"),
            ev("e10", "c5", "unsubscribe", "2024-02-01T10:00:00Z", "link_in_mail", ntype="personalised")],
        "dsr_requests": [{"dsr_id": "d1", "customer_id": "c4", "type": "objection_marketing",
                          "channel": "email_info", "received_at": "2024-02-01T10:00:00Z"}],
        "newsletter_sends": [send("late", "c1", "2024-02-06T08:00:00Z"),       # 4.9 days after
                             send("resub", "c2", "2024-02-06T10:00:00Z"),
                             send("in_grace", "c3", "2024-02-03T10:00:00Z"),    # exactly 2 days
                             send("after_grace", "c3", "2024-02-03T10:00:01Z"),
                             send("dsr", "c4", "2024-02-10T10:00:00Z"),
                             send("other_type", "c5", "2024-02-10T10:00:00Z")]}, AS_OF, "NWS-003")["NWS-003"]
    assert set(got) == {"late", "after_grace", "dsr"}
    d = details(got["late"])
    assert (d["channel"], d["days_after"], d["withdrawn"]) == ("email_to_info", 4.9, "2024-02-01")
    assert details(got["dsr"])["stopped_by"] == "request: objection_marketing"


def test_no_mail_to_erased_deauthorised_or_expired(audit_of):
    got = audit_of({
        "customers": customers("c1", "c2", "c3", "c4",
                               c1={"erased_at": "2024-05-01T10:00:00Z",
                                   "created_at": "2024-03-01T10:00:00Z"},
                               c2={"deauthorised_at": "2024-05-01T10:00:00Z",
                                   "created_at": "2024-03-01T10:00:00Z"}),
        "visits": [{"visit_id": "v3", "customer_id": "c3", "started_at": "2023-01-10T10:00:00Z",
                    "origin": "web", "is_bot": False},
                   {"visit_id": "v4", "customer_id": "c4", "started_at": "2023-01-10T10:00:00Z",
                    "origin": "web", "is_bot": False},
                   {"visit_id": "v5", "customer_id": "c4", "started_at": "2024-01-05T10:00:00Z",
                    "origin": "web", "is_bot": False}],
        "newsletter_sends": [send("s1", "c1", "2024-05-02T10:00:00Z"),
                             send("s1ok", "c1", "2024-04-30T10:00:00Z"),
                             send("s2", "c2", "2024-06-01T10:00:00Z"),
                             send("s3", "c3", "2024-01-11T10:00:00Z"),          # due 2024-01-10
                             send("s3ok", "c3", "2024-01-10T10:00:00Z"),
                             send("s4", "c4", "2024-01-11T10:00:00Z")]}, AS_OF, "NWS-006")["NWS-006"]
    assert set(got) == {"s1", "s2", "s3"}
    assert details(got["s3"])["reasons"] == ["retention expired"]
