"""DSR-001 and DSR-004: every edge case rule-catalogue.md names, on hand-built data."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest


def dsr(did, received, answered=None, type="access", **kw):
    return {"dsr_id": did, "customer_id": kw.pop("customer_id", "c1"), "type": type,
            "received_at": received, "answered_at": answered, **kw}


def details(f):
    return json.loads(f["details"])


# ---------------------------------------------------------------- DSR-001

def test_leap_year_deadline(audit_of):
    got = audit_of({"dsr_requests": [dsr("d1", "2024-01-31T10:00:00Z", "2024-03-01T10:00:00Z")]},
                   "2025-03-02", "DSR-001")["DSR-001"]
    assert got["d1"]["due_date"] == date(2024, 2, 29)
    assert got["d1"]["days_overdue"] == 1
    assert details(got["d1"])["verdict"] == "answered late"


def test_amsterdam_date_of_receipt(audit_of):
    # 2024-01-31 23:30 UTC is 2024-02-01 in Amsterdam: due 2024-03-01, answered that day
    got = audit_of({"dsr_requests": [dsr("d2", "2024-01-31T23:30:00Z", "2024-03-01T10:00:00Z")]},
                   "2025-03-02", "DSR-001")
    assert "DSR-001" not in got


def test_holiday_roll(audit_of):
    # raw due 2024-12-25 (Christmas), 12-26 (Boxing Day): rolls to Friday 2024-12-27
    got = audit_of({"dsr_requests": [dsr("d3", "2024-11-25T10:00:00Z", "2024-12-27T15:00:00Z"),
                                     dsr("d4", "2024-11-25T10:00:00Z", "2024-12-28T10:00:00Z")]},
                   "2025-03-02", "DSR-001")["DSR-001"]
    assert set(got) == {"d4"}
    assert got["d4"]["due_date"] == date(2024, 12, 27)


@pytest.mark.parametrize("as_of,flagged", [("2025-02-03", False), ("2025-02-04", True)])
def test_weekend_roll_for_an_open_request(audit_of, as_of, flagged):
    # raw due Sunday 2025-02-02 rolls to Monday 2025-02-03
    got = audit_of({"dsr_requests": [dsr("d5", "2025-01-02T10:00:00Z")]}, as_of, "DSR-001")
    assert ("d5" in got.get("DSR-001", {})) is flagged
    if flagged:
        f = got["DSR-001"]["d5"]
        assert f["due_date"] == date(2025, 2, 3) and f["days_overdue"] == 1
        assert details(f)["verdict"] == "open past deadline"


def test_extension_only_when_notified_within_the_first_month(audit_of):
    got = audit_of({"dsr_requests": [
        # notified 10-05, after the first month (due 10-01): invalid, due stays 2024-10-01
        dsr("late", "2024-09-01T10:00:00Z", "2024-11-15T10:00:00Z",
            extension_notified_at="2024-10-05T10:00:00Z"),
        # notified in time: due 2024-12-01 is a Sunday, so 2024-12-02
        dsr("ok", "2024-09-01T10:00:00Z", "2024-11-15T10:00:00Z",
            extension_notified_at="2024-09-20T10:00:00Z"),
        dsr("too_late", "2024-09-01T10:00:00Z", "2024-12-03T10:00:00Z",
            extension_notified_at="2024-09-20T10:00:00Z")]}, "2025-03-02", "DSR-001")["DSR-001"]
    assert set(got) == {"late", "too_late"}
    assert got["late"]["due_date"] == date(2024, 10, 1)
    assert details(got["late"])["extension"].startswith("invalid")
    assert got["too_late"]["due_date"] == date(2024, 12, 2)


def test_an_answer_after_as_of_is_unknown_at_as_of(audit_of):
    got = audit_of({"dsr_requests": [dsr("d6", "2025-01-06T10:00:00Z", "2025-04-01T10:00:00Z")]},
                   "2025-03-02", "DSR-001")["DSR-001"]
    assert details(got["d6"])["verdict"] == "open past deadline"


def test_requests_after_as_of_are_ignored_and_population_counts(audit_of):
    audit_of({"dsr_requests": [dsr("d7", "2025-02-20T10:00:00Z"), dsr("d8", "2025-05-01T10:00:00Z")]},
             "2025-03-02", "DSR-001")
    r = audit_of.last.rules[0]
    assert (r.population, r.violations) == (1, 0)


def test_no_roll_when_the_policy_says_so(audit_of):
    from toolkit.policy import load_policy
    pol = load_policy()
    strict = pol.model_copy(update={"dsr": pol.dsr.model_copy(update={"roll_to_working_day": False})})
    got = audit_of({"dsr_requests": [dsr("d3", "2024-11-25T10:00:00Z", "2024-12-27T15:00:00Z")]},
                   "2025-03-02", "DSR-001", policy=strict)["DSR-001"]
    assert got["d3"]["due_date"] == date(2024, 12, 25)


# ---------------------------------------------------------------- DSR-004

def erasure(did, cid, completed="2025-01-10T10:00:00Z", **kw):
    return {"dsr_id": did, "customer_id": cid, "type": kw.pop("type", "erasure"),
            "received_at": "2025-01-02T10:00:00Z", "answered_at": completed,
            "completed_at": completed, **kw}


def test_completed_erasure_with_residue(audit_of):
    h = hashlib.sha256(b"jan@example.nl").hexdigest()
    got = audit_of({
        "customers": [{"customer_id": "c1", "status": "erased"},
                      {"customer_id": "c2", "status": "erased"},
                      {"customer_id": "c3", "status": "deauthorised", "email": "c3@example.nl"},
                      {"customer_id": "c4", "status": "erased"},
                      {"customer_id": "c5", "status": "erased"}],
        "dsr_requests": [erasure("d1", "c1"), erasure("d2", "c2"),
                         erasure("d3", "c3", type="deauthorisation"),
                         erasure("d4", "c4", requester_email_hash=h),
                         erasure("d5", "c5", outcome="refused"),
                         {**erasure("d6", "c1"), "completed_at": None}],
        "chats": [{"chat_id": "k1", "customer_id": "c1", "started_at": "2024-06-01T10:00:00Z"}],
        "newsletter_sends": [{"send_id": "s1", "customer_id": "c1", "email": "x@example.nl",
                              "sent_at": "2024-06-01T10:00:00Z"},
                             {"send_id": "s2", "customer_id": "c9", "email": " Jan@Example.nl ",
                              "sent_at": "2024-06-01T10:00:00Z"}],
        "orders": [{"order_id": "o2", "customer_id": "c2", "placed_at": "2024-06-01T10:00:00Z",
                    "billing_name": "Naam", "total_incl_vat": 10},          # fiscal only: fine
                   {"order_id": "o5", "customer_id": "c5", "placed_at": "2024-06-01T10:00:00Z",
                    "email_at_order": "c5@example.nl"}],
    }, "2025-03-02", "DSR-004")["DSR-004"]
    assert set(got) == {"d1", "d3", "d4"}
    assert details(got["d1"])["residue"] == {"chats": 1, "newsletter_sends": 1}
    assert details(got["d3"])["residue"] == {"customers": 1}
    assert details(got["d4"])["residue"] == {"email elsewhere(newsletter_sends)": 1}
    assert got["d1"]["due_date"] == date(2025, 1, 10)


def test_non_fiscal_order_fields_and_holds(audit_of):
    got = audit_of({
        "customers": [{"customer_id": "c1", "status": "erased"}, {"customer_id": "c2", "status": "erased"}],
        "dsr_requests": [erasure("d1", "c1"), erasure("d2", "c2")],
        "orders": [{"order_id": "o1", "customer_id": "c1", "placed_at": "2024-06-01T10:00:00Z",
                    "billing_name": "Naam", "phone_at_order": "0612345678"},
                   {"order_id": "o2", "customer_id": "c2", "placed_at": "2024-06-01T10:00:00Z",
                    "ip_address": "10.1.2.3"}],
        "legal_holds": [{"hold_id": "h", "customer_id": "c2", "scope_tables": ["orders"],
                         "reason": "dispute", "opened_at": "2025-01-01T00:00:00Z"}],
    }, "2025-03-02", "DSR-004")["DSR-004"]
    assert set(got) == {"d1"}
    assert details(got["d1"])["residue"] == {"orders(phone_at_order)": 1}
    assert audit_of.last.rules[0].excluded == 1
