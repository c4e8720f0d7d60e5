"""Planted scenarios for the sharing rules SHR-001, SHR-002, SHR-003, SHR-004, SHR-005, SHR-008.

Dates around agreement boundaries are the fixed dates of ``sharing.AGREEMENTS`` (a carrier
lapse on 2023-12-31 with a backdated renewal signed 2024-02-20, a distribution-centre DPA
terminated effective 2025-03-01 and renewed 2025-03-15, a research DPA ending 2024-12-31 and
renewed 2025-02-01) and the legal dates of Chapter V (Privacy Shield invalid from 2020-07-16,
old SCCs unusable from 2022-12-27). A scenario whose date is not before as_of is skipped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .calendar import local, nl_date, utc
from .commerce import SELLER_PRODUCTS, SHOP, make_order
from .context import Ctx
from .scenarios import active, commit, near_miss, violation
from .sharing import DELIVERY, LINES, _SELLER_FIELDS, covered, transfer

SELLER_FIELDS = list(_SELLER_FIELDS)
DC_FIELDS = ["order_id"] + LINES + DELIVERY[1:]


def _customer(ctx: Ctx, cid: str, before: datetime | None = None):
    """A clean account that exists well before ``before``."""
    created = (before - timedelta(days=ctx.rng.randint(60, 300))) if before else None
    return commit(ctx, active(ctx, cid, created=created))


def _lines(ctx: Ctx, seller: str | None, shop: bool = True):
    r = ctx.rng
    out = []
    if shop:
        p = r.choice(SHOP)
        out.append((p[0], p[1], p[2], None, 1))
    if seller:
        p = r.choice(SELLER_PRODUCTS[seller])
        out.append((p[0], p[1], p[2], seller, r.randint(1, 2)))
    return out


def _ok(ctx: Ctx, ts: datetime) -> bool:
    return ts < ctx.limit - timedelta(hours=1)


# ---------------------------------------------------------------------------------- SHR-001

def _unknown(ctx: Ctx, cid: str, rid: str, days: int, fields, purpose: str) -> str:
    c = _customer(ctx, cid)
    return transfer(ctx, rid, ctx.days_ago(days), c.cid, None, fields, purpose, "NL")


@violation("SHR-001", "unregistered_data_enrichment")
def shr001_enrichment(ctx: Ctx, cids):
    """Customer data sent to a data-enrichment company (R90) that is not in the recipients
    register. SHR-002/003/008 only evaluate registered recipients, so only SHR-001 flags it."""
    t = _unknown(ctx, cids[0], "R90", ctx.rng.randint(5, 200),
                 ["email", "first_name", "last_name", "postcode"], "data_enrichment")
    ctx.flag("SHR-001", t, "unregistered_data_enrichment")


@violation("SHR-001", "unregistered_address_broker")
def shr001_broker(ctx: Ctx, cids):
    """Names and addresses sent to an address broker (R91) missing from the register."""
    t = _unknown(ctx, cids[0], "R91", ctx.rng.randint(5, 200),
                 ["first_name", "last_name", "street", "postcode", "city"], "advertising")
    ctx.flag("SHR-001", t, "unregistered_address_broker")


@violation("SHR-001", "former_carrier_dropped_from_register")
def shr001_former(ctx: Ctx, cids):
    """Delivery data sent two years ago to a carrier (R92) that was later deleted from the
    recipients register together with its agreement."""
    t = _unknown(ctx, cids[0], "R92", ctx.rng.randint(600, 750), DELIVERY[1:], "delivery")
    ctx.flag("SHR-001", t, "former_carrier_dropped_from_register")


@near_miss("SHR-001", "authority_without_agreement")
def shr001_nm_authority(ctx: Ctx, cids):
    """Transfer to the tax authority (registered, role authority, no agreement needed)."""
    c = _customer(ctx, cids[0])
    o = make_order(ctx, c, ctx.days_ago(200))
    t = transfer(ctx, "R12", ctx.days_ago(150), c.cid, o["order_id"],
                 ["order_id", "billing_name", "total_incl_vat"], "legal_obligation")
    ctx.miss("SHR-001", t, "authority_without_agreement")


@near_miss("SHR-001", "police_demand")
def shr001_nm_police(ctx: Ctx, cids):
    """Transfer to the police on a demand (registered authority R15)."""
    c = _customer(ctx, cids[0])
    t = transfer(ctx, "R15", ctx.days_ago(ctx.rng.randint(10, 90)), c.cid, None,
                 ["first_name", "last_name", "email"], "legal_obligation")
    ctx.miss("SHR-001", t, "police_demand")


@near_miss("SHR-001", "newest_seller_first_day")
def shr001_nm_new_seller(ctx: Ctx, cids):
    """Seller S04 (R07) whose terms started 2023-04-01: its order data sent on that very day."""
    placed = local(date(2023, 4, 1), 9, 15)
    if not _ok(ctx, placed + timedelta(days=1)):
        return
    c = _customer(ctx, cids[0], placed)
    o = make_order(ctx, c, placed, lines=_lines(ctx, "S04"))
    t = transfer(ctx, "R07", placed + timedelta(hours=2), c.cid, o["order_id"], SELLER_FIELDS,
                 "order_fulfilment")
    ctx.miss("SHR-001", t, "newest_seller_first_day")


# ---------------------------------------------------------------------------------- SHR-002

def _carrier(ctx: Ctx, cid: str, rid: str, ts: datetime, fields=None) -> str:
    c = _customer(ctx, cid, ts)
    o = make_order(ctx, c, ts - timedelta(hours=20), lines=_lines(ctx, None))
    return transfer(ctx, rid, ts, c.cid, o["order_id"], fields or DELIVERY, "delivery")


def _dc(ctx: Ctx, cid: str, ts: datetime, fields=None) -> str:
    c = _customer(ctx, cid, ts)
    o = make_order(ctx, c, ts - timedelta(minutes=30), lines=_lines(ctx, None))
    return transfer(ctx, "R03", ts, c.cid, o["order_id"], fields or DC_FIELDS, "order_fulfilment")


# Fields of uncovered transfers (SHR-002 violations) lie inside both the lapsed agreement's list
# and the catalogue 1.4 category default, so SHR-003 does not flag them whichever it falls back to.
UNCOVERED_DELIVERY = DELIVERY[1:]
UNCOVERED_DC = ["order_id", "sku", "description"] + DELIVERY[1:]


@violation("SHR-002", "day_after_agreement_lapsed")
def shr002_lapse(ctx: Ctx, cids):
    """Carrier R02's agreement ended 2023-12-31 (inclusive); parcel data sent 2024-01-01 09:00."""
    ts = local(date(2024, 1, 1), 9)
    if _ok(ctx, ts):
        ctx.flag("SHR-002", _carrier(ctx, cids[0], "R02", ts, UNCOVERED_DELIVERY),
                 "day_after_agreement_lapsed")


@violation("SHR-002", "backdated_renewal_before_signature")
def shr002_backdated(ctx: Ctx, cids):
    """R02's renewal is valid from 2024-02-01 but signed only 2024-02-20: a transfer on
    2024-02-10 had no signed agreement."""
    ts = local(date(2024, 2, 10), 11)
    if _ok(ctx, ts):
        ctx.flag("SHR-002", _carrier(ctx, cids[0], "R02", ts, UNCOVERED_DELIVERY),
                 "backdated_renewal_before_signature")


@violation("SHR-002", "on_termination_day")
def shr002_terminated(ctx: Ctx, cids):
    """The distribution centre's DPA was terminated effective 2025-03-01; order lines sent that
    day at 10:00 (the renewal starts 2025-03-15)."""
    ts = local(date(2025, 3, 1), 10)
    if _ok(ctx, ts):
        ctx.flag("SHR-002", _dc(ctx, cids[0], ts, UNCOVERED_DC), "on_termination_day")


@violation("SHR-002", "processor_without_dpa")
def shr002_no_dpa(ctx: Ctx, cids):
    """E-mail addresses sent to a processor (R14, an e-mail service) that only signed a
    data-sharing agreement, not an Art. 28 DPA."""
    c = _customer(ctx, cids[0])
    ts = ctx.days_ago(ctx.rng.randint(20, 300))
    t = transfer(ctx, "R14", ts, c.cid, None, ["email"], "newsletter_general")
    ctx.flag("SHR-002", t, "processor_without_dpa")


@violation("SHR-002", "research_gap_january")
def shr002_research_gap(ctx: Ctx, cids):
    """Research agency DPA valid to 2024-12-31, renewed from 2025-02-01; invitation e-mail
    address sent 2025-01-15 (catalogue Appendix A)."""
    ts = local(date(2025, 1, 15), 10)
    if _ok(ctx, ts):
        c = _customer(ctx, cids[0], ts)
        t = transfer(ctx, "R08", ts, c.cid, None, ["email"], "research")
        ctx.flag("SHR-002", t, "research_gap_january")


@near_miss("SHR-002", "last_valid_day_2330_local")
def shr002_nm_last_day(ctx: Ctx, cids):
    """R02 transfer at 2023-12-31 23:30 Amsterdam (22:30 UTC), the last day of its agreement."""
    ts = local(date(2023, 12, 31), 23, 30)
    if _ok(ctx, ts):
        ctx.miss("SHR-002", _carrier(ctx, cids[0], "R02", ts), "last_valid_day_2330_local")


@near_miss("SHR-002", "signature_day_of_backdated_renewal")
def shr002_nm_signed(ctx: Ctx, cids):
    """R02 transfer on 2024-02-20 08:00, the day the backdated renewal was signed."""
    ts = local(date(2024, 2, 20), 8)
    if _ok(ctx, ts):
        ctx.miss("SHR-002", _carrier(ctx, cids[0], "R02", ts), "signature_day_of_backdated_renewal")


@near_miss("SHR-002", "evening_before_termination")
def shr002_nm_before_termination(ctx: Ctx, cids):
    """Distribution centre transfer 2025-02-28 23:30 Amsterdam: the termination takes effect
    only on 2025-03-01."""
    ts = local(date(2025, 2, 28), 23, 30)
    if _ok(ctx, ts):
        ctx.miss("SHR-002", _dc(ctx, cids[0], ts), "evening_before_termination")


@near_miss("SHR-002", "renewal_first_day_0015_local")
def shr002_nm_renewal(ctx: Ctx, cids):
    """Distribution centre transfer 2025-03-15 00:15 Amsterdam (2025-03-14 23:15 UTC): the new
    DPA's first day in Amsterdam; a UTC date would fall in the gap."""
    ts = local(date(2025, 3, 15), 0, 15)
    if _ok(ctx, ts):
        ctx.miss("SHR-002", _dc(ctx, cids[0], ts), "renewal_first_day_0015_local")


# ---------------------------------------------------------------------------------- SHR-003

@violation("SHR-003", "carrier_receives_card_pan")
def shr003_pan(ctx: Ctx, cids):
    """Carrier R01 receives card_pan (deny-list) with the delivery block."""
    ts = ctx.days_ago(ctx.rng.randint(10, 300))
    ctx.flag("SHR-003", _carrier(ctx, cids[0], "R01", ts, DELIVERY + ["card_pan"]),
             "carrier_receives_card_pan")


@violation("SHR-003", "seller_receives_email")
def shr003_seller_email(ctx: Ctx, cids):
    """External seller S01 (R04) receives the customer's e-mail address, which its terms do not
    allow (a relay address is the design)."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = make_order(ctx, c, placed, lines=_lines(ctx, "S01"))
    t = transfer(ctx, "R04", placed + timedelta(hours=1), c.cid, o["order_id"],
                 SELLER_FIELDS + ["email_at_order"], "order_fulfilment")
    ctx.flag("SHR-003", t, "seller_receives_email")


@violation("SHR-003", "distribution_centre_receives_birth_date")
def shr003_birth(ctx: Ctx, cids):
    """The distribution centre receives birth_date (deny-list) with the order lines."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = make_order(ctx, c, placed, lines=_lines(ctx, None))
    t = transfer(ctx, "R03", placed + timedelta(minutes=40), c.cid, o["order_id"],
                 DC_FIELDS + ["birth_date"], "order_fulfilment")
    ctx.flag("SHR-003", t, "distribution_centre_receives_birth_date")


@violation("SHR-003", "carrier_receives_billing_address")
def shr003_billing(ctx: Ctx, cids):
    """Carrier R01 receives the billing street and postcode, outside its allow-list."""
    ts = ctx.days_ago(ctx.rng.randint(10, 300))
    ctx.flag("SHR-003", _carrier(ctx, cids[0], "R01", ts,
                                 DELIVERY + ["billing_street", "billing_postcode"]),
             "carrier_receives_billing_address")


@near_miss("SHR-003", "phone_allowed_from_renewal_day_tz")
def shr003_nm_phone(ctx: Ctx, cids):
    """Carrier R01 receives phone_at_order at 2022-06-01 00:30 Amsterdam (2022-05-31 22:30 UTC):
    the renewed agreement valid from 2022-06-01 allows it; the old one (UTC date) did not."""
    ts = local(date(2022, 6, 1), 0, 30)
    if _ok(ctx, ts):
        ctx.miss("SHR-003", _carrier(ctx, cids[0], "R01", ts, DELIVERY + ["phone_at_order"]),
                 "phone_allowed_from_renewal_day_tz")


@near_miss("SHR-003", "seller_gets_billing_name")
def shr003_nm_billing_name(ctx: Ctx, cids):
    """External seller S02 (R05) receives billing_name, which its terms allow."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = make_order(ctx, c, placed, lines=_lines(ctx, "S02"))
    t = transfer(ctx, "R05", placed + timedelta(hours=3), c.cid, o["order_id"], SELLER_FIELDS,
                 "order_fulfilment")
    ctx.miss("SHR-003", t, "seller_gets_billing_name")


@near_miss("SHR-003", "second_carrier_phone_allowed")
def shr003_nm_r02_phone(ctx: Ctx, cids):
    """Carrier R02 receives phone_at_order: allowed by R02's agreement (not by R01's)."""
    ts = ctx.days_ago(ctx.rng.randint(10, 200))
    ctx.miss("SHR-003", _carrier(ctx, cids[0], "R02", ts, DELIVERY + ["phone_at_order"]),
             "second_carrier_phone_allowed")


# ---------------------------------------------------------------------------------- SHR-004

def _seller_order(ctx: Ctx, c, placed: datetime, seller: str, shop: bool = True) -> dict:
    return make_order(ctx, c, placed, lines=_lines(ctx, seller, shop), status="delivered")


@violation("SHR-004", "seller_transfer_without_order")
def shr004_no_order(ctx: Ctx, cids):
    """Seller S02 (R05) receives a customer's delivery data with no order_id at all."""
    c = _customer(ctx, cids[0])
    t = transfer(ctx, "R05", ctx.days_ago(ctx.rng.randint(5, 100)), c.cid, None,
                 SELLER_FIELDS[1:], "order_fulfilment")
    ctx.flag("SHR-004", t, "seller_transfer_without_order")


@violation("SHR-004", "order_has_no_lines_of_that_seller")
def shr004_other_seller(ctx: Ctx, cids):
    """The order only has S01 lines, but its data go to seller S02 (R05) as well."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = _seller_order(ctx, c, placed, "S01")
    transfer(ctx, "R04", placed + timedelta(hours=1), c.cid, o["order_id"], SELLER_FIELDS,
             "order_fulfilment")
    t = transfer(ctx, "R05", placed + timedelta(hours=1, minutes=5), c.cid, o["order_id"],
                 SELLER_FIELDS, "order_fulfilment")
    ctx.flag("SHR-004", t, "order_has_no_lines_of_that_seller")


@violation("SHR-004", "sent_91_days_after_order")
def shr004_late(ctx: Ctx, cids):
    """Seller S03 (R06) receives the order 91 days after it was placed (window 90 days)."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(120, 300), 11)
    o = _seller_order(ctx, c, placed, "S03")
    t = transfer(ctx, "R06", placed + timedelta(days=91, hours=2), c.cid, o["order_id"],
                 SELLER_FIELDS, "order_fulfilment")
    ctx.flag("SHR-004", t, "sent_91_days_after_order")


@violation("SHR-004", "order_of_another_customer", customers=2)
def shr004_other_customer(ctx: Ctx, cids):
    """Seller S01 (R04) receives customer A's data under customer B's order id (B's order does
    have S01 lines)."""
    a = _customer(ctx, cids[0])
    b = _customer(ctx, cids[1])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = _seller_order(ctx, b, placed, "S01")
    t = transfer(ctx, "R04", placed + timedelta(hours=2), a.cid, o["order_id"], SELLER_FIELDS,
                 "order_fulfilment")
    ctx.flag("SHR-004", t, "order_of_another_customer")


@near_miss("SHR-004", "day_90_of_window")
def shr004_nm_day90(ctx: Ctx, cids):
    """Seller S03 (R06) receives the order 90 days minus one hour after it was placed."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(120, 300), 11)
    o = _seller_order(ctx, c, placed, "S03")
    t = transfer(ctx, "R06", placed + timedelta(days=90) - timedelta(hours=1), c.cid, o["order_id"],
                 SELLER_FIELDS, "order_fulfilment")
    assert nl_date(placed + timedelta(days=90) - timedelta(hours=1)) <= nl_date(placed) + timedelta(days=90)
    ctx.miss("SHR-004", t, "day_90_of_window")


@near_miss("SHR-004", "mixed_basket")
def shr004_nm_mixed(ctx: Ctx, cids):
    """Basket with shop goods and S02 goods; S02 (R05) receives the order."""
    c = _customer(ctx, cids[0])
    placed = ctx.days_ago(ctx.rng.randint(20, 200))
    o = _seller_order(ctx, c, placed, "S02", shop=True)
    t = transfer(ctx, "R05", placed + timedelta(minutes=30), c.cid, o["order_id"], SELLER_FIELDS,
                 "order_fulfilment")
    ctx.miss("SHR-004", t, "mixed_basket")


@near_miss("SHR-004", "second_order_with_same_seller")
def shr004_nm_second(ctx: Ctx, cids):
    """Two orders with S01 (300 and 40 days ago); the transfer references the recent one."""
    c = _customer(ctx, cids[0])
    _seller_order(ctx, c, ctx.days_ago(300), "S01", shop=False)
    placed = ctx.days_ago(40)
    o = _seller_order(ctx, c, placed, "S01", shop=False)
    t = transfer(ctx, "R04", placed + timedelta(days=1), c.cid, o["order_id"], SELLER_FIELDS,
                 "order_fulfilment")
    ctx.miss("SHR-004", t, "second_order_with_same_seller")


# ---------------------------------------------------------------------------------- SHR-005

def _research(ctx: Ctx, cid: str, fields) -> str:
    c = _customer(ctx, cid)
    ts = ctx.days_ago(ctx.rng.randint(15, 120))
    assert nl_date(ts) >= date(2025, 2, 1), "research scenarios need as_of after 2025-02"
    return transfer(ctx, "R08", ts, c.cid, None, fields, "research")


def _research_ok(ctx: Ctx) -> bool:
    return ctx.as_of >= date(2025, 6, 15)


@violation("SHR-005", "research_gets_name", also="SHR-003 (outside the agreement's allow-list)")
def shr005_name(ctx: Ctx, cids):
    """Research agency receives e-mail plus first and last name."""
    if _research_ok(ctx):
        t = _research(ctx, cids[0], ["email", "first_name", "last_name"])
        ctx.flag("SHR-005", t, "research_gets_name")
        ctx.flag("SHR-003", t, "research_gets_name", primary=False)


@violation("SHR-005", "research_gets_postcode", also="SHR-003")
def shr005_postcode(ctx: Ctx, cids):
    """Research agency receives e-mail plus postcode (a segment field)."""
    if _research_ok(ctx):
        t = _research(ctx, cids[0], ["email", "invite_token", "postcode"])
        ctx.flag("SHR-005", t, "research_gets_postcode")
        ctx.flag("SHR-003", t, "research_gets_postcode", primary=False)


@violation("SHR-005", "research_gets_order_history", also="SHR-003")
def shr005_orders(ctx: Ctx, cids):
    """Research agency receives e-mail plus order references."""
    if _research_ok(ctx):
        t = _research(ctx, cids[0], ["email", "order_id"])
        ctx.flag("SHR-005", t, "research_gets_order_history")
        ctx.flag("SHR-003", t, "research_gets_order_history", primary=False)


@near_miss("SHR-005", "email_only")
def shr005_nm_email(ctx: Ctx, cids):
    """Research agency receives only the e-mail address."""
    if _research_ok(ctx):
        ctx.miss("SHR-005", _research(ctx, cids[0], ["email"]), "email_only")


@near_miss("SHR-005", "email_and_invite_token")
def shr005_nm_token(ctx: Ctx, cids):
    """Research agency receives the e-mail address and an opaque invitation token."""
    if _research_ok(ctx):
        ctx.miss("SHR-005", _research(ctx, cids[0], ["email", "invite_token"]), "email_and_invite_token")


@near_miss("SHR-005", "invite_token_only")
def shr005_nm_token_only(ctx: Ctx, cids):
    """Research agency receives only the invitation token (reminder)."""
    if _research_ok(ctx):
        ctx.miss("SHR-005", _research(ctx, cids[0], ["invite_token"]), "invite_token_only")


# ---------------------------------------------------------------------------------- SHR-008

CRM_FIELDS = ["email", "first_name", "last_name"]


def _crm(ctx: Ctx, cid: str, ts: datetime) -> str:
    c = _customer(ctx, cid, ts)
    return transfer(ctx, "R13", ts, c.cid, None, CRM_FIELDS, "account", "US")


@violation("SHR-008", "privacy_shield_after_schrems_ii")
def shr008_ps(ctx: Ctx, cids):
    """CRM sync to the US processor on 2020-09-15 under Privacy Shield (invalid since
    2020-07-16)."""
    ctx.flag("SHR-008", _crm(ctx, cids[0], local(date(2020, 9, 15), 10)), "privacy_shield_after_schrems_ii")


@violation("SHR-008", "schrems_ii_day_timezone")
def shr008_ps_tz(ctx: Ctx, cids):
    """CRM sync at 2020-07-15 22:30 UTC = 2020-07-16 00:30 Amsterdam: Privacy Shield is already
    invalid on the Amsterdam date (a UTC date would wrongly pass it)."""
    ctx.flag("SHR-008", _crm(ctx, cids[0], utc(2020, 7, 15, 22, 30)), "schrems_ii_day_timezone")


@violation("SHR-008", "old_scc_after_2022_12_27")
def shr008_old_scc(ctx: Ctx, cids):
    """CRM sync on 2023-02-01 under the 2010 SCCs (unusable from 2022-12-27)."""
    ctx.flag("SHR-008", _crm(ctx, cids[0], local(date(2023, 2, 1), 10)), "old_scc_after_2022_12_27")


@near_miss("SHR-008", "last_privacy_shield_day_2330_local")
def shr008_nm_ps(ctx: Ctx, cids):
    """CRM sync at 2020-07-15 23:30 Amsterdam (21:30 UTC): the last day Privacy Shield held."""
    ctx.miss("SHR-008", _crm(ctx, cids[0], local(date(2020, 7, 15), 23, 30)),
             "last_privacy_shield_day_2330_local")


@near_miss("SHR-008", "last_old_scc_day")
def shr008_nm_scc(ctx: Ctx, cids):
    """CRM sync on 2022-12-26 23:00 Amsterdam under the 2010 SCCs (valid until 2022-12-26)."""
    ctx.miss("SHR-008", _crm(ctx, cids[0], local(date(2022, 12, 26), 23)), "last_old_scc_day")


@near_miss("SHR-008", "new_scc_first_day_0030_local")
def shr008_nm_new(ctx: Ctx, cids):
    """CRM sync at 2023-04-01 00:30 Amsterdam (2023-03-31 22:30 UTC): covered by the 2021 SCCs
    signed 2023-04-01; on the UTC date only the lapsed 2010 SCCs would apply."""
    ts = local(date(2023, 4, 1), 0, 30)
    assert covered("R13", ts, CRM_FIELDS, date(2030, 1, 1))
    ctx.miss("SHR-008", _crm(ctx, cids[0], ts), "new_scc_first_day_0030_local")
