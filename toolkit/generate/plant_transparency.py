"""Transparency: the statement (codified in the shipped policy) against the data, TRN-001 (its
statement half), TRN-002, TRN-003 and TRN-005.

Unlike the other families, these rules judge the shop as a whole against a statement that is the
shop's own: dated 13-05-2018, disclosing carriers, a distribution centre, external sellers, a
customer-service party, a research agency and authorities, naming no third country, and
describing twelve kinds of processing. So even the background is not "clean" for them: the
e-mail services, the payment provider and the US hosting processor are recipients the statement
does not disclose (TRN-002), every recipient contracted after 13-05-2018 is practice the statement
never caught up with (TRN-005), and the shop has no social login or sharing although the
statement describes both (TRN-003), and the calls' transcripts are personal data of a kind the
statement never names ("gegevens over het telefoongesprek" is about the call, TRN-001).
:func:`truth` derives all of that from what the run actually wrote (``Ctx.first_transfer``,
``transfer_countries``, ``evidence``, ``filled_personal``) after every row is out; every filled
personal column of a kind the statement does name is a TRN-001 near-miss.

The scenarios plant recipients on purpose, each with a valid agreement and allowed fields so that
no sharing rule flags them: an advertising network (TRN-002, S2), a carrier in Switzerland (a
third country the statement does not name; SCCs of 2021), an analytics processor; near-misses in
disclosed categories inside the EEA; a warehouse contracted on the statement's very date
(TRN-005 near-miss) and one the day after (violation); transfers to an authority and to the
carrier contracted before the statement (TRN-005 near-misses).
"""

from __future__ import annotations

from datetime import date, timedelta

from .commerce import make_order
from .context import Ctx
from .plant_sharing import DC_FIELDS, _customer, _lines
from .scenarios import near_miss, violation
from .sharing import BY_ID, DELIVERY, EEA, agreements, covered, transfer

# what the shipped policy codifies of the seed statement (a test checks they agree)
STATEMENT_DATE = date(2018, 5, 13)
DISCLOSED_CATEGORIES = frozenset({"delivery", "distribution_centre", "external_seller",
                                  "cs_outsourcer", "research_agency", "authority"})
DISCLOSED_COUNTRIES: frozenset[str] = frozenset()
DISCLOSED_DATA = frozenset({"account", "address", "chats", "email", "ip_address", "name", "notes",
                            "online_identifiers", "payment", "phone"})
DESCRIBED = ("delivery", "distribution_centre", "external_sellers", "cs_outsourcer",
             "research_invitations", "general_newsletters", "personalised_newsletters",
             "customer_service_chats", "call_records", "site_personalisation", "social_login",
             "social_sharing")


def _send(ctx: Ctx, cid: str, rid: str, fields, purpose: str, not_before: date,
          order: bool = False) -> str | None:
    """A transfer to ``rid`` that breaks no sharing rule, 10-250 days ago and not before
    ``not_before``; None when the shop's as_of leaves no such day."""
    r = ctx.rng
    ts = ctx.days_ago(r.randint(10, 250))
    if ts.date() < not_before + timedelta(days=1):
        ts = ctx.at(not_before + timedelta(days=r.randint(1, 30)))
    if ts >= ctx.limit - timedelta(hours=1) or not covered(rid, ts, fields, ctx.as_of):
        return None
    c = _customer(ctx, cid, ts)
    oid = None
    if order:
        oid = make_order(ctx, c, ts - timedelta(hours=20), lines=_lines(ctx, None))["order_id"]
    return transfer(ctx, rid, ts, c.cid, oid, fields, purpose)


# ---------------------------------------------------------------------------------- TRN-002

@violation("TRN-002", "advertising_audience_upload", also="TRN-005")
def trn002_advertising(ctx: Ctx, cids):
    """Customers' e-mail addresses uploaded to an advertising network (R16, a processor with a
    DPA since 2024-03-01): a recipient category the statement never mentions (S2)."""
    if _send(ctx, cids[0], "R16", ["email"], "advertising", date(2024, 3, 1)):
        ctx.flag("TRN-002", "R16", "advertising_audience_upload")
        ctx.flag("TRN-005", "R16", "advertising_audience_upload", primary=False)


@violation("TRN-002", "carrier_in_switzerland", also="TRN-005")
def trn002_switzerland(ctx: Ctx, cids):
    """Parcel data to a Swiss carrier (R17) on the 2021 SCCs: carriers are disclosed, but the
    statement names no country outside the EEA."""
    if _send(ctx, cids[0], "R17", DELIVERY, "delivery", date(2022, 1, 10), order=True):
        ctx.flag("TRN-002", "R17", "carrier_in_switzerland")
        ctx.flag("TRN-005", "R17", "carrier_in_switzerland")


@violation("TRN-002", "analytics_processor", also="TRN-005")
def trn002_analytics(ctx: Ctx, cids):
    """Order values and e-mail addresses to an analytics processor (R21, DPA since 2025-01-06)."""
    if _send(ctx, cids[0], "R21", ["email", "order_id", "total_incl_vat"], "analytics",
             date(2025, 1, 6)):
        ctx.flag("TRN-002", "R21", "analytics_processor")
        ctx.flag("TRN-005", "R21", "analytics_processor", primary=False)


@near_miss("TRN-002", "carrier_in_germany", also="TRN-005")
def trn002_nm_germany(ctx: Ctx, cids):
    """Parcel data to a German carrier (R18): a disclosed category inside the EEA. Contracted in
    2020, after the statement, so TRN-005 flags it."""
    if _send(ctx, cids[0], "R18", DELIVERY, "delivery", date(2020, 6, 1), order=True):
        ctx.miss("TRN-002", "R18", "carrier_in_germany")
        ctx.flag("TRN-005", "R18", "carrier_in_germany")


@near_miss("TRN-002", "warehouse_on_statement_day", also="TRN-005 near-miss")
def trn002_nm_warehouse(ctx: Ctx, cids):
    """Order lines to a warehouse (R19, distribution centre, NL) whose DPA was signed on
    13-05-2018, the statement's own date: disclosed, and not new since the statement."""
    if _send(ctx, cids[0], "R19", DC_FIELDS, "order_fulfilment", date(2018, 5, 13), order=True):
        ctx.miss("TRN-002", "R19", "warehouse_on_statement_day")
        ctx.miss("TRN-005", "R19", "warehouse_on_statement_day")


@near_miss("TRN-002", "warehouse_day_after_statement", also="TRN-005")
def trn002_nm_warehouse_after(ctx: Ctx, cids):
    """Order lines to a warehouse (R20) contracted on 14-05-2018, the day after the statement:
    a disclosed category (no TRN-002), but new since the statement (TRN-005)."""
    if _send(ctx, cids[0], "R20", DC_FIELDS, "order_fulfilment", date(2018, 5, 14), order=True):
        ctx.miss("TRN-002", "R20", "warehouse_day_after_statement")
        ctx.flag("TRN-005", "R20", "warehouse_day_after_statement")


# ---------------------------------------------------------------------------------- TRN-005

@near_miss("TRN-005", "tax_authority_demand")
def trn005_nm_authority(ctx: Ctx, cids):
    """Invoice data to the tax authority (R12) on a demand: authorities are not new practice."""
    c = _customer(ctx, cids[0])
    o = make_order(ctx, c, ctx.days_ago(120))
    transfer(ctx, "R12", ctx.days_ago(100), c.cid, o["order_id"],
             ["order_id", "billing_name", "total_incl_vat"], "legal_obligation")
    ctx.miss("TRN-005", "R12", "tax_authority_demand")


@near_miss("TRN-005", "carrier_contracted_before_statement")
def trn005_nm_old_carrier(ctx: Ctx, cids):
    """A parcel to the main carrier (R01), whose DPA was signed 01-05-2018, before the
    statement: it first received data later, but it was part of the practice already."""
    fields = DELIVERY + ["email_at_order"]
    if _send(ctx, cids[0], "R01", fields, "delivery", date(2022, 6, 1), order=True):
        ctx.miss("TRN-005", "R01", "carrier_contracted_before_statement")


# ---------------------------------------------------------------------------------- TRN-003

@near_miss("TRN-003", "described_and_found", customers=0)
def trn003_found(ctx: Ctx, cids):
    """Runs after every row is written: each processing the statement describes that the shop
    does show (carriers, sellers, chats, calls, newsletters, ...) is a near-miss."""
    for p, n in evidence(ctx).items():
        if n > 0:
            ctx.miss("TRN-003", p, "described_and_found")


# ---------------------------------------------------------------------------------- truth

def _to(ctx: Ctx, category: str) -> int:
    return sum(1 for rid in ctx.first_transfer
               if rid in BY_ID and BY_ID[rid].category == category)


def evidence(ctx: Ctx) -> dict[str, int]:
    """Per described processing, how much the data show (the TRN-003 evidence, as written)."""
    ev = ctx.evidence
    return {
        "delivery": _to(ctx, "delivery"),
        "distribution_centre": _to(ctx, "distribution_centre"),
        "external_sellers": _to(ctx, "external_seller") + ev["seller_lines"],
        "cs_outsourcer": _to(ctx, "cs_outsourcer") + ev["chats_handled"],
        "research_invitations": _to(ctx, "research_agency") + ev["send_research"],
        "general_newsletters": ev["send_general"],
        "personalised_newsletters": ev["send_personalised"] + ev["send_personalised_flag"],
        "customer_service_chats": ev["chats"],
        "call_records": ev["calls"],
        "site_personalisation": ev["cookie_personalisation"],
        "social_login": _to(ctx, "social_network") + ev["cookie_social"],
        "social_sharing": _to(ctx, "social_network"),
    }


def truth(ctx: Ctx) -> None:
    """Record what TRN-001 (the data model's columns), TRN-002, TRN-003 and TRN-005 flag in what
    was written (background included)."""
    from ..rules.transparency import DATA_CATEGORY_COLUMNS
    category = {col: cat for cat, cols in DATA_CATEGORY_COLUMNS.items() for col in cols}
    for col in sorted(ctx.filled_personal):
        if category[col] not in DISCLOSED_DATA:
            ctx.flag("TRN-001", col, f"{category[col]} data the statement does not name",
                     primary=False)
        elif ctx.rate > 0:
            ctx.miss("TRN-001", col, f"{category[col]} data the statement names")
    exported = agreements(ctx.as_of)
    for rid, first in sorted(ctx.first_transfer.items()):
        r = BY_ID.get(rid)
        if r is not None:
            third = {c for c in ctx.transfer_countries[rid]
                     if c not in EEA and c not in DISCLOSED_COUNTRIES}
            if r.category not in DISCLOSED_CATEGORIES or third:
                ctx.flag("TRN-002", rid, "recipient the statement does not disclose", primary=False)
            if r.role == "authority" or r.category == "authority":
                continue
        starts = [min(a.signed_on, a.valid_from) for a in exported if a.recipient_id == rid]
        if min([first, *starts]) > STATEMENT_DATE:
            ctx.flag("TRN-005", rid, "recipient first seen after the statement", primary=False)
    for p, n in evidence(ctx).items():
        if p in DESCRIBED and n == 0:
            ctx.flag("TRN-003", p, "described in the statement, absent from the data",
                     primary=False)
