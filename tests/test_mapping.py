"""Mapping files: the language's features, the shipped mappings on their fixtures, and errors that
name the key. Fixtures: tests/data/mappings/<product>/ (real export headers, synthetic values; see
the README there for where each header comes from)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.exceptions import MappingError, UnusableInputError
from toolkit.mapping import builtin_mapping, builtin_names, parse_mapping, read_mapping

from .conftest import assert_reconciles, write_files

DATA = Path(__file__).parent / "data" / "mappings"
UTC = timezone.utc


def load(tmp_path_factory, folder: str, mapping: str, db_name: str | None = None, db=None):
    db = db or tmp_path_factory.mktemp("db") / (db_name or "a.duckdb")
    result = toolkit.load(DATA / folder, db=db, mapping=mapping)
    assert_reconciles(result, db)
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return result, con


def rows(con, sql: str, params=None):
    return con.execute(sql, params or []).fetchall()


# ------------------------------------------------------------------ Shopify

@pytest.fixture(scope="module")
def shopify(tmp_path_factory):
    result, con = load(tmp_path_factory, "shopify/2024", "shopify")
    yield result, con
    con.close()


def test_shopify_customers_ids_phones_and_postcodes_lose_the_excel_quote(shopify):
    _, con = shopify
    assert rows(con, "SELECT customer_id, email, phone, postcode, marketing_opt_in, source_system "
                     "FROM customers ORDER BY customer_id") == [
        ("7985351721238", "noelle.vanbreugel@example.nl", "+31612345678", "8522 MF", True, "shopify"),
        ("7985351754006", "A.Lorreijn@Example.nl", None, "8517 DK", False, "shopify"),
        ("7985351786774", "floor.slagmolen@example.nl", "+31166060220", "5982 TI", True, "shopify")]
    # the free-text note keeps its line break
    assert rows(con, "SELECT notes FROM customers WHERE customer_id = '7985351754006'")[0][0] \
        .startswith("Belt liever na 17:00,\nniet op maandag.")


def test_shopify_orders_fold_line_rows_and_link_customers_by_email(shopify):
    result, con = shopify
    orders = [f for f in result.files if f.table == "orders"][0]
    assert (orders.rows_read, orders.rows_loaded, orders.rows_rejected, orders.rows_skipped) == (4, 3, 0, 1)
    assert orders.notes["skipped_rows"] == {
        "repeats the order_id of an earlier row with nothing new (folded into it)": 1}
    assert orders.notes["links"]["customer_id"] == {
        "by": "email_at_order = customers.email", "linked": 2, "ambiguous": 0, "unmatched": 1}
    assert rows(con, "SELECT order_id, customer_id, placed_at, total_incl_vat, total_vat, "
                     "phone_at_order, billing_postcode, customer_comment FROM orders ORDER BY 1") == [
        ("#1001", "7985351721238", datetime(2024, 3, 1, 13, 22, 10, tzinfo=UTC), Decimal("104.95"),
         Decimal("18.05"), "+31612345678", "8522 MF", "Graag na 18:00 bezorgen"),
        # a guest: no customer with that e-mail; the DST night keeps its offset
        ("#1002", None, datetime(2024, 10, 27, 0, 59, 59, tzinfo=UTC), Decimal("54.50"),
         Decimal("9.46"), "+31538145633", "3623 EP", None),
        # the phone only in "Shipping Phone"; linked although the e-mail differs in case
        ("#1003", "7985351754006", datetime(2024, 11, 5, 9, 58, tzinfo=UTC), Decimal("12.50"),
         Decimal("2.17"), "+31650000001", "8517 DK", None)]
    # Note Attributes is kept (free text for the scanners); the line columns are not order columns
    cols = [r[0] for r in rows(con, "DESCRIBE orders")]
    assert "note_attributes" in cols and "billing_phone" in cols
    assert not [c for c in cols if c.startswith("lineitem")]
    assert rows(con, "SELECT note_attributes FROM orders WHERE order_id = '#1001'") == [
        ("bezorgmoment: avond\ncadeaubon: nee",)]


def test_shopify_order_lines_and_consent_at_checkout(shopify):
    _, con = shopify
    assert rows(con, "SELECT order_item_id, order_id, seller_id, sku, quantity, unit_price_incl_vat "
                     "FROM order_items ORDER BY 1") == [
        ("orders_export_1:1", "#1001", "Koffiehuis Smoot", "KM-01", 1, Decimal("79.95")),
        ("orders_export_1:2", "#1001", "Brander Lorreijn", "FP-100", 2, Decimal("10.00")),
        ("orders_export_1:3", "#1002", "Koffiehuis Smoot", "TP-7", 1, Decimal("54.50")),
        ("orders_export_1:4", "#1003", "Koffiehuis Smoot", "BN-250", 1, Decimal("12.50"))]
    assert rows(con, "SELECT event_id, customer_id, action, method, newsletter_type, occurred_at "
                     "FROM newsletter_consent_events ORDER BY 1") == [
        ("orders_export_1:1", "7985351721238", "subscribe", "unknown", "general",
         datetime(2024, 3, 1, 13, 22, 10, tzinfo=UTC)),
        ("orders_export_1:4", "7985351754006", "subscribe", "unknown", "general",
         datetime(2024, 11, 5, 9, 58, tzinfo=UTC))]


@pytest.mark.parametrize("folder,keys,opt_in", [
    ("shopify/2022", ["customers_export:1", "customers_export:2"], [True, False]),   # no id
    ("shopify/2019", ["customers_export_1:1", "customers_export_1:2"], [True, False]),  # "Accepts Marketing"
])
def test_shopify_older_customer_exports_load_alone(tmp_path_factory, folder, keys, opt_in):
    result, con = load(tmp_path_factory, folder, "shopify")
    assert rows(con, "SELECT customer_id, marketing_opt_in FROM customers ORDER BY 1") == \
        list(zip(keys, opt_in))
    assert rows(con, "SELECT postcode FROM customers ORDER BY customer_id")[0][0] in ("4703 LU", "8103 LK")
    assert set(result.absent) == {"orders", "order_items", "newsletter_consent_events"}
    assert rows(con, "SELECT table_name, format FROM load_log WHERE format = 'absent' ORDER BY 1") == [
        ("newsletter_consent_events", "absent"), ("order_items", "absent"), ("orders", "absent")]
    con.close()


def test_shopify_orders_alone(tmp_path):
    export = tmp_path / "x"
    export.mkdir()
    shutil.copy(DATA / "shopify/2024/orders_export_1.csv", export)
    result = toolkit.load(export, db=tmp_path / "a.duckdb", mapping="shopify")
    assert_reconciles(result, tmp_path / "a.duckdb")
    note = result.by_table()["orders"].notes["links"]["customer_id"]
    assert note["linked"] == 0 and note["unmatched"] == 3 and "no customers table" in note["not_linked"]
    assert result.absent == {"customers": "'customers_export*.csv'"}


# ------------------------------------------------------------------ WooCommerce

def test_woocommerce_analytics_and_order_export_plugin(tmp_path_factory):
    result, con = load(tmp_path_factory, "woocommerce", "woocommerce")
    # naive local times are Amsterdam's (the shop's) and counted
    assert rows(con, "SELECT email, created_at, last_login_at FROM customers ORDER BY email") == [
        ("Amelia.vanWijk@example.nl", datetime(2023, 1, 9, 18, 58, 30, tzinfo=UTC),
         datetime(2023, 1, 9, 19, 0, tzinfo=UTC)),
        ("luka.cosman@example.nl", None, datetime(2024, 6, 2, 6, 5, 11, tzinfo=UTC)),
        ("noelle.vanbreugel@example.nl", datetime(2021, 2, 14, 8, 12, tzinfo=UTC),
         datetime(2024, 10, 30, 15, 41, 25, tzinfo=UTC))]
    plugin, analytics = [f for f in result.files if f.table == "orders"]
    assert plugin.file.startswith("orders-") and (plugin.rows_loaded, plugin.rows_skipped) == (2, 1)
    # the same orders in the Analytics download: the plugin's richer rows stand
    assert (analytics.rows_loaded, analytics.rows_rejected, analytics.rows_skipped) == (0, 0, 2)
    assert analytics.notes["skipped_rows"] == {"already loaded from an earlier file (same order_id)": 2}
    assert rows(con, "SELECT order_id, status, billing_name, delivery_name, email_at_order, "
                     "total_incl_vat, customer_comment, customer_id IS NOT NULL FROM orders ORDER BY 1") == [
        ("1102", "refunded", "Luka Cosman", "Luka Cosman", "luka.cosman@example.nl",
         Decimal("24.95"), None, True),
        ("1187", "completed", "Noëlle van Breugel", "Noëlle van Breugel",
         "Noelle.vanBreugel@example.nl", Decimal("99.94"),
         "Bel aan bij de buren als ik er niet ben: 06-12345678", True)]
    assert rows(con, "SELECT order_id, sku, quantity FROM order_items ORDER BY order_item_id") == [
        ("1187", "KM-01", 1), ("1187", "FP-100", 2), ("1102", "TP-7", 0)]
    con.close()


def test_woocommerce_analytics_orders_alone(tmp_path):
    export = tmp_path / "x"
    export.mkdir()
    for f in (DATA / "woocommerce").glob("orders_*.csv"):
        shutil.copy(f, export)
    result = toolkit.load(export, db=tmp_path / "a.duckdb", mapping="woocommerce")
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    assert rows(con, "SELECT order_id, status, billing_name FROM orders ORDER BY 1") == [
        ("1102", "refunded", "Luka Cosman"), ("1187", "completed", "Noëlle van Breugel")]
    assert "email_at_order" in result.files[0].notes["absent_columns"]
    con.close()


# ------------------------------------------------------------------ Mailchimp

@pytest.fixture(scope="module")
def mailchimp(tmp_path_factory):
    result, con = load(tmp_path_factory, "mailchimp", "mailchimp")
    yield result, con
    con.close()


def test_mailchimp_events_from_the_three_audience_files_in_utc(mailchimp):
    result, con = mailchimp
    got = rows(con, "SELECT event_id, email, action, method, occurred_at, ip_address "
                    "FROM newsletter_consent_events ORDER BY occurred_at, event_id")
    assert got == [
        ("cleaned_email_audience_export_3f9a1c2b7d:optin:1", "ceylin.brievingh@example.nl",
         "subscribe", "unknown", datetime(2022, 2, 2, 10, 10, 10, tzinfo=UTC), "203.0.113.5"),
        ("cleaned_email_audience_export_3f9a1c2b7d:confirm:1", "ceylin.brievingh@example.nl",
         "confirm", "double_opt_in", datetime(2022, 2, 2, 10, 12, tzinfo=UTC), "203.0.113.5"),
        ("unsubscribed_email_audience_export_3f9a1c2b7d:optin:1", "luka.cosman@example.nl",
         "subscribe", "unknown", datetime(2023, 5, 10, 8, 0, tzinfo=UTC), "198.51.100.7"),
        ("unsubscribed_email_audience_export_3f9a1c2b7d:confirm:1", "luka.cosman@example.nl",
         "confirm", "double_opt_in", datetime(2023, 5, 10, 8, 2, 13, tzinfo=UTC), "198.51.100.7"),
        # imported: no OPTIN_TIME, added at CONFIRM_TIME; 23:30 UTC is already 2024 in Amsterdam
        ("subscribed_email_audience_export_3f9a1c2b7d:added:2", "a.lorreijn@EXAMPLE.nl",
         "subscribe", "unknown", datetime(2023, 12, 31, 23, 30, tzinfo=UTC), None),
        ("subscribed_email_audience_export_3f9a1c2b7d:optin:1", "noelle.vanbreugel@example.nl",
         "subscribe", "unknown", datetime(2024, 3, 1, 13, 22, 10, tzinfo=UTC), "192.0.2.10"),
        ("subscribed_email_audience_export_3f9a1c2b7d:confirm:1", "noelle.vanbreugel@example.nl",
         "confirm", "double_opt_in", datetime(2024, 3, 1, 13, 25, 44, tzinfo=UTC), "192.0.2.10"),
        ("unsubscribed_email_audience_export_3f9a1c2b7d:unsub:1", "luka.cosman@example.nl",
         "unsubscribe", None, datetime(2024, 10, 27, 1, 30, tzinfo=UTC), None)]
    # UTC without an offset is not a naive (DQ-001) timestamp: the mapping names its zone
    assert all(f.naive_timestamps == 0 and f.notes["source_timezones"] == {"occurred_at": "UTC"}
               for f in result.files)
    skipped = {}
    for f in result.files:
        for why, n in f.notes.get("skipped_rows", {}).items():
            skipped[why] = skipped.get(why, 0) + n
    assert skipped == {"OPTIN_TIME is not filled": 2, "OPTIN_TIME is not empty": 3}


def test_mailchimp_members_without_a_shop_are_keyed_by_mailchimps_member_id(mailchimp):
    _, con = mailchimp
    ids = dict(rows(con, "SELECT DISTINCT lower(email), customer_id FROM newsletter_consent_events"))
    # Mailchimp's member id is the md5 of the lower-cased address
    assert ids["a.lorreijn@example.nl"] == "email:b511b041b3e371c64b9f3417830bbc97"
    assert len(set(ids.values())) == 4


def test_mailchimp_after_shopify_in_one_database_links_to_the_shops_customers(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(DATA / "shopify/2024", db=db, mapping="shopify")
    result = toolkit.load(DATA / "mailchimp", db=db, mapping="mailchimp")
    note = result.by_table()["newsletter_consent_events"].notes["links"]["customer_id"]
    # Noëlle's opt-in and confirmation; Ayden's, although Mailchimp writes the address in capitals
    assert note["linked"] == 3 and note["email_hash"] == 5
    con = duckdb.connect(str(db), read_only=True)
    assert rows(con, "SELECT DISTINCT customer_id FROM newsletter_consent_events WHERE "
                     "lower(email) = 'a.lorreijn@example.nl'") == [("7985351754006",)]
    con.close()


# ------------------------------------------------------------------ cookie scans

def test_openwpm_cookies_session_sentinel_and_deleted_records(tmp_path_factory):
    result, con = load(tmp_path_factory, "cookies-openwpm", "cookies-openwpm")
    assert result.files[0].notes["skipped_rows"] == {"record_type is not 'added-or-changed' or empty": 1}
    assert rows(con, "SELECT observation_id, scan_id, scanned_at, name, domain, expires_at, "
                     "is_session, storage_kind FROM cookie_observations ORDER BY 1") == [
        ("1", "4187221399462361", datetime(2024, 11, 4, 9, 15, 2, 118000, tzinfo=UTC), "PHPSESSID",
         "www.koffiehuis-smoot.nl", None, True, "cookie"),
        ("2", "4187221399462361", datetime(2024, 11, 4, 9, 15, 3, 402000, tzinfo=UTC), "_ga",
         ".koffiehuis-smoot.nl", datetime(2026, 11, 4, 9, 15, 3, tzinfo=UTC), False, "cookie"),
        ("3", "4187221399462361", datetime(2024, 11, 4, 9, 15, 4, 771000, tzinfo=UTC), "IDE",
         ".doubleclick.net", datetime(2025, 2, 2, 9, 15, 4, tzinfo=UTC), False, "cookie")]
    assert result.files[0].rows_rejected == 0    # 9999-12-31 is "no expiry", not an error
    con.close()


def test_browser_cookie_dumps_epoch_seconds_and_local_storage(tmp_path_factory):
    result, con = load(tmp_path_factory, "cookies-browser", "cookies-browser")
    assert rows(con, "SELECT observation_id, name, domain, expires_at, is_session, storage_kind "
                     "FROM cookie_observations ORDER BY 1") == [
        ("checkout-state:cookie:1", "cart", "www.koffiehuis-smoot.nl", None, True, "cookie"),
        ("checkout-state:cookie:2", "IDE", ".doubleclick.net",
         datetime(2025, 2, 2, 9, 15, 4, 500000, tzinfo=UTC), False, "cookie"),
        ("checkout-state:localstorage:1", "recently_viewed", "www.koffiehuis-smoot.nl", None, False,
         "local_storage"),
        ("checkout-state:localstorage:2", "_hjSessionUser_123456", "www.koffiehuis-smoot.nl", None,
         False, "local_storage"),
        ("homepage-cookies:1", "PHPSESSID", "www.koffiehuis-smoot.nl", None, True, "cookie"),
        # epoch seconds with microseconds, exactly
        ("homepage-cookies:2", "_ga", ".koffiehuis-smoot.nl",
         datetime(2026, 11, 4, 9, 15, 3, 402611, tzinfo=UTC), False, "cookie"),
        ("homepage-cookies:3", "_fbp", ".koffiehuis-smoot.nl",
         datetime(2025, 2, 2, 9, 15, 3, tzinfo=UTC), False, "cookie")]
    assert sum(f.rows_rejected for f in result.files) == 0
    con.close()


# ------------------------------------------------------------------ helpdesk and chat

def test_zendesk_tickets_with_comments(tmp_path_factory):
    result, con = load(tmp_path_factory, "zendesk", "zendesk")
    assert rows(con, "SELECT chat_id, channel, started_at FROM chats ORDER BY 1") == [
        ("4101", "email", datetime(2024, 10, 30, 16, 50, 12, tzinfo=UTC)),
        ("4102", "web", datetime(2024, 11, 2, 12, 0, tzinfo=UTC))]
    assert rows(con, "SELECT message_id, chat_id, sent_at, sender_role, body FROM chat_messages "
                     "ORDER BY 1") == [
        ("90001", "4101", datetime(2024, 10, 30, 16, 50, 12, tzinfo=UTC), "public_reply",
         "Hoi, mijn bestelling 1187 is nog niet binnen."),
        ("90002", "4101", datetime(2024, 10, 31, 8, 12, tzinfo=UTC), "public_reply",
         "Excuses! Mag ik voor de terugbetaling uw rekeningnummer?"),
        ("90003", "4101", datetime(2024, 10, 31, 8, 40, 31, tzinfo=UTC), "public_reply",
         "NL91 ABNA 0417 1643 00 t.n.v. N. van Breugel"),
        ("90004", "4101", datetime(2024, 10, 31, 9, 2, 40, tzinfo=UTC), "internal_note",
         "Terugbetaling ingepland; klant belt liever niet.")]
    assert "comments" in result.by_table()["chats"].notes["ignored_columns"]
    con.close()


def test_livechat_archive_threads(tmp_path_factory):
    _, con = load(tmp_path_factory, "livechat", "livechat")
    assert rows(con, "SELECT chat_id, channel, started_at FROM chats") == [
        ("SBQ4QN1U0B", "livechat", datetime(2024, 6, 2, 8, 10, 0, 123456, tzinfo=UTC))]
    assert rows(con, "SELECT message_id, chat_id, body, attachment_kind FROM chat_messages "
                     "ORDER BY sent_at") == [
        ("SBQ4QN1U1B_1", "SBQ4QN1U0B", "Ik wil mijn theepot retourneren", None),
        ("SBQ4QN1U1B_2", "SBQ4QN1U0B", "Prima! Wat is uw ordernummer?", None),
        ("SBQ4QN1U1B_3", "SBQ4QN1U0B", "1102. Betaald met kaart 4111 1111 1111 1111", None),
        ("SBQ4QN1U1B_4", "SBQ4QN1U0B", None, "file"),
        ("SBQ4QN1U1B_5", "SBQ4QN1U0B", "Chat closed by agent", None)]
    con.close()


# ------------------------------------------------------------------ Magento

def test_magento_grid_exports(tmp_path_factory):
    result, con = load(tmp_path_factory, "magento", "magento")
    assert rows(con, "SELECT customer_id, status, first_name, created_at, birth_date FROM customers "
                     "ORDER BY 1") == [
        ("12", "active", "Noëlle", datetime(2021, 2, 14, 9, 12, tzinfo=UTC), date(1985, 3, 4)),
        ("13", "blocked", "Nick", datetime(2023, 7, 9, 19, 5, 33, tzinfo=UTC), None)]
    assert rows(con, "SELECT order_id, placed_at, total_incl_vat, customer_id FROM orders ORDER BY 1") == [
        ("000000021", datetime(2024, 10, 30, 15, 41, 25, tzinfo=UTC), Decimal("99.94"), "12"),
        ("000000022", datetime(2024, 3, 30, 22, 59, 59, tzinfo=UTC), Decimal("24.95"), None)]
    con.close()


# ------------------------------------------------------------------ the language, feature by feature

def test_alternative_headers_absent_columns_constants_and_cleaning(load_files):
    mapping = parse_mapping({"tables": {"customers": {
        "file": "klanten*.csv",
        "columns": {
            "customer_id": {"from": ["Klantnr", "Id"], "strip_prefix": ["'", "K-"]},
            "email": {"from": ["E-mail", "Email"], "lower": True},
            "phone": ["Telefoon"],                                   # not in the file: absent
            "status": {"from": "Status", "map": {"A": "active", "X": "erased"}},
            "created_at": {"from": "Sinds", "epoch": "ms"},
            "last_login_at": {"from": "Login", "timezone": "UTC", "null_values": ["0", "9999-12-31"]},
        },
        "constants": {"source_system": "crm"}}}})
    result, con = load_files({"klanten_2024.csv": (
        "Id,Email,Status,Sinds,Login\n"
        "'K-1,Jan@Example.NL,A,1704067200000,2024-03-01 12:00:00\n"
        "K-2,piet@example.nl,Z,1704067200500,0\n"
        "3,kees@example.nl,X,,9999-12-31T23:59:59\n")}, mapping=mapping)
    con.execute("SET TimeZone = 'UTC'")
    assert con.execute("SELECT customer_id, email, status, created_at, last_login_at, source_system "
                       "FROM customers ORDER BY 1").fetchall() == [
        ("1", "jan@example.nl", "active", datetime(2024, 1, 1, tzinfo=UTC),
         datetime(2024, 3, 1, 12, tzinfo=UTC), "crm"),
        ("2", "piet@example.nl", "Z", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), None, "crm"),
        ("3", "kees@example.nl", "erased", None, None, "crm")]
    f = result.files[0]
    assert f.notes["absent_columns"] == ["phone"]
    assert f.notes["unknown_values"] == {"status": 1}      # "Z": kept, counted
    assert f.rows_rejected == 0 and f.naive_timestamps == 0


def test_the_key_column_alone_is_required(tmp_path):
    export = write_files(tmp_path / "x", {"klanten.csv": "Naam\nJan\n"})
    mapping = parse_mapping({"tables": {"customers": {"file": "klanten.csv", "columns": {
        "customer_id": ["Klantnr", "Id"], "first_name": "Naam"}}}})
    with pytest.raises(UnusableInputError, match=r"no key column for customers.customer_id "
                                                  r"\(looked for 'Klantnr', 'Id'\)"):
        toolkit.load(export, db=tmp_path / "a.duckdb", mapping=mapping)
    assert not (tmp_path / "a.duckdb").exists()


def test_an_unparsable_epoch_is_rejected_not_guessed(load_files):
    mapping = parse_mapping({"tables": {"cookie_observations": {
        "file": "c.csv", "generated_key": True,
        "columns": {"name": "n", "expires_at": {"from": "e", "epoch": "s", "null_values": "-1"}}}}})
    result, con = load_files({"c.csv": "n,e\na,-1\nb,1.7e9\nc,1735689600\n"}, mapping=mapping)
    assert con.execute("SELECT row_number, reason FROM rejected_rows").fetchall() == [
        (2, "invalid timestamp in column expires_at")]


def test_a_mapping_table_without_its_file_is_skipped_or_required(tmp_path):
    export = write_files(tmp_path / "x", {"customers.csv": "customer_id\nc1\n"})
    optional = parse_mapping({"tables": {"orders": {"file": "bestellingen*.csv"}}})
    result = toolkit.load(export, db=tmp_path / "a.duckdb", mapping=optional)
    assert result.absent == {"orders": "'bestellingen*.csv'"} and result.rows_loaded == 1
    required = parse_mapping({"tables": {"orders": {"file": "bestellingen*.csv", "required": True}}})
    with pytest.raises(MappingError, match=r"tables.orders.file: 'bestellingen\*.csv' not found"):
        toolkit.load(export, db=tmp_path / "b.duckdb", mapping=required)


# ------------------------------------------------------------------ errors name the key

@pytest.mark.parametrize("data,message", [
    ({"tables": {"klanten": {}}}, "tables.klanten: unknown table"),
    ({"tables": {"customers": {"columns": {"Naam": "naam"}}}},
     "tables.customers.columns.Naam: unknown column 'naam'"),
    ({"tables": {"customers": {"colums": {}}}}, "tables.customers.colums: Extra inputs are not permitted"),
    ({"tables": {"customers": {"encoding": "ebcdic"}}}, "tables.customers.encoding"),
    ({"tables": {"customers": {"delimiter": ":"}}}, "tables.customers.delimiter"),
    ({"tables": {"customers": {"column_formats": {"email": "%d"}}}}, "column_formats.email: not a date"),
    ({"tables": {"customers": {"columns": {"A": "email", "B": "email"}}}},
     "several source columns map to email"),
    (["customers"], "expected a mapping"),
    ({"tables": {"customers": {"constants": {"klant": 1}}}},
     "tables.customers.constants.klant: a constant for an unknown column"),
    ({"tables": {"customers": {"constants": {"status": "zombie"}}}},
     "tables.customers.constants.status: 'zombie' is not a value of status"),
    ({"tables": {"customers": {"files": [{"file": "a.csv", "constants": {"x": 1}}]}}},
     "tables.customers.files.0.constants.x: a constant for an unknown column"),
    ({"tables": {"customers": {"columns": {"created_at": {"from": "x", "format": "%Q"}}}}},
     "tables.customers.columns.created_at.format: format '%Q': unknown directive %Q"),
    ({"tables": {"customers": {"date_format": "dd-mm-yyyy"}}},
     "tables.customers.date_format: format 'dd-mm-yyyy' has no % directive"),
    ({"tables": {"customers": {"timezone": "Amsterdam"}}},
     "tables.customers.timezone: unknown time zone 'Amsterdam'"),
    ({"tables": {"customers": {"columns": {"created_at": {"from": "x", "timezone": "Mars/Olympus"}}}}},
     "tables.customers.columns.created_at.timezone: unknown time zone 'Mars/Olympus'"),
    ({"tables": {"customers": {"columns": {"phone": {"from": "x", "epoch": "s"}}}}},
     "tables.customers.columns.phone.epoch: phone is not a date or timestamp column"),
    ({"tables": {"customers": {"columns": {"phone": {"from": "x", "epoch": "us"}}}}},
     "tables.customers.columns.phone.epoch"),
    ({"tables": {"customers": {"columns": {"phone": {"form": "x"}}}}},
     "tables.customers.columns.phone.form: Extra inputs are not permitted"),
    ({"tables": {"customers": {"columns": {"status": {"from": "x", "map": {"A": "actief"}}}}}},
     "tables.customers.columns.status.map.A: 'actief' is not a value of status"),
    ({"tables": {"customers": {"columns": {"phone": {"strip_prefix": "'"}}}}},
     "tables.customers.columns.phone: names no source header (from) and no constant (value)"),
    ({"tables": {"orders": {"link": {"customer_id": {"by_email": "mail"}}}}},
     "tables.orders.link.customer_id.by_email: unknown column 'mail' of orders"),
    ({"tables": {"chat_messages": {"records": "comments[*]"}}},
     "tables.chat_messages.records: 'comments[*]' is not a path"),
    ({"tables": {"customers": {"file": "a.csv", "files": [{"file": "b.csv"}]}}},
     "tables.customers.files: give either file or files, not both"),
])
def test_mapping_errors_name_the_key(data, message):
    with pytest.raises(MappingError) as e:
        parse_mapping(data)
    assert message in str(e.value)


def test_a_bad_mapping_on_the_command_line_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("tables:\n  customers:\n    timezone: Amsterdam\n")
    res = CliRunner().invoke(app, ["load", str(DATA / "shopify/2024"), "--db", str(tmp_path / "a.duckdb"),
                                   "--mapping", str(bad)])
    assert res.exit_code == 2 and "tables.customers.timezone: unknown time zone" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "a.duckdb").exists()
    res = CliRunner().invoke(app, ["load", str(DATA / "shopify/2024"), "--db", str(tmp_path / "a.duckdb"),
                                   "--mapping", "shopfiy"])
    assert res.exit_code == 2 and "built-in mappings: cookies-browser" in res.output


def test_unreadable_yaml(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("tables: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        read_mapping(p)
    with pytest.raises(MappingError, match="mapping file not found"):
        read_mapping(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", builtin_names())
def test_every_shipped_mapping_reads_and_is_the_same_by_path(name):
    assert read_mapping(builtin_mapping(name)) == read_mapping(name)
    assert read_mapping(name).description


# ------------------------------------------------------------------ inspect

# SEC-002/004/006 scan every free-text column and every extra column an export brings
# (issue 14): any export with one of them makes them evaluable
FREE_TEXT_RULES = ["SEC-002", "SEC-004", "SEC-006"]


@pytest.mark.parametrize("folder,mapping,evaluable", [
    ("shopify/2024", "shopify", ["RET-005", "CON-001", *FREE_TEXT_RULES, "TRN-001"]),
    ("shopify/2022", "shopify", [*FREE_TEXT_RULES, "TRN-001"]),
    ("woocommerce", "woocommerce", ["RET-005", *FREE_TEXT_RULES, "TRN-001"]),
    ("magento", "magento", ["RET-005", "RET-014", *FREE_TEXT_RULES, "TRN-001"]),
    ("mailchimp", "mailchimp", ["CON-001", *FREE_TEXT_RULES, "TRN-001"]),
    ("cookies-openwpm", "cookies-openwpm", ["CKE-001", "CKE-002", "CKE-003", *FREE_TEXT_RULES, "TRN-001"]),
    ("cookies-browser", "cookies-browser", ["CKE-001", "CKE-002", "CKE-003", *FREE_TEXT_RULES, "TRN-001"]),
    ("zendesk", "zendesk", [*FREE_TEXT_RULES, "TRN-001"]),
    ("livechat", "livechat", [*FREE_TEXT_RULES, "TRN-001"]),
])
def test_inspect_finds_the_mapping_and_the_evaluable_rules_without_writing(folder, mapping, evaluable):
    before = sorted(p.name for p in (DATA / folder).iterdir())
    res = toolkit.inspect(DATA / folder)
    assert res.mapping == mapping
    assert all(f.best is not None and f.best.mapping == mapping for f in res.files)
    assert res.evaluable == evaluable
    assert sorted(p.name for p in (DATA / folder).iterdir()) == before


def test_inspect_agrees_with_the_audit(tmp_path):
    db = tmp_path / "a.duckdb"
    toolkit.load(DATA / "shopify/2024", db=db, mapping="shopify")
    audit = toolkit.audit(db, "2026-10-31", store=False)
    assert [r.rule_id for r in audit.rules if r.status == "evaluated"] == \
        toolkit.inspect(DATA / "shopify/2024").evaluable
    missing = {r.rule_id: r.missing for r in audit.rules if r.status == "not_evaluable"}
    preview = {r.rule_id: ", ".join(r.missing) for r in toolkit.inspect(DATA / "shopify/2024").rules
               if r.status == "not_evaluable"}
    assert missing == preview


def test_inspect_names_what_is_absent_and_what_would_be_refused(tmp_path):
    export = write_files(tmp_path / "x", {"klanten.csv": "Naam\nJan\n", "customers_export.csv":
                                          "First Name,Email\nJan,jan@example.nl\n"})
    mapping = parse_mapping({"tables": {"customers": {"file": "klanten.csv", "columns": {
        "customer_id": ["Klantnr"], "first_name": "Naam"}}}})
    res = toolkit.inspect(export, mapping=mapping)
    assert res.tables[0].problem.endswith("no key column for customers.customer_id (looked for 'Klantnr')")
    assert res.skipped == ["customers_export.csv"]
    assert [f.best.mapping for f in res.files if f.file == "customers_export.csv"] == ["shopify"]
    res = toolkit.inspect(export, mapping="shopify")
    assert res.tables[0].absent == ["last_name", "phone", "street", "postcode", "city",
                                    "country_code", "notes", "marketing_opt_in"]
    assert set(res.absent_tables) == {"orders", "order_items", "newsletter_consent_events"}


def test_inspect_a_json_document_over_several_lines_is_a_problem_unless_a_mapping_reads_it():
    # the loader refuses such a file read as records; a shipped mapping's records: reads it
    bad = toolkit.inspect(Path(__file__).parent / "data" / "bad" / "json_pretty_printed_document")
    assert bad.files[0].problem.endswith("one JSON document spread over several lines, not records "
                                         "(an array of objects, or one object per line); a "
                                         "mapping's records: reads a nested array")
    assert bad.files[0].fits == []
    chats = toolkit.inspect(DATA / "livechat").files[0]
    assert (chats.problem, chats.format, chats.best.mapping) == (None, "json", "livechat")


def test_inspect_on_the_command_line(tmp_path):
    res = CliRunner().invoke(app, ["inspect", str(DATA / "zendesk")])
    assert res.exit_code == 0, res.output
    assert "zendesk (chat_messages)" in res.output and "Rules: 4 of" in res.output
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "export folder not found" in res.output


def test_a_renamed_export_is_recognised_by_its_header(tmp_path):
    export = tmp_path / "x"
    export.mkdir()
    shutil.copy(DATA / "shopify/2024/customers_export.csv", export / "klanten december.csv")
    shutil.copy(DATA / "shopify/2024/orders_export_1.csv", export)
    result = toolkit.load(export, db=tmp_path / "a.duckdb", mapping="shopify")
    customers = result.by_table()["customers"]
    assert customers.file == "klanten december.csv" and customers.rows_loaded == 3
    assert customers.notes["matched_by_header"] == (
        "the mapping looks for 'customers_export*.csv'; this file's header fits customers")
    assert result.by_table()["orders"].notes["links"]["customer_id"]["linked"] == 2
    assert [t.file for t in toolkit.inspect(export).tables][:1] == ["klanten december.csv"]


def test_loading_a_product_export_without_a_mapping_suggests_one(tmp_path):
    with pytest.raises(UnusableInputError, match="these files fit the shipped mapping 'magento': "
                                                  "use --mapping magento"):
        toolkit.load(DATA / "magento", db=tmp_path / "a.duckdb")


def test_the_audit_manifest_lists_every_file_of_a_mapped_load(tmp_path):
    import json
    db = tmp_path / "a.duckdb"
    toolkit.load(DATA / "shopify/2024", db=db, mapping="shopify")
    toolkit.load(DATA / "mailchimp", db=db, mapping="mailchimp")
    toolkit.load(DATA / "shopify/2022", db=db, mapping="shopify")     # orders absent this time
    toolkit.audit(db, "2026-10-31", out=tmp_path / "out", store=False)
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["exports"]["orders"]["file"] == "orders_export_1.csv"    # still the loaded one
    assert m["exports"]["customers"]["rows_loaded"] == 2
    events = [f for f in m["export_files"] if f["table"] == "newsletter_consent_events"]
    assert len(events) == 10 and {f["file"] for f in events} == {
        "subscribed_email_audience_export_3f9a1c2b7d.csv",
        "unsubscribed_email_audience_export_3f9a1c2b7d.csv",
        "cleaned_email_audience_export_3f9a1c2b7d.csv"}
