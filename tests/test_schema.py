"""The canonical schema: complete for contract section 3, and self-consistent."""

from __future__ import annotations

import duckdb
import pytest

from toolkit import schema

# contract.md section 3, verbatim
CONTRACT = {
    "customers": "customer_id, person_key, created_at, status, deauthorised_at, erased_at, first_name, last_name, email, phone, street, house_number, postcode, city, country_code, last_login_at",
    "visits": "visit_id, customer_id, visitor_id, started_at, ip_address, origin, is_bot",
    "orders": "order_id, customer_id, placed_at, status, billing_name, billing_street, billing_postcode, billing_city, billing_country, delivery_name, delivery_street, delivery_postcode, delivery_city, delivery_country, email_at_order, phone_at_order, ip_address, currency, total_incl_vat, total_vat, invoice_id",
    "order_items": "order_item_id, order_id, seller_id, sku, description, quantity, unit_price_incl_vat",
    "payments": "payment_id, order_id, customer_id, paid_at, method, psp_reference, amount, card_pan, card_last4, card_cvv, iban",
    "chats": "chat_id, customer_id, channel, started_at, handled_by_recipient_id",
    "chat_messages": "message_id, chat_id, sent_at, sender_role, body",
    "calls": "call_id, customer_id, started_at, duration_s, caller_number, recorded, transcript",
    "newsletter_consent_events": "event_id, customer_id, email, newsletter_type, action, occurred_at, method",
    "newsletter_sends": "send_id, campaign_id, customer_id, email, newsletter_type, sent_at, personalised, has_unsubscribe_link",
    "cookie_observations": "observation_id, scan_id, scanned_at, page_url, consent_state, storage_kind, name, domain, path, expires_at, is_session, declared_category, vendor",
    "recipients": "recipient_id, name, role, category, country_code, seller_id",
    "recipient_agreements": "agreement_id, recipient_id, agreement_type, signed_on, valid_from, valid_to, terminated_on, allowed_fields, transfer_mechanism",
    "transfers": "transfer_id, recipient_id, transferred_at, customer_id, order_id, fields, purpose, destination_country",
    "dsr_requests": "dsr_id, customer_id, type, channel, received_at, extension_notified_at, answered_at, completed_at, outcome",
    "legal_holds": "hold_id, customer_id, scope_tables, reason, opened_at, closed_at",
}


def test_every_contract_table_and_column_is_core():
    assert set(schema.CORE_TABLES) == set(CONTRACT)
    for name, cols in CONTRACT.items():
        t = schema.table(name)
        core = [c.name for c in t.columns if c.core]
        assert core == [c.strip() for c in cols.split(",")], name
        assert t.primary_key == core[0]


def test_ddl_is_valid_duckdb_for_every_table():
    con = duckdb.connect()
    for t in schema.TABLES:
        con.execute(schema.ddl(t))
        assert [r[0] for r in con.execute(f'DESCRIBE "{t.name}"').fetchall()] == t.column_names


def test_personal_data_is_marked():
    assert {c.name for c in schema.table("customers").personal_columns} >= {
        "first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city"}
    assert schema.table("payments").column("card_pan").pii == schema.CARD
    assert schema.table("chat_messages").column("body").free_text
    assert schema.table("calls").column("transcript").free_text
    # non-fiscal personal order fields are exactly what RET-006 strips (contract section 5)
    orders = schema.table("orders")
    assert [c.name for c in orders.columns if c.personal and not c.fiscal and c.core] == [
        "email_at_order", "phone_at_order", "ip_address"]


def test_unknown_table_is_named():
    with pytest.raises(KeyError, match="unknown table 'klanten'"):
        schema.table("klanten")


def test_bad_definitions_are_refused():
    with pytest.raises(ValueError):
        schema.Column("x", "TEXT")
    with pytest.raises(ValueError):
        schema.Table("t", "id", (schema.Column("x"),))


def test_markdown_lists_every_table():
    md = schema.markdown()
    for t in schema.TABLES:
        assert f"### `{t.name}`" in md
