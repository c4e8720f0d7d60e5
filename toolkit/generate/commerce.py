"""Orders, order lines and payments.

The shop sells its own goods (``seller_id`` NULL or ``'shop'``) and goods of external sellers
(``S01``..``S04``). Orders keep billing and delivery blocks (fiscal) and, while the customer is
within retention, the checkout contact data (e-mail, phone, IP). Purged customers' orders keep
only fiscal fields. No background order is older than the fiscal window of the export date.
Money is integer cents.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .calendar import nl_date
from .checks import nl_iban
from .context import Ctx, Cust
from . import sharing

PRODUCTS: tuple[tuple[str, str, int, str | None], ...] = (
    ("SKU-10001", "Koffiezetapparaat RVS 1,5 l", 6995, None),
    ("SKU-10002", "Waterkoker glas 1,7 l", 3495, None),
    ("SKU-10003", "Stofzuiger zakloos", 14900, None),
    ("SKU-10004", "Bureaulamp LED dimbaar", 4450, None),
    ("SKU-10005", "Dekbedovertrek katoen 240x220", 5999, None),
    ("SKU-10006", "Pannenset 5-delig inductie", 12995, None),
    ("SKU-10007", "Handdoekenset grijs (6 stuks)", 2995, None),
    ("SKU-10008", "Bluetooth speaker waterdicht", 3995, None),
    ("SKU-10009", "Regenjas unisex maat M", 7950, None),
    ("SKU-10010", "Wandklok hout 40 cm", 2495, None),
    ("SKU-10011", "Opbergbox met deksel 45 l", 1299, None),
    ("SKU-10012", "Thermosbeker 350 ml", 1495, None),
    ("SKU-20001", "Fietsbel chroom", 895, "S01"),
    ("SKU-20002", "Fietsverlichting set USB", 2995, "S01"),
    ("SKU-20003", "Binnenband 28 inch", 699, "S01"),
    ("SKU-30001", "Tuinslang 25 m met spuitstuk", 3495, "S02"),
    ("SKU-30002", "Plantenbak zink 60 cm", 2750, "S02"),
    ("SKU-30003", "Snoeischaar professioneel", 2195, "S02"),
    ("SKU-40001", "Roman: De Avond Is Ongemak (paperback)", 2299, "S03"),
    ("SKU-40002", "Kookboek Hollandse Pot", 2999, "S03"),
    ("SKU-50001", "Powerbank 20000 mAh", 3999, "S04"),
    ("SKU-50002", "USB-C kabel 2 m (2 stuks)", 1499, "S04"),
)
SHOP = [p for p in PRODUCTS if p[3] is None]
SELLER_PRODUCTS = {s: [p for p in PRODUCTS if p[3] == s] for s in ("S01", "S02", "S03", "S04")}
SELLER_SINCE = {"S01": date(2019, 1, 1), "S02": date(2019, 1, 1), "S03": date(2019, 1, 1),
                "S04": date(2023, 4, 1)}
METHODS = (("ideal", 55), ("creditcard", 20), ("paypal", 10), ("klarna", 10), ("bancontact", 5))
ORDER_STATUS = (("delivered", 80), ("shipped", 5), ("returned", 6), ("cancelled", 5), ("paid", 4))


def _weighted(ctx: Ctx, pairs) -> str:
    total = sum(w for _, w in pairs)
    x = ctx.rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def sellers_open(d: date) -> list[str]:
    return [s for s, since in SELLER_SINCE.items() if d >= since]


def basket(ctx: Ctx, placed: datetime, seller: str | None = None, shop: bool = True) -> list[tuple]:
    """Order lines ``(sku, description, unit_cents, seller_id, qty)``."""
    r = ctx.rng
    lines = []
    if shop:
        for p in r.sample(SHOP, r.randint(1, 2)):
            lines.append((p[0], p[1], p[2], r.choice((None, "shop")), r.randint(1, 3)))
    if seller is None and r.random() < 0.2:   # seller="" means: no external seller
        open_ = sellers_open(nl_date(placed))
        seller = r.choice(open_) if open_ else None
    if seller:
        p = r.choice(SELLER_PRODUCTS[seller])
        lines.append((p[0], p[1], p[2], seller, r.randint(1, 2)))
    return lines


def make_order(ctx: Ctx, c: Cust | None, placed: datetime, lines: list[tuple] | None = None,
               contact: bool = True, status: str | None = None, pay: bool = True,
               anonymised_at: datetime | None = None, payment: dict | None = None,
               keep: tuple[str, ...] | None = None) -> dict:
    """Write an order with its lines and payment; returns the order row plus ``sellers``.

    ``contact=False`` leaves e-mail, phone and IP empty (fiscal fields only); ``keep`` limits the
    checkout contact fields kept to the named ones. ``anonymised_at`` writes a fully anonymised
    order (no customer, no names or addresses). ``payment`` overrides payment columns.
    """
    r = ctx.rng
    lines = lines if lines is not None else basket(ctx, placed)
    oid = ctx.nid("O", 8)
    total = sum(u * q for _, _, u, _, q in lines)
    vat = round(total * 21 / 121)
    status = status or _weighted(ctx, ORDER_STATUS)
    name = f"{c.first_name} {c.last_name}" if c and c.first_name else None
    street = f"{c.street} {c.house_number}" if c and c.street else None
    other_address = r.random() < 0.1
    row = {
        "order_id": oid, "customer_id": c.cid if c else None, "placed_at": placed, "status": status,
        "billing_name": name, "billing_street": street,
        "billing_postcode": c.postcode if c else None, "billing_city": c.city if c else None,
        "billing_country": "NL",
        "delivery_name": name, "delivery_street": street,
        "delivery_postcode": c.postcode if c else None, "delivery_city": c.city if c else None,
        "delivery_country": "NL",
        "email_at_order": c.email if c and contact else None,
        "phone_at_order": c.phone if c and contact and r.random() < 0.7 else None,
        "ip_address": ctx.ip() if contact else None,
        "currency": "EUR", "total_incl_vat": total, "total_vat": vat,
        "invoice_id": f"INV{nl_date(placed).year}-{ctx.nid('INV' + str(nl_date(placed).year), 6)[7:]}",
        "anonymised_at": anonymised_at,
    }
    if other_address and c and c.street:
        row["delivery_street"] = f"{r.choice(ctx.pools.streets)} {r.randint(1, 120)}"
        row["delivery_postcode"] = r.choice(ctx.pools.postcodes)
        row["delivery_city"] = r.choice(ctx.pools.cities)
    if keep is not None:
        for f in ("email_at_order", "phone_at_order", "ip_address"):
            if f not in keep:
                row[f] = None
            elif row[f] is None and c is not None:
                row[f] = {"email_at_order": c.email, "phone_at_order": c.phone,
                          "ip_address": ctx.ip()}[f]
    if anonymised_at is not None:
        for f in ("customer_id", "billing_name", "billing_street", "billing_postcode",
                  "billing_city", "delivery_name", "delivery_street", "delivery_postcode",
                  "delivery_city", "email_at_order", "phone_at_order", "ip_address"):
            row[f] = None
    ctx.emit("orders", row)
    for sku, desc, unit, seller, qty in lines:
        ctx.emit("order_items", {"order_item_id": ctx.nid("OI", 9), "order_id": oid,
                                 "seller_id": seller, "sku": sku, "description": desc,
                                 "quantity": qty, "unit_price_incl_vat": unit})
    paid = pay and status != "cancelled"
    if paid:
        method = _weighted(ctx, METHODS)
        prow = {"payment_id": ctx.nid("PAY", 9), "order_id": oid,
                "customer_id": row["customer_id"],
                "paid_at": placed + timedelta(seconds=r.randint(20, 900)), "method": method,
                "psp_reference": "PG-" + "%012X" % r.getrandbits(48), "amount": total,
                "card_pan": None, "card_last4": None, "card_cvv": None, "iban": None}
        if method == "creditcard":
            prow["card_last4"] = "%04d" % r.randint(0, 9999)
        elif method == "ideal" and contact and anonymised_at is None and c is not None:
            prow["iban"] = nl_iban(r)
        if payment:
            prow.update(payment)
        ctx.emit("payments", prow)
        row["payment"] = prow
    row["paid"] = paid
    row["sellers"] = sorted({s for _, _, _, s, _ in lines if s not in (None, "shop")})
    row["lines"] = lines
    return row


def background_orders(ctx: Ctx, c: Cust) -> list[dict]:
    """0-4 orders at visit times; purged customers keep fiscal fields only."""
    r = ctx.rng
    n = int(_weighted(ctx, (("0", 30), ("1", 35), ("2", 20), ("3", 10), ("4", 5))))
    visits = [v for v in c.human_visits if nl_date(v) >= ctx.world_start]
    out = []
    for v in sorted(r.sample(visits, min(n, len(visits)))):
        placed = v + timedelta(minutes=r.randint(2, 40))
        if placed >= ctx.limit:
            continue
        end = c.erased_at or c.deauthorised_at
        if end is not None and placed >= end:
            continue
        o = make_order(ctx, c, placed, contact=not c.purged)
        sharing.order_transfers(ctx, c, o)
        out.append(o)
    return out


def guest_order(ctx: Ctx) -> None:
    """A guest checkout (``customer_id`` NULL, shop goods only, no transfers). Guest orders older
    than about 11 months have their checkout contact fields removed already."""
    placed = ctx.rand_between(ctx.at(ctx.world_start), ctx.limit - timedelta(days=1))
    recent = placed > ctx.limit - timedelta(days=330)
    g = ctx.person("C0", placed)
    g.cid = None  # type: ignore[assignment]
    lines = basket(ctx, placed, seller="")
    make_order(ctx, g, placed, lines=lines, contact=recent)
