"""Planted scenarios for the retention rules RET-001, RET-005, RET-006 and RET-014."""

from __future__ import annotations

from datetime import date, timedelta

from .calendar import add_months, local, nl_date, retention_due, utc
from .commerce import make_order
from .context import Ctx
from .marketing import subscribe
from .people import emit_visit, wipe
from .requests import dsr, hold
from .scenarios import (ALL_SCOPE, active, anchor_with_due, commit, latest_leap_year, months_ago,
                        near_miss, violation)
from .service import make_chat, script

# ---------------------------------------------------------------------------------- RET-001


@violation("RET-001", "boundary_day_overdue_by_one")
def ret001_boundary(ctx: Ctx, cids):
    """Last human visit on the Amsterdam date whose 12-month due date is the day before as_of:
    1 day overdue; profile and visits remain."""
    x = anchor_with_due(ctx.as_of - timedelta(days=1), on_or_after=False)
    c = commit(ctx, active(ctx, cids[0], last=local(x, 10)))
    ctx.flag("RET-001", c.cid, "boundary_day_overdue_by_one")


@violation("RET-001", "leap_day_anchor")
def ret001_leap(ctx: Ctx, cids):
    """Last web visit on 29 February 10:00 UTC of the latest suitable leap year; due 28 February
    next year (month-end clamp); a chat and consent events remain as residue."""
    y = latest_leap_year(add_months(ctx.as_of, -13), 2, 29)
    last = utc(y, 2, 29, 10)
    c = commit(ctx, active(ctx, cids[0], last=last))
    make_chat(ctx, c, last - timedelta(days=19), script(ctx, c))
    subscribe(ctx, c, "general", c.created + timedelta(days=2), "unticked_checkbox")
    ctx.flag("RET-001", c.cid, "leap_day_anchor")


@violation("RET-001", "fallback_anchor_no_visits", also="RET-006 (its order keeps e-mail/phone/IP)")
def ret001_fallback(ctx: Ctx, cids):
    """Account without any visit (phone/import customer): anchor falls back to the latest of
    created_at, last order and last login, about three years ago. Its order, inside the fiscal
    window, still holds checkout contact data, so RET-006 flags the order too."""
    created = local(date(ctx.as_of.year - 3, 1, 10), 11)
    c = active(ctx, cids[0], visits=[], created=created)
    c.last_login = None
    commit(ctx, c)
    o = make_order(ctx, c, created + timedelta(days=2, hours=3), keep=("email_at_order", "ip_address"))
    ctx.flag("RET-001", c.cid, "fallback_anchor_no_visits")
    ctx.flag("RET-006", o["order_id"], "fallback_anchor_no_visits", primary=False)


@violation("RET-001", "non_human_activity_does_not_extend")
def ret001_noise(ctx: Ctx, cids):
    """Last human visit 14 months ago; later only a newsletter click, a tracking pixel, a link
    prefetch, a bot hit, a back-office and an API call: none of them anchors retention."""
    c = commit(ctx, active(ctx, cids[0], last=months_ago(ctx, 14)))
    for days, origin, bot in ((20, "newsletter_click", False), (19, "tracking_pixel", False),
                              (10, "prefetch", False), (5, "web", True), (3, "backoffice", False),
                              (2, "api", False)):
        emit_visit(ctx, c.cid, ctx.days_ago(days), origin, is_bot=bot, visitor_id=c.visitor_id)
    ctx.flag("RET-001", c.cid, "non_human_activity_does_not_extend")


@violation("RET-001", "hold_closed_long_ago")
def ret001_closed_hold(ctx: Ctx, cids):
    """Inactive for 20 months; a litigation hold over all tables was closed 4 months ago, so the
    normal deadline applies again (the later of the due date and closed_at + grace)."""
    c = commit(ctx, active(ctx, cids[0], last=months_ago(ctx, 20)))
    hold(ctx, c.cid, ALL_SCOPE, "litigation", months_ago(ctx, 15), months_ago(ctx, 4))
    ctx.flag("RET-001", c.cid, "hold_closed_long_ago")


@violation("RET-001", "both_accounts_of_person_inactive", customers=2)
def ret001_two_inactive(ctx: Ctx, cids):
    """Two accounts of one person (same person_key), last human visits 25 and 16 months ago:
    the per-person anchor is 16 months ago, both accounts are expired."""
    pk = "P" + cids[0][1:]
    a = commit(ctx, active(ctx, cids[0], last=months_ago(ctx, 25), person_key=pk))
    b = commit(ctx, active(ctx, cids[1], last=months_ago(ctx, 16), person_key=pk,
                           created=months_ago(ctx, 24)))
    ctx.flag("RET-001", a.cid, "both_accounts_of_person_inactive")
    ctx.flag("RET-001", b.cid, "both_accounts_of_person_inactive")


@near_miss("RET-001", "boundary_day_due_today")
def ret001_nm_boundary(ctx: Ctx, cids):
    """Last human visit on the date whose due date is as_of itself: compliant on the due date."""
    x = anchor_with_due(ctx.as_of, on_or_after=True)
    c = commit(ctx, active(ctx, cids[0], last=local(x, 10)))
    ctx.miss("RET-001", c.cid, "boundary_day_due_today")


@near_miss("RET-001", "timezone_crossing_2330_utc")
def ret001_nm_tz(ctx: Ctx, cids):
    """Last web visit at 23:30 UTC, which is already the next day in Amsterdam; with the
    Amsterdam date the due date is as_of (compliant), a naive UTC date would flag it one day
    early. A later newsletter click does not move the anchor."""
    x = anchor_with_due(ctx.as_of, on_or_after=True)
    prev = x - timedelta(days=1)
    last = utc(prev.year, prev.month, prev.day, 23, 30)
    assert nl_date(last) == x and retention_due(last) >= ctx.as_of
    c = commit(ctx, active(ctx, cids[0], last=last))
    emit_visit(ctx, c.cid, ctx.days_ago(30), "newsletter_click", visitor_id=c.visitor_id)
    ctx.miss("RET-001", c.cid, "timezone_crossing_2330_utc")


@near_miss("RET-001", "fallback_anchor_recent_order")
def ret001_nm_fallback(ctx: Ctx, cids):
    """No visits at all and created three years ago, but an order five months ago: the fallback
    anchor (latest of created_at, last order, last login) is recent."""
    created = local(date(ctx.as_of.year - 3, 2, 3), 15)
    c = active(ctx, cids[0], visits=[], created=created)
    c.last_login = None
    commit(ctx, c)
    make_order(ctx, c, ctx.days_ago(150, 14))
    ctx.miss("RET-001", c.cid, "fallback_anchor_recent_order")


@near_miss("RET-001", "open_legal_hold")
def ret001_nm_hold(ctx: Ctx, cids):
    """Inactive for 20 months but under an open litigation hold naming every table."""
    c = commit(ctx, active(ctx, cids[0], last=months_ago(ctx, 20)))
    hold(ctx, c.cid, ALL_SCOPE, "litigation", months_ago(ctx, 10))
    ctx.miss("RET-001", c.cid, "open_legal_hold")


@near_miss("RET-001", "second_account_keeps_person_alive", customers=2)
def ret001_nm_sibling(ctx: Ctx, cids):
    """Old account inactive for 30 months; the same person (person_key) visited with a newer
    account 40 days ago: the per-person anchor is recent, neither account is expired."""
    pk = "P" + cids[0][1:]
    a = commit(ctx, active(ctx, cids[0], last=months_ago(ctx, 30), person_key=pk))
    b = commit(ctx, active(ctx, cids[1], last=ctx.days_ago(40), person_key=pk,
                           created=months_ago(ctx, 8)))
    ctx.miss("RET-001", a.cid, "second_account_keeps_person_alive")
    ctx.miss("RET-001", b.cid, "second_account_keeps_person_alive")


@near_miss("RET-001", "reactivated_customer")
def ret001_nm_reactivated(ctx: Ctx, cids):
    """Visits 40 and 38 months ago, a lapse of almost three years, then visits 60 and 20 days
    ago: not expired at as_of (the old data are RET-003's business, not RET-001's)."""
    visits = [months_ago(ctx, 40), months_ago(ctx, 38), ctx.days_ago(60), ctx.days_ago(20)]
    c = commit(ctx, active(ctx, cids[0], visits=visits, created=visits[0] - timedelta(hours=1)))
    ctx.miss("RET-001", c.cid, "reactivated_customer")


# ---------------------------------------------------------------------------------- RET-005

def _y0(ctx: Ctx) -> int:
    """The latest fiscal year whose 7-year ceiling (31 Dec of year + 7) has passed."""
    return ctx.as_of.year - 8


def _old_customer(ctx: Ctx, cid: str):
    created = local(date(_y0(ctx) - 1, 3, 1), 12)
    return commit(ctx, active(ctx, cid, created=created))


@violation("RET-005", "fiscal_ceiling_passed")
def ret005_plain(ctx: Ctx, cids):
    """Order of mid fiscal year as_of.year-8: kept until 31 Dec as_of.year-1, still complete."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, local(date(_y0(ctx), 6, 15), 14))
    ctx.flag("RET-005", o["order_id"], "fiscal_ceiling_passed")


@violation("RET-005", "year_end_evening_local")
def ret005_year_end(ctx: Ctx, cids):
    """Order at 31 Dec 22:30 UTC (23:30 Amsterdam, same fiscal year): ceiling passed."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, utc(_y0(ctx), 12, 31, 22, 30))
    ctx.flag("RET-005", o["order_id"], "year_end_evening_local")


@violation("RET-005", "two_fiscal_years_older")
def ret005_older(ctx: Ctx, cids):
    """Order of November, fiscal year as_of.year-9, still with names, addresses and contact."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, local(date(_y0(ctx) - 1, 11, 20), 10))
    ctx.flag("RET-005", o["order_id"], "two_fiscal_years_older")


@violation("RET-005", "hold_on_orders_closed")
def ret005_closed_hold(ctx: Ctx, cids):
    """Order past its ceiling; a fiscal-audit hold on orders was closed 200 days ago."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, local(date(_y0(ctx), 4, 10), 9))
    hold(ctx, c.cid, ["orders", "payments"], "fiscal_audit", ctx.days_ago(400), ctx.days_ago(200))
    ctx.flag("RET-005", o["order_id"], "hold_on_orders_closed")


@near_miss("RET-005", "new_year_timezone_crossing")
def ret005_nm_tz(ctx: Ctx, cids):
    """Order at 31 Dec 23:30 UTC = 1 Jan 00:30 Amsterdam: fiscal year as_of.year-7, kept until
    31 Dec of the as_of year; a UTC year would put it one fiscal year earlier."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, utc(_y0(ctx), 12, 31, 23, 30))
    ctx.miss("RET-005", o["order_id"], "new_year_timezone_crossing")


@near_miss("RET-005", "anonymised_old_order", customers=0)
def ret005_nm_anonymised(ctx: Ctx, cids):
    """Order of fiscal year as_of.year-8 that was anonymised (anonymised_at set, customer_id,
    names, addresses and contact empty; only fiscal amounts and lines remain)."""
    placed = local(date(_y0(ctx), 5, 10), 16)
    stub = ctx.person("C0", placed)
    o = make_order(ctx, stub, placed, anonymised_at=ctx.days_ago(300))
    ctx.miss("RET-005", o["order_id"], "anonymised_old_order")


@near_miss("RET-005", "open_fiscal_audit_hold")
def ret005_nm_hold(ctx: Ctx, cids):
    """Order past its ceiling but under an open fiscal-audit hold on orders and payments."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, local(date(_y0(ctx), 8, 20), 11))
    hold(ctx, c.cid, ["orders", "payments"], "fiscal_audit", ctx.days_ago(100))
    ctx.miss("RET-005", o["order_id"], "open_fiscal_audit_hold")


@near_miss("RET-005", "first_day_of_window")
def ret005_nm_window(ctx: Ctx, cids):
    """Order of 2 January, fiscal year as_of.year-7: still inside its 7 years."""
    c = _old_customer(ctx, cids[0])
    o = make_order(ctx, c, local(date(_y0(ctx) + 1, 1, 2), 10))
    ctx.miss("RET-005", o["order_id"], "first_day_of_window")


# ---------------------------------------------------------------------------------- RET-006

def _purged_with_order(ctx: Ctx, cid: str, keep=None, contact=True):
    """An account wiped by the retention job after 12 months without activity; its order (three
    years ago, inside the fiscal window) keeps the checkout contact fields named in ``keep``."""
    created = ctx.at(add_months(ctx.as_of, -48))
    c = active(ctx, cid, visits=[], created=created)
    placed = created + timedelta(days=20, hours=2)
    o = make_order(ctx, c, placed, contact=contact, keep=keep)
    c.last_login = placed
    c.status = "erased"
    c.erased_at = ctx.at(add_months(nl_date(placed), 12) + timedelta(days=10))
    wipe(c)
    c.person_key = None
    commit(ctx, c, visits=False)
    return c, o


@violation("RET-006", "wiped_account_order_keeps_contact")
def ret006_purged(ctx: Ctx, cids):
    """The retention job wiped the account but not its order: e-mail, phone and IP at checkout
    survive on an order still inside its fiscal window."""
    c, o = _purged_with_order(ctx, cids[0], keep=("email_at_order", "phone_at_order", "ip_address"))
    ctx.flag("RET-006", o["order_id"], "wiped_account_order_keeps_contact")


@violation("RET-006", "wiped_account_order_keeps_phone")
def ret006_phone(ctx: Ctx, cids):
    """As above, but only phone_at_order survives."""
    c, o = _purged_with_order(ctx, cids[0], keep=("phone_at_order",))
    ctx.flag("RET-006", o["order_id"], "wiped_account_order_keeps_phone")


@violation("RET-006", "expired_customer_with_residue", also="RET-001 (the account itself)")
def ret006_expired(ctx: Ctx, cids):
    """Customer inactive for 18 months with profile and visits left (RET-001) and an order
    placed at the last visit that keeps e-mail and IP (RET-006)."""
    last = months_ago(ctx, 18)
    c = commit(ctx, active(ctx, cids[0], last=last))
    o = make_order(ctx, c, last + timedelta(minutes=12), keep=("email_at_order", "ip_address"))
    ctx.flag("RET-006", o["order_id"], "expired_customer_with_residue")
    ctx.flag("RET-001", c.cid, "expired_customer_with_residue", primary=False)


@violation("RET-006", "hold_on_orders_closed")
def ret006_closed_hold(ctx: Ctx, cids):
    """Wiped account whose order kept its contact fields under a litigation hold on orders that
    was closed six months ago: the normal deadline applies again."""
    c, o = _purged_with_order(ctx, cids[0], keep=("email_at_order", "ip_address"))
    hold(ctx, cids[0], ["orders", "payments"], "litigation", months_ago(ctx, 30), months_ago(ctx, 6))
    ctx.flag("RET-006", o["order_id"], "hold_on_orders_closed")


@near_miss("RET-006", "wiped_account_fiscal_fields_only")
def ret006_nm_fiscal(ctx: Ctx, cids):
    """Wiped account; its order keeps billing/delivery blocks and totals (fiscal) only."""
    c, o = _purged_with_order(ctx, cids[0], contact=False)
    ctx.miss("RET-006", o["order_id"], "wiped_account_fiscal_fields_only")


@near_miss("RET-006", "open_litigation_hold_on_orders")
def ret006_nm_hold(ctx: Ctx, cids):
    """Wiped account whose order keeps its e-mail under an open litigation hold on orders."""
    c, o = _purged_with_order(ctx, cids[0], keep=("email_at_order",))
    hold(ctx, cids[0], ["orders", "payments"], "litigation", ctx.days_ago(200))
    ctx.miss("RET-006", o["order_id"], "open_litigation_hold_on_orders")


@near_miss("RET-006", "active_customer_old_order")
def ret006_nm_active(ctx: Ctx, cids):
    """Five-year-old order with contact data of a customer who visited last month."""
    c = commit(ctx, active(ctx, cids[0], created=ctx.at(add_months(ctx.as_of, -62))))
    o = make_order(ctx, c, ctx.at(add_months(ctx.as_of, -60)), keep=("email_at_order", "phone_at_order",
                                                                  "ip_address"))
    ctx.miss("RET-006", o["order_id"], "active_customer_old_order")


@near_miss("RET-006", "second_account_keeps_person_alive", customers=2)
def ret006_nm_sibling(ctx: Ctx, cids):
    """Order with contact data on an account last used three years ago; the same person visited
    with another account 30 days ago, so retention has not expired."""
    pk = "P" + cids[0][1:]
    last = months_ago(ctx, 36)
    a = commit(ctx, active(ctx, cids[0], last=last, person_key=pk))
    o = make_order(ctx, a, last + timedelta(minutes=8), keep=("email_at_order", "ip_address"))
    commit(ctx, active(ctx, cids[1], last=ctx.days_ago(30), person_key=pk, created=months_ago(ctx, 10)))
    ctx.miss("RET-006", o["order_id"], "second_account_keeps_person_alive")


# ---------------------------------------------------------------------------------- RET-014

@violation("RET-014", "soft_deleted_account")
def ret014_deleted(ctx: Ctx, cids):
    """Account set to status 'deleted' 20 days ago with every personal column intact."""
    c = active(ctx, cids[0], last=ctx.days_ago(25))
    c.status = "deleted"
    commit(ctx, c)
    ctx.flag("RET-014", c.cid, "soft_deleted_account")


@violation("RET-014", "erased_but_email_left")
def ret014_email(ctx: Ctx, cids):
    """Status 'erased', erased_at 60 days ago, all personal columns empty except e-mail."""
    c = active(ctx, cids[0], last=ctx.days_ago(61))
    c.status, c.erased_at = "erased", ctx.days_ago(60)
    wipe(c, keep=("email",))
    commit(ctx, c, visits=False)
    ctx.flag("RET-014", c.cid, "erased_but_email_left")


@violation("RET-014", "erased_at_set_status_active")
def ret014_erased_at(ctx: Ctx, cids):
    """erased_at is set (30 days ago) but the status says active and the profile is intact."""
    c = active(ctx, cids[0], last=ctx.days_ago(35))
    c.erased_at = ctx.days_ago(30)
    commit(ctx, c)
    ctx.flag("RET-014", c.cid, "erased_at_set_status_active")


@violation("RET-014", "deleted_but_phone_left")
def ret014_phone(ctx: Ctx, cids):
    """Status 'deleted'; only the phone number is left."""
    c = active(ctx, cids[0], last=ctx.days_ago(45))
    c.status = "deleted"
    wipe(c, keep=("phone",))
    commit(ctx, c, visits=False)
    ctx.flag("RET-014", c.cid, "deleted_but_phone_left")


@near_miss("RET-014", "erased_cleanly")
def ret014_nm_clean(ctx: Ctx, cids):
    """Status 'erased' with every personal column empty; person_key, country_code and
    last_login_at (not personal columns) remain."""
    c = active(ctx, cids[0], last=ctx.days_ago(91))
    c.status, c.erased_at = "erased", ctx.days_ago(90)
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.miss("RET-014", c.cid, "erased_cleanly")


@near_miss("RET-014", "deauthorisation_in_progress")
def ret014_nm_deauth(ctx: Ctx, cids):
    """Deauthorised five days ago; the request is open and within its deadline, the profile is
    still there (deauthorised is not one of RET-014's statuses)."""
    c = active(ctx, cids[0], last=ctx.days_ago(6))
    c.status, c.deauthorised_at = "deauthorised", ctx.days_ago(5)
    commit(ctx, c)
    dsr(ctx, c.cid, "deauthorisation", c.deauthorised_at, channel="account_deauth")
    ctx.miss("RET-014", c.cid, "deauthorisation_in_progress")


@near_miss("RET-014", "blocked_account")
def ret014_nm_blocked(ctx: Ctx, cids):
    """Status 'blocked' (fraud) with a full profile and recent visits."""
    c = active(ctx, cids[0])
    c.status = "blocked"
    commit(ctx, c)
    ctx.miss("RET-014", c.cid, "blocked_account")
