"""SHR-001 ... SHR-008: the catalogue's edge cases on hand-built data."""

from __future__ import annotations

import json

import pytest

AS_OF = "2025-03-02"


def recipient(rid, category, role="processor", country="NL", seller=None, name=None):
    return {"recipient_id": rid, "name": name or rid.title(), "role": role, "category": category,
            "country_code": country, "seller_id": seller}


def agreement(aid, rid, frm, to=None, type="dpa_art28", fields=None, mech="eea", signed=None,
              terminated=None, **kw):
    return {"agreement_id": aid, "recipient_id": rid, "agreement_type": type,
            "signed_on": signed or frm, "valid_from": frm, "valid_to": to, "terminated_on": terminated,
            "allowed_fields": fields, "transfer_mechanism": mech, **kw}


def transfer(tid, rid, ts, fields=("email",), cid="c1", order=None, country=None):
    return {"transfer_id": tid, "recipient_id": rid, "transferred_at": ts, "customer_id": cid,
            "order_id": order, "fields": list(fields), "destination_country": country}


def details(f):
    return json.loads(f["details"])


def test_unknown_recipient(audit_of):
    got = audit_of({"recipients": [recipient("r1", "delivery")],
                    "transfers": [transfer("t1", "r1", "2025-01-01T10:00:00Z"),
                                  transfer("t2", "ghost", "2025-01-01T10:00:00Z")]}, AS_OF, "SHR-001")
    assert set(got["SHR-001"]) == {"t2"}


def test_agreement_validity_days(audit_of):
    tables = {
        "recipients": [recipient("ra", "research_agency"), recipient("cop", "authority", role="authority"),
                       recipient("ic", "delivery", role="independent_controller")],
        "recipient_agreements": [
            agreement("a1", "ra", "2024-01-01", "2024-12-31"),                          # expired DPA
            agreement("a2", "ra", "2025-02-01", terminated="2025-02-15"),               # terminated
            agreement("a3", "ic", "2024-01-01", type="c2c_sharing")],
        "transfers": [
            transfer("last_day", "ra", "2024-12-31T22:30:00Z"),      # 2024-12-31 23:30 Amsterdam: valid
            transfer("after", "ra", "2024-12-31T23:30:00Z"),         # 2025-01-01 in Amsterdam
            transfer("gap", "ra", "2025-01-15T10:00:00Z"),
            transfer("renewed", "ra", "2025-02-01T10:00:00Z"),
            transfer("terminated", "ra", "2025-02-15T10:00:00Z"),
            transfer("authority", "cop", "2025-01-15T10:00:00Z"),
            transfer("independent", "ic", "2025-01-15T10:00:00Z")]}
    got = audit_of(tables, AS_OF, "SHR-002")["SHR-002"]
    assert set(got) == {"after", "gap", "terminated"}
    ev = details(got["gap"])
    assert ev["last_valid_day_before"] == "2024-12-31" and ev["next_agreement_from"] == "2025-02-01"


def test_processor_needs_a_dpa_and_backdating_does_not_help(audit_of):
    got = audit_of({
        "recipients": [recipient("esp", "email_service"), recipient("dc", "distribution_centre")],
        "recipient_agreements": [agreement("a1", "esp", "2024-01-01", type="c2c_sharing"),
                                 agreement("a2", "dc", "2024-01-01", signed="2024-03-01")],
        "transfers": [transfer("t1", "esp", "2024-06-01T10:00:00Z"),
                      transfer("t2", "dc", "2024-02-01T10:00:00Z"),      # before signing
                      transfer("t3", "dc", "2024-03-01T10:00:00Z")]}, AS_OF, "SHR-002")["SHR-002"]
    assert set(got) == {"t1", "t2"}


def test_field_excess_defaults_and_deny_list(audit_of):
    got = audit_of({
        "recipients": [recipient("car", "delivery"), recipient("sel", "external_seller",
                                                               role="independent_controller"),
                       recipient("psp", "payment_provider")],
        "recipient_agreements": [
            agreement("a1", "car", "2024-01-01", fields=["order_id", "delivery_name", "delivery_street"]),
            agreement("a2", "sel", "2024-01-01", type="seller_terms"),                 # no list: default
            agreement("a3", "psp", "2024-01-01", fields=["order_id", "amount", "card_pan"])],
        "transfers": [
            transfer("ok", "car", "2024-06-01T10:00:00Z", ["order_id", "delivery_name"]),
            transfer("card", "car", "2024-06-01T10:00:00Z", ["order_id", "card_pan"]),
            transfer("email", "sel", "2024-06-01T10:00:00Z", ["order_id", "email"]),
            transfer("seller_ok", "sel", "2024-06-01T10:00:00Z", ["order_id", "delivery_name"]),
            transfer("psp", "psp", "2024-06-01T10:00:00Z", ["amount", "card_pan"])]},
        AS_OF, "SHR-003")["SHR-003"]
    assert set(got) == {"card", "email"}
    assert got["card"]["severity"] == "S1" and details(got["card"])["deny_list_fields"] == ["card_pan"]
    assert got["email"]["severity"] == "S3" and details(got["email"])["excess_fields"] == ["email"]
    assert details(got["email"])["allowed_by"] == "category default"


def test_seller_scope(audit_of):
    got = audit_of({
        "recipients": [recipient("s1", "external_seller", "independent_controller", seller="S1")],
        "orders": [{"order_id": "o1", "customer_id": "c1", "placed_at": "2024-06-01T10:00:00Z"},
                   {"order_id": "o2", "customer_id": "c2", "placed_at": "2024-06-01T10:00:00Z"},
                   {"order_id": "o3", "customer_id": "c1", "placed_at": "2024-06-01T10:00:00Z"}],
        "order_items": [{"order_item_id": "i1", "order_id": "o1", "seller_id": "S1"},
                        {"order_item_id": "i2", "order_id": "o2", "seller_id": "S1"},
                        {"order_item_id": "i3", "order_id": "o3", "seller_id": "shop"}],
        "transfers": [transfer("ok", "s1", "2024-06-02T10:00:00Z", order="o1"),
                      transfer("day90", "s1", "2024-08-30T10:00:00Z", order="o1"),
                      transfer("day91", "s1", "2024-08-31T10:00:00Z", order="o1"),
                      transfer("no_order", "s1", "2024-06-02T10:00:00Z"),
                      transfer("other_customer", "s1", "2024-06-02T10:00:00Z", order="o2"),
                      transfer("not_their_items", "s1", "2024-06-02T10:00:00Z", order="o3")]},
        AS_OF, "SHR-004")["SHR-004"]
    assert set(got) == {"day91", "no_order", "other_customer", "not_their_items"}
    assert details(got["other_customer"])["problem"] == "order of another customer"


def test_research_agency_gets_email_only(audit_of):
    got = audit_of({"recipients": [recipient("ra", "research_agency")],
                    "transfers": [transfer("ok", "ra", "2024-06-01T10:00:00Z", ["email", "invite_token"]),
                                  transfer("name", "ra", "2024-06-01T10:00:00Z", ["email", "first_name"])]},
                   AS_OF, "SHR-005")["SHR-005"]
    assert set(got) == {"name"}
    assert details(got["name"])["fields_beyond_email"] == ["first_name"]


def test_chapter_v_mechanisms_by_date(audit_of):
    us = [recipient("ps", "analytics", country="US"), recipient("dpf", "hosting", country="US"),
          recipient("old", "email_service", country="US"), recipient("ch", "hosting", country="CH"),
          recipient("in", "cs_outsourcer", country="IN"), recipient("eu", "hosting", country="DE"),
          recipient("new", "email_service", country="US")]
    got = audit_of({
        "recipients": us,
        "recipient_agreements": [
            agreement("a1", "ps", "2019-01-01", mech="privacy_shield"),
            agreement("a2", "dpf", "2023-01-01", mech="dpf", dpf_certified_from="2023-07-20"),
            agreement("a3", "old", "2019-01-01", mech="scc_2010"),
            agreement("a4", "ch", "2020-01-01", mech="none"),
            agreement("a5", "in", "2020-01-01", mech="none"),
            agreement("a6", "new", "2021-08-01", mech="scc_2021")],
        "transfers": [
            transfer("ps_before", "ps", "2020-07-15T10:00:00Z"),
            transfer("ps_after", "ps", "2021-03-01T10:00:00Z"),
            transfer("dpf_uncertified", "dpf", "2023-07-15T10:00:00Z"),
            transfer("dpf_ok", "dpf", "2023-08-15T10:00:00Z"),
            transfer("scc_old_ok", "old", "2022-12-26T10:00:00Z"),
            transfer("scc_old_late", "old", "2023-02-01T10:00:00Z"),
            transfer("adequate", "ch", "2024-01-01T10:00:00Z"),
            transfer("no_mechanism", "in", "2024-01-01T10:00:00Z"),
            transfer("eea", "eu", "2024-01-01T10:00:00Z"),
            transfer("scc_new", "new", "2024-01-01T10:00:00Z"),
            transfer("routed_to_us", "eu", "2024-01-01T10:00:00Z", country="US")]},
        AS_OF, "SHR-008")["SHR-008"]
    assert set(got) == {"ps_after", "dpf_uncertified", "scc_old_late", "no_mechanism", "routed_to_us"}
    assert got["no_mechanism"]["severity"] == "S1" and got["ps_after"]["severity"] == "S2"
    assert details(got["routed_to_us"])["problem"] == "no transfer mechanism"
