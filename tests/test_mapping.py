"""Mapping files: the Shopify example and the errors that name the key."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.exceptions import MappingError
from toolkit.mapping import builtin_mapping, parse_mapping, read_mapping

from .conftest import assert_reconciles

SHOPIFY = Path(__file__).parent / "data" / "shopify"


def test_shopify_customers_and_orders_export(tmp_path):
    db = tmp_path / "a.duckdb"
    result = toolkit.load(SHOPIFY, db=db, mapping="shopify")
    assert_reconciles(result, db)
    counts = {f.table: (f.rows_read, f.rows_loaded, f.rows_rejected) for f in result.files}
    assert counts == {"customers": (3, 3, 0), "orders": (3, 2, 1), "order_items": (3, 3, 0)}
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    assert con.execute("SELECT customer_id, first_name, last_name, email, marketing_opt_in, postcode "
                       "FROM customers ORDER BY 1").fetchall() == [
        ("7290218184956", "Sanne", "de Vries", "sanne.devries@example.nl", True, "7311 AB"),
        ("7290218217724", "Bram", "Jansen", "bram.jansen@example.nl", False, "8011 CD"),
        ("7290218250492", "Fleur", "van Dijk", "fleur@example.nl", True, "3511 ED")]
    assert con.execute("SELECT notes FROM customers WHERE first_name = 'Bram'").fetchone()[0] == \
        "Belt liever na 17:00,\nniet op maandag"
    assert con.execute("SELECT order_id, placed_at, total_incl_vat, total_vat, billing_name, "
                       "delivery_postcode, email_at_order FROM orders ORDER BY 1").fetchall() == [
        ("#1001", datetime(2024, 3, 1, 13, 22, 10, tzinfo=timezone.utc), Decimal("104.95"),
         Decimal("18.05"), "Sanne de Vries", "7311 AB", "sanne.devries@example.nl"),
        ("#1002", datetime(2024, 10, 26, 21, 59, 59, tzinfo=timezone.utc), Decimal("54.50"),
         Decimal("9.46"), "Fleur van Dijk", "3511 ED", "fleur@example.nl")]
    # the line-item continuation row is not lost: it is a rejected duplicate of the order ...
    assert con.execute("SELECT table_name, row_number, reason FROM rejected_rows").fetchall() == [
        ("orders", 2, "duplicate primary key order_id (first at row 1)")]
    # ... and an order line
    assert con.execute("SELECT order_item_id, order_id, seller_id, sku, quantity, unit_price_incl_vat "
                       "FROM order_items ORDER BY 1").fetchall() == [
        ("orders_export:1", "#1001", "Smoot", "KM-01", 1, Decimal("79.95")),
        ("orders_export:2", "#1001", "Koffiehuis Jansen", "FP-100", 2, Decimal("10.00")),
        ("orders_export:3", "#1002", "Smoot", "TP-7", 1, Decimal("54.50"))]
    # columns the mapping does not name are kept on orders, dropped (and noted) on order_items
    assert "payment_method" in [r[0] for r in con.execute("DESCRIBE orders").fetchall()]
    assert "Billing Name" in result.by_table()["order_items"].notes["dropped_columns"]
    con.close()


def test_shopify_mapping_file_in_the_package_is_the_same_by_path():
    assert read_mapping(builtin_mapping("shopify")) == read_mapping("shopify")


@pytest.mark.parametrize("data,message", [
    ({"tables": {"klanten": {}}}, "tables.klanten: unknown table"),
    ({"tables": {"customers": {"columns": {"Naam": "naam"}}}}, "tables.customers.columns.Naam: unknown column 'naam'"),
    ({"tables": {"customers": {"colums": {}}}}, "tables.customers.colums: Extra inputs are not permitted"),
    ({"tables": {"customers": {"encoding": "ebcdic"}}}, "tables.customers.encoding"),
    ({"tables": {"customers": {"delimiter": ":"}}}, "tables.customers.delimiter"),
    ({"tables": {"customers": {"column_formats": {"email": "%d"}}}}, "column_formats.email: not a date"),
    ({"tables": {"customers": {"columns": {"A": "email", "B": "email"}}}}, "several source columns map to email"),
    (["customers"], "expected a mapping"),
])
def test_mapping_errors_name_the_key(data, message):
    with pytest.raises(MappingError, match=None) as e:
        parse_mapping(data)
    assert message in str(e.value)


def test_mapping_that_names_a_missing_file_or_column(tmp_path):
    export = tmp_path / "x"
    shutil.copytree(SHOPIFY, export)
    bad_file = tmp_path / "m1.yaml"
    bad_file.write_text("tables:\n  customers:\n    file: klanten.csv\n")
    with pytest.raises(MappingError, match="tables.customers.file: 'klanten.csv' not found"):
        toolkit.load(export, db=tmp_path / "a.duckdb", mapping=bad_file)
    bad_col = tmp_path / "m2.yaml"
    bad_col.write_text("tables:\n  customers:\n    file: customers_export.csv\n"
                       "    columns:\n      Klantnummer: customer_id\n")
    with pytest.raises(Exception, match="Klantnummer"):
        toolkit.load(export, db=tmp_path / "a.duckdb", mapping=bad_col)
    assert not (tmp_path / "a.duckdb").exists()
    res = CliRunner().invoke(app, ["load", str(export), "--db", str(tmp_path / "a.duckdb"),
                                   "--mapping", str(bad_col)])
    assert res.exit_code == 2 and "Klantnummer" in res.output and "Traceback" not in res.output


def test_unreadable_yaml(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("tables: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        read_mapping(p)
    with pytest.raises(MappingError, match="mapping file not found"):
        read_mapping(tmp_path / "nope.yaml")
