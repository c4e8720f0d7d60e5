"""Planted scenarios for data-subject requests: DSR-001 (deadlines) and DSR-004 (erasure
completeness). Deadlines follow ``calendar.dsr_due``: Amsterdam date of receipt + 1 month
(clamped), rolled to the next Dutch working day; + 3 months with a valid extension."""

from __future__ import annotations

from datetime import date, timedelta

from .calendar import add_months, dsr_due, local, next_working_day, nl_date, utc
from .commerce import make_order
from .context import Ctx
from .marketing import send, subscribe
from .people import wipe
from .requests import dsr, hold
from .scenarios import active, commit, latest_leap_year, near_miss, violation
from .service import make_chat, script


def _c(ctx: Ctx, cid: str):
    return commit(ctx, active(ctx, cid))


def _late(answered, received, extended=False) -> bool:
    return nl_date(answered) > dsr_due(received, extended)


# ---------------------------------------------------------------------------------- DSR-001

@violation("DSR-001", "leap_year_answered_day_late")
def dsr001_leap(ctx: Ctx, cids):
    """Received 31 January 10:00 UTC of a leap year: due 29 February; answered 1 March (late)."""
    y = latest_leap_year(ctx.as_of - timedelta(days=10), 3, 10)
    rec = utc(y, 1, 31, 10)
    ans = local(dsr_due(rec) + timedelta(days=1), 11)
    assert _late(ans, rec)
    c = _c(ctx, cids[0])
    ctx.flag("DSR-001", dsr(ctx, c.cid, "access", rec, ans), "leap_year_answered_day_late")


@violation("DSR-001", "weekend_roll_still_open")
def dsr001_weekend_open(ctx: Ctx, cids):
    """Raw deadline on a Sunday rolls to Monday; still unanswered at as_of, well after it."""
    r = next(ctx.as_of - timedelta(days=n) for n in range(60, 200)
             if add_months(ctx.as_of - timedelta(days=n), 1).isoweekday() == 7)
    rec = local(r, 10)
    assert dsr_due(rec) < ctx.as_of
    c = _c(ctx, cids[0])
    ctx.flag("DSR-001", dsr(ctx, c.cid, "access", rec), "weekend_roll_still_open")


@violation("DSR-001", "extension_notified_too_late")
def dsr001_late_extension(ctx: Ctx, cids):
    """Extension notified four days after the one-month deadline (invalid), answered after two
    months: the one-month deadline applies, so the answer is late."""
    rec = ctx.days_ago(100, 10)
    due1 = dsr_due(rec)
    ext = local(due1 + timedelta(days=4), 10)
    ans = rec + timedelta(days=65)
    assert _late(ans, rec) and ans < ctx.limit
    c = _c(ctx, cids[0])
    ctx.flag("DSR-001", dsr(ctx, c.cid, "rectification", rec, ans, ans, extension=ext),
             "extension_notified_too_late")


@violation("DSR-001", "answered_day_after_deadline")
def dsr001_day_after(ctx: Ctx, cids):
    """Answered at 10:00 on the day after the (rolled) deadline."""
    rec = ctx.days_ago(80, 14)
    ans = local(dsr_due(rec) + timedelta(days=1), 10)
    c = _c(ctx, cids[0])
    ctx.flag("DSR-001", dsr(ctx, c.cid, "portability", rec, ans, ans), "answered_day_after_deadline")


@violation("DSR-001", "open_overdue_latest")
def dsr001_open(ctx: Ctx, cids):
    """Unanswered; the deadline is the latest working day before as_of (1 day overdue when
    as_of is a working day)."""
    r = next(ctx.as_of - timedelta(days=n) for n in range(27, 60)
             if dsr_due(local(ctx.as_of - timedelta(days=n), 10)) < ctx.as_of)
    c = _c(ctx, cids[0])
    ctx.flag("DSR-001", dsr(ctx, c.cid, "access", local(r, 10)), "open_overdue_latest")


@near_miss("DSR-001", "leap_year_timezone_crossing")
def dsr001_nm_tz(ctx: Ctx, cids):
    """Received 31 January 23:30 UTC = 1 February in Amsterdam: due 1 March (rolled if needed);
    answered on that day. A UTC date would make it due 29 February and late."""
    y = latest_leap_year(ctx.as_of - timedelta(days=10), 3, 10)
    rec = utc(y, 1, 31, 23, 30)
    ans = local(dsr_due(rec), 15)
    assert not _late(ans, rec) and nl_date(ans) > next_working_day(date(y, 2, 29))
    c = _c(ctx, cids[0])
    ctx.miss("DSR-001", dsr(ctx, c.cid, "access", rec, ans), "leap_year_timezone_crossing")


@near_miss("DSR-001", "christmas_holiday_roll")
def dsr001_nm_holiday(ctx: Ctx, cids):
    """Received 25 November: the raw deadline 25 December is a holiday (and the 26th too), so it
    rolls to the next working day; answered on that day."""
    y = ctx.as_of.year - 1
    rec = local(date(y, 11, 25), 10)
    due = dsr_due(rec)
    assert due > date(y, 12, 26)
    c = _c(ctx, cids[0])
    ctx.miss("DSR-001", dsr(ctx, c.cid, "access", rec, local(due, 11)), "christmas_holiday_roll")


@near_miss("DSR-001", "weekend_roll_answered_monday")
def dsr001_nm_weekend(ctx: Ctx, cids):
    """Raw deadline on a Saturday; answered on the next working day (Monday)."""
    r = next(ctx.as_of - timedelta(days=n) for n in range(60, 200)
             if add_months(ctx.as_of - timedelta(days=n), 1).isoweekday() == 6)
    rec = local(r, 9)
    due = dsr_due(rec)
    assert due > add_months(r, 1)
    c = _c(ctx, cids[0])
    ctx.miss("DSR-001", dsr(ctx, c.cid, "access", rec, local(due, 16)), "weekend_roll_answered_monday")


@near_miss("DSR-001", "valid_extension")
def dsr001_nm_extension(ctx: Ctx, cids):
    """Extension notified (with a reason) 20 days after receipt; answered after 80 days, within
    three months."""
    rec = ctx.days_ago(120, 10)
    ans = rec + timedelta(days=80)
    assert not _late(ans, rec, extended=True)
    c = _c(ctx, cids[0])
    ctx.miss("DSR-001", dsr(ctx, c.cid, "access", rec, ans,
                            extension=rec + timedelta(days=20)), "valid_extension")


@near_miss("DSR-001", "open_not_yet_due")
def dsr001_nm_open(ctx: Ctx, cids):
    """Unanswered; its deadline is the first possible one on or after as_of."""
    r = next(ctx.as_of - timedelta(days=n) for n in range(45, 20, -1)
             if dsr_due(local(ctx.as_of - timedelta(days=n), 10)) >= ctx.as_of)
    c = _c(ctx, cids[0])
    ctx.miss("DSR-001", dsr(ctx, c.cid, "access", local(r, 10)), "open_not_yet_due")


# ---------------------------------------------------------------------------------- DSR-004

def _erase(ctx: Ctx, c, received_days: int, done_days: int, typ: str = "erasure"):
    rec, done = ctx.days_ago(received_days), ctx.days_ago(done_days)
    did = dsr(ctx, c.cid, typ, rec, done, done,
              channel="account_deauth" if typ == "deauthorisation" else None)
    if typ == "erasure":
        c.status, c.erased_at = "erased", done
    else:
        c.status, c.deauthorised_at = "deauthorised", rec
    return did


@violation("DSR-004", "erasure_completed_profile_left", also="RET-014 (erased with PII)")
def dsr004_profile(ctx: Ctx, cids):
    """Erasure completed 50 days ago and status set to erased, but the profile was never wiped."""
    c = active(ctx, cids[0], last=ctx.days_ago(61))
    did = _erase(ctx, c, 60, 50)
    commit(ctx, c, visits=False)
    ctx.flag("DSR-004", did, "erasure_completed_profile_left")
    ctx.flag("RET-014", c.cid, "erasure_completed_profile_left", primary=False)


@violation("DSR-004", "erasure_completed_chats_left")
def dsr004_chats(ctx: Ctx, cids):
    """Erasure completed; the profile was wiped but a customer-service chat survives."""
    c = active(ctx, cids[0], last=ctx.days_ago(71))
    make_chat(ctx, c, ctx.days_ago(100), script(ctx, c))
    did = _erase(ctx, c, 70, 62)
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.flag("DSR-004", did, "erasure_completed_chats_left")


@violation("DSR-004", "deauthorisation_completed_sends_left")
def dsr004_sends(ctx: Ctx, cids):
    """Deauthorisation completed; newsletter consent events and send logs (all from before the
    deauthorisation) remain."""
    c = active(ctx, cids[0], last=ctx.days_ago(51))
    subscribe(ctx, c, "general", c.created + timedelta(days=3), "double_opt_in")
    send(ctx, c, "general", ctx.days_ago(120, 8))
    send(ctx, c, "general", ctx.days_ago(90, 8))
    did = _erase(ctx, c, 50, 48, typ="deauthorisation")
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.flag("DSR-004", did, "deauthorisation_completed_sends_left")


@violation("DSR-004", "erasure_completed_order_contact_left")
def dsr004_order(ctx: Ctx, cids):
    """Erasure completed; the order (fiscal) still carries e-mail, phone and IP at checkout."""
    c = active(ctx, cids[0], last=ctx.days_ago(46))
    make_order(ctx, c, ctx.days_ago(200), status="delivered",
               keep=("email_at_order", "phone_at_order", "ip_address"))
    did = _erase(ctx, c, 45, 40)
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.flag("DSR-004", did, "erasure_completed_order_contact_left")


@near_miss("DSR-004", "fiscal_fields_only")
def dsr004_nm_fiscal(ctx: Ctx, cids):
    """Erasure completed; only the order's fiscal fields (billing block, totals, lines) remain."""
    c = active(ctx, cids[0], last=ctx.days_ago(56))
    make_order(ctx, c, ctx.days_ago(150), status="delivered", contact=False)
    did = _erase(ctx, c, 55, 50)
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.miss("DSR-004", did, "fiscal_fields_only")


@near_miss("DSR-004", "chats_under_open_hold")
def dsr004_nm_hold(ctx: Ctx, cids):
    """Erasure completed; a chat survives under an open litigation hold on chats."""
    c = active(ctx, cids[0], last=ctx.days_ago(66))
    make_chat(ctx, c, ctx.days_ago(100), script(ctx, c))
    hold(ctx, c.cid, ["chats", "chat_messages"], "litigation", ctx.days_ago(80))
    did = _erase(ctx, c, 65, 60)
    wipe(c)
    commit(ctx, c, visits=False)
    ctx.miss("DSR-004", did, "chats_under_open_hold")


@near_miss("DSR-004", "erasure_still_open")
def dsr004_nm_open(ctx: Ctx, cids):
    """Erasure received 6 days ago, not completed yet (within its deadline); data still there."""
    c = _c(ctx, cids[0])
    ctx.miss("DSR-004", dsr(ctx, c.cid, "erasure", ctx.days_ago(6)), "erasure_still_open")


@near_miss("DSR-004", "access_request_completed")
def dsr004_nm_access(ctx: Ctx, cids):
    """An access request answered and completed; the data stay (it is not an erasure)."""
    c = _c(ctx, cids[0])
    rec = ctx.days_ago(50)
    ctx.miss("DSR-004", dsr(ctx, c.cid, "access", rec, rec + timedelta(days=5),
                            rec + timedelta(days=5)), "access_request_completed")
