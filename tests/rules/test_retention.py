"""RET-001, RET-005, RET-006, RET-014: every edge case rule-catalogue.md names, on hand-built data."""

from __future__ import annotations

import json
from datetime import date

import pytest

from toolkit.policy import load_policy

AS_OF = "2025-03-02T12:00:00Z"   # Appendix A


def customer(cid, created="2023-01-01T00:00:00Z", **kw):
    return {"customer_id": cid, "person_key": kw.pop("person_key", cid), "created_at": created,
            "first_name": "Naam", "email": f"{cid}@example.nl", **kw}


def visit(vid, cid, ts, origin="web", bot=False):
    return {"visit_id": vid, "customer_id": cid, "started_at": ts, "origin": origin, "is_bot": bot}


def details(f):
    return json.loads(f["details"])


# ---------------------------------------------------------------- RET-001

def test_leap_day_anchor_flags_every_residue_table(audit_of):
    got = audit_of({
        "customers": [customer("c1")],
        "visits": [visit("v1", "c1", "2024-02-29T10:00:00Z")],
        "chats": [{"chat_id": "k1", "customer_id": "c1", "started_at": "2024-02-01T10:00:00Z"}],
        "newsletter_consent_events": [{"event_id": "e1", "customer_id": "c1", "action": "subscribe",
                                       "occurred_at": "2023-05-01T10:00:00Z"}],
    }, AS_OF, "RET-001")["RET-001"]
    f = got["c1"]
    assert f["due_date"] == date(2025, 2, 28) and f["days_overdue"] == 2
    assert details(f)["residue"] == {"chats": 1, "customers": 1, "newsletter_consent_events": 1,
                                     "visits": 1}
    assert details(f)["anchor"] == "visit"


@pytest.mark.parametrize("as_of,flagged", [("2025-03-01", False), ("2025-03-02", True)])
def test_boundary_day(audit_of, as_of, flagged):
    got = audit_of({"customers": [customer("c1")],
                    "visits": [visit("v1", "c1", "2024-03-01T10:00:00Z")]}, as_of, "RET-001")
    assert ("c1" in got.get("RET-001", {})) is flagged
    if flagged:
        assert got["RET-001"]["c1"]["days_overdue"] == 1


def test_timezone_crossing_and_newsletter_click_does_not_extend(audit_of):
    tables = {"customers": [customer("c1")],
              "visits": [visit("v1", "c1", "2024-03-01T23:30:00Z"),            # 03-02 in Amsterdam
                         visit("v2", "c1", "2024-09-01T10:00:00Z", "newsletter_click"),
                         visit("v3", "c1", "2024-10-01T10:00:00Z", "api"),
                         visit("v4", "c1", "2024-11-01T10:00:00Z", "web", bot=True)]}
    assert "RET-001" not in audit_of(tables, AS_OF, "RET-001")          # due 2025-03-02
    f = audit_of(tables, "2025-03-03", "RET-001")["RET-001"]["c1"]
    assert f["due_date"] == date(2025, 3, 2)
    assert details(f)["residue"]["visits"] == 4     # every visit row is residue, bots included


def test_fallback_anchor_without_visits(audit_of):
    got = audit_of({"customers": [customer("c1", "2023-01-10T10:00:00Z"),
                                  customer("c2", "2023-01-10T10:00:00Z", last_login_at="2024-06-01T10:00:00Z"),
                                  customer("c3", "2023-01-10T10:00:00Z")],
                    "orders": [{"order_id": "o1", "customer_id": "c1", "placed_at": "2023-01-10T10:00:00Z"},
                               {"order_id": "o3", "customer_id": "c3", "placed_at": "2024-05-01T10:00:00Z"}],
                    "visits": []}, AS_OF, "RET-001")["RET-001"]
    assert got["c1"]["due_date"] == date(2024, 1, 10)
    assert details(got["c1"])["anchor"] == "fallback"
    assert "c2" not in got        # last login 2024-06-01 is the later fallback anchor
    assert "c3" not in got        # last order 2024-05-01


def test_two_accounts_of_one_person_share_the_anchor(audit_of):
    got = audit_of({"customers": [customer("old", "2019-01-01T00:00:00Z", person_key="p1"),
                                  customer("new", "2025-01-15T00:00:00Z", person_key="p1"),
                                  customer("solo", "2019-01-01T00:00:00Z")],
                    "visits": [visit("v1", "old", "2019-06-01T10:00:00Z"),
                               visit("v2", "new", "2025-02-01T10:00:00Z"),
                               visit("v3", "solo", "2019-06-01T10:00:00Z")]}, AS_OF, "RET-001")
    assert set(got["RET-001"]) == {"solo"}


def test_empty_person_key_means_own_person(audit_of):
    got = audit_of({"customers": [customer("a", person_key=None), customer("b", person_key=None)],
                    "visits": [visit("v1", "a", "2023-01-01T10:00:00Z"),
                               visit("v2", "b", "2025-01-01T10:00:00Z")]}, AS_OF, "RET-001")
    assert set(got["RET-001"]) == {"a"}


def test_open_legal_hold_excludes_and_is_counted(audit_of):
    got = audit_of({"customers": [customer("c1"), customer("c2"), customer("c3")],
                    "visits": [visit("v1", "c1", "2023-06-01T10:00:00Z"),
                               visit("v2", "c2", "2023-06-01T10:00:00Z"),
                               visit("v3", "c3", "2023-06-01T10:00:00Z")],
                    "chats": [{"chat_id": "k2", "customer_id": "c2", "started_at": "2023-06-01T10:00:00Z"}],
                    "legal_holds": [
                        # c1: everything held
                        {"hold_id": "h1", "customer_id": "c1", "reason": "litigation",
                         "opened_at": "2024-01-01T00:00:00Z", "scope_tables": None},
                        # c2: only chats held; visits and profile remain
                        {"hold_id": "h2", "customer_id": "c2", "reason": "litigation",
                         "opened_at": "2024-01-01T00:00:00Z", "scope_tables": ["chats"]},
                        # blanket hold: not honoured
                        {"hold_id": "h3", "customer_id": None, "reason": "litigation",
                         "opened_at": "2024-01-01T00:00:00Z"}]},
                   AS_OF, "RET-001")
    assert set(got["RET-001"]) == {"c2", "c3"}
    assert details(got["RET-001"]["c2"])["held"] == ["chats"]
    assert details(got["RET-001"]["c2"])["residue"] == {"customers": 1, "visits": 1}
    assert audit_of.last.rules[0].excluded == 1


@pytest.mark.parametrize("as_of,flagged", [("2025-03-01", False), ("2025-03-02", True)])
def test_closed_hold_moves_the_deadline_to_its_closing_day(audit_of, as_of, flagged):
    got = audit_of({"customers": [customer("c1")],
                    "visits": [visit("v1", "c1", "2023-06-01T10:00:00Z")],    # due 2024-06-01
                    "legal_holds": [{"hold_id": "h1", "customer_id": "c1", "reason": "litigation",
                                     "opened_at": "2024-01-01T00:00:00Z",
                                     "closed_at": "2025-03-01T09:00:00Z"}]}, as_of, "RET-001")
    assert ("c1" in got.get("RET-001", {})) is flagged


def test_grace_days_from_the_policy(audit_of):
    pol = load_policy()
    lenient = pol.model_copy(update={"retention": pol.retention.model_copy(update={"grace_days": 3})})
    tables = {"customers": [customer("c1")], "visits": [visit("v1", "c1", "2024-02-27T10:00:00Z")]}
    assert "c1" in audit_of(tables, AS_OF, "RET-001")["RET-001"]             # due 02-27, 3 days
    assert "RET-001" not in audit_of(tables, AS_OF, "RET-001", policy=lenient)


def test_erased_customer_without_residue_is_compliant(audit_of):
    got = audit_of({"customers": [{"customer_id": "c1", "created_at": "2020-01-01T00:00:00Z",
                                   "status": "erased"}],
                    "visits": []}, AS_OF, "RET-001")
    assert "RET-001" not in got


def test_rows_after_as_of_do_not_count(audit_of):
    # the visit of 2025-04-01 lies after as_of: at as_of the customer was expired
    got = audit_of({"customers": [customer("c1")],
                    "visits": [visit("v1", "c1", "2023-06-01T10:00:00Z"),
                               visit("v2", "c1", "2025-04-01T10:00:00Z")]}, AS_OF, "RET-001")
    assert details(got["RET-001"]["c1"])["residue"] == {"customers": 1, "visits": 1}


def test_not_evaluable_without_visits(audit_of):
    got = audit_of({"customers": [customer("c1")]}, AS_OF, "RET-001")
    assert got == {}
    r = audit_of.last.rules[0]
    assert (r.status, r.missing) == ("not_evaluable", "visits")


def test_another_policy_changes_the_horizon(audit_of):
    tables = {"customers": [customer("c1")], "visits": [visit("v1", "c1", "2023-06-01T10:00:00Z")]}
    assert "c1" in audit_of(tables, AS_OF, "RET-001")["RET-001"]
    assert "RET-001" not in audit_of(tables, AS_OF, "RET-001", policy="example-24-months")
    got = audit_of(tables, "2025-06-10", "RET-001", policy="example-24-months")["RET-001"]
    assert got["c1"]["due_date"] == date(2025, 6, 1)      # 24 months, grace 7 days


# ---------------------------------------------------------------- RET-005

def order(oid, placed, cid="c1", **kw):
    return {"order_id": oid, "customer_id": cid, "placed_at": placed, "billing_name": "Naam", **kw}


@pytest.mark.parametrize("as_of,flagged", [("2024-12-31", False), ("2025-01-01", True)])
def test_fiscal_ceiling_boundary(audit_of, as_of, flagged):
    got = audit_of({"orders": [order("o1", "2017-03-05T10:00:00Z")],
                    "customers": [customer("c1")]}, as_of, "RET-005")
    assert ("o1" in got.get("RET-005", {})) is flagged
    if flagged:
        assert got["RET-005"]["o1"]["due_date"] == date(2024, 12, 31)


def test_fiscal_year_is_the_amsterdam_year(audit_of):
    # 2017-12-31 23:30 UTC is 2018-01-01 in Amsterdam: fiscal year 2018, kept until 2025-12-31
    got = audit_of({"orders": [order("o1", "2017-12-31T23:30:00Z"), order("o2", "2017-12-31T22:30:00Z")],
                    "customers": []}, AS_OF, "RET-005")
    assert set(got["RET-005"]) == {"o2"}


def test_anonymised_or_unlinked_orders_pass_the_ceiling(audit_of):
    got = audit_of({"orders": [
        order("o1", "2016-05-01T10:00:00Z", anonymised_at="2024-01-01T00:00:00Z"),
        {"order_id": "o2", "customer_id": None, "placed_at": "2016-05-01T10:00:00Z"},
        {"order_id": "o3", "customer_id": "c1", "placed_at": "2016-05-01T10:00:00Z"},   # linked
        {"order_id": "o4", "customer_id": "gone", "placed_at": "2016-05-01T10:00:00Z"}],
        "customers": [customer("c1")]}, AS_OF, "RET-005")
    assert set(got["RET-005"]) == {"o3"}
    assert details(got["RET-005"]["o3"])["linked_to_customer"] is True


def test_non_calendar_fiscal_year_and_hold(audit_of):
    pol = load_policy()
    june = pol.model_copy(update={"retention": pol.retention.model_copy(update={"fiscal_year_end": "06-30"})})
    tables = {"orders": [order("o1", "2017-08-01T10:00:00Z"), order("o2", "2017-05-01T10:00:00Z"),
                         order("o3", "2017-05-01T10:00:00Z", cid="c3")],
              "customers": [customer("c1"), customer("c3")],
              "legal_holds": [{"hold_id": "h", "customer_id": "c3", "scope_tables": ["orders"],
                               "reason": "fiscal_audit", "opened_at": "2024-01-01T00:00:00Z"}]}
    got = audit_of(tables, AS_OF, "RET-005", policy=june)["RET-005"]
    assert set(got) == {"o2"}                               # o1: FY ends 2018-06-30 -> 2025-06-30
    assert got["o2"]["due_date"] == date(2024, 6, 30)
    assert audit_of.last.rules[0].excluded == 1


# ---------------------------------------------------------------- RET-006

def test_expired_customer_order_keeps_contact_fields(audit_of):
    got = audit_of({
        "customers": [customer("c1", "2023-01-10T10:00:00Z"), customer("c2", "2023-01-10T10:00:00Z")],
        "visits": [visit("v2", "c2", "2025-01-01T10:00:00Z")],
        "orders": [order("o1", "2023-01-10T10:00:00Z", email_at_order="a@example.nl", ip_address="10.0.0.1"),
                   order("o2", "2023-01-10T10:00:00Z", cid="c2", email_at_order="b@example.nl"),
                   order("o3", "2023-01-10T10:00:00Z")]},            # fiscal fields only
        AS_OF, "RET-006")["RET-006"]
    assert set(got) == {"o1"}
    assert details(got["o1"])["fields"] == ["email_at_order", "ip_address"]
    assert got["o1"]["due_date"] == date(2024, 1, 10)


def test_guest_orders_use_their_own_date(audit_of):
    got = audit_of({"customers": [], "visits": [],
                    "orders": [{"order_id": "g1", "customer_id": None, "placed_at": "2024-03-01T10:00:00Z",
                                "phone_at_order": "0612345678"},
                               {"order_id": "g2", "customer_id": None, "placed_at": "2024-03-03T10:00:00Z",
                                "phone_at_order": "0612345678"}]}, AS_OF, "RET-006")["RET-006"]
    assert set(got) == {"g1"}
    assert details(got["g1"])["guest_order"] is True


def test_orders_past_the_fiscal_ceiling_belong_to_ret_005(audit_of):
    got = audit_of({"customers": [customer("c1")], "visits": [],
                    "orders": [order("o1", "2016-01-10T10:00:00Z", email_at_order="a@example.nl")]},
                   AS_OF, "RET-00[56]")
    assert set(got) == {"RET-005"}


# ---------------------------------------------------------------- RET-014

def test_soft_deleted_customers_with_personal_data(audit_of):
    got = audit_of({"customers": [
        {"customer_id": "e1", "status": "erased", "email": "x@example.nl"},
        {"customer_id": "e2", "status": "deleted", "phone": "0612345678"},
        {"customer_id": "e3", "status": "active", "erased_at": "2024-05-01T10:00:00Z", "city": "Apeldoorn"},
        {"customer_id": "e4", "status": "erased"},                                   # properly erased
        {"customer_id": "d1", "status": "deauthorised", "email": "d@example.nl"},    # not this rule
    ]}, AS_OF, "RET-014")["RET-014"]
    assert set(got) == {"e1", "e2", "e3"}
    assert details(got["e3"])["filled_fields"] == ["city"]
    assert got["e3"]["due_date"] == date(2024, 5, 1)
