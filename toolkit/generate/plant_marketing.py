"""Planted scenarios for consent and newsletters: CON-001, NWS-001, NWS-002, NWS-003, NWS-006."""

from __future__ import annotations

from datetime import timedelta

from .calendar import add_months, local
from .commerce import make_order
from .context import Ctx
from .marketing import event, send, subscribe
from .people import wipe
from .requests import dsr
from .scenarios import active, anchor_with_due, commit, months_ago, near_miss, violation


def _sub(ctx: Ctx, cid: str, types=("general",), last=None, visits=None, created=None,
         person_key=None):
    """A clean account that opted in (double opt-in) to ``types`` shortly after sign-up."""
    c = commit(ctx, active(ctx, cid, last=last, visits=visits, created=created,
                           person_key=person_key))
    for typ in types:
        subscribe(ctx, c, typ, c.created + timedelta(days=5, hours=ctx.rng.randint(0, 20)),
                  "double_opt_in")
    return c


def _t(ctx: Ctx):
    """A reference moment 60-150 days before as_of."""
    return ctx.days_ago(ctx.rng.randint(60, 150))


# ---------------------------------------------------------------------------------- CON-001

@violation("CON-001", "implied_by_visit_then_mailed", also="NWS-001 (the send that relies on it)")
def con001_implied(ctx: Ctx, cids):
    """Subscribe event with method implied_by_visit ("by visiting you consent"), followed by a
    general newsletter 10 days later (catalogue Appendix A)."""
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    e = event(ctx, c, "general", "subscribe", t, "implied_by_visit")
    s = send(ctx, c, "general", t + timedelta(days=10))
    ctx.flag("CON-001", e, "implied_by_visit_then_mailed")
    ctx.flag("NWS-001", s, "implied_by_visit_then_mailed", primary=False)


@violation("CON-001", "continued_use")
def con001_continued(ctx: Ctx, cids):
    """Subscribe event with method continued_use (statement 8.1: using the site after a change
    counts as agreement). No newsletter was sent on it."""
    c = commit(ctx, active(ctx, cids[0]))
    ctx.flag("CON-001", event(ctx, c, "general", "subscribe", _t(ctx), "continued_use"), "continued_use")


@violation("CON-001", "pre_ticked_then_mailed", also="NWS-001 (the send that relies on it)")
def con001_preticked(ctx: Ctx, cids):
    """Subscribe event with a pre-ticked box at checkout, then a general newsletter."""
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    e = event(ctx, c, "general", "subscribe", t, "pre_ticked")
    s = send(ctx, c, "general", t + timedelta(days=20))
    ctx.flag("CON-001", e, "pre_ticked_then_mailed")
    ctx.flag("NWS-001", s, "pre_ticked_then_mailed", primary=False)


@violation("CON-001", "bundled_terms")
def con001_bundled(ctx: Ctx, cids):
    """Personalised-newsletter subscribe bundled with acceptance of the terms. Never mailed."""
    c = commit(ctx, active(ctx, cids[0]))
    ctx.flag("CON-001", event(ctx, c, "personalised", "subscribe", _t(ctx), "bundled_terms"),
             "bundled_terms")


def _con_nm(ctx: Ctx, cids, method: str, name: str, order: bool = False):
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    if order:
        make_order(ctx, c, t - timedelta(days=3))
    ctx.miss("CON-001", event(ctx, c, "general", "subscribe", t, method), name)


@near_miss("CON-001", "soft_opt_in_customer")
def con001_nm_soft(ctx: Ctx, cids):
    """Soft opt-in of an existing customer (an order three days earlier): a statement issue
    (NWS-005), not consent by visiting."""
    _con_nm(ctx, cids, "soft_opt_in_customer", "soft_opt_in_customer", order=True)


@near_miss("CON-001", "cs_agent_on_request")
def con001_nm_cs(ctx: Ctx, cids):
    """Subscribed by a customer-service agent at the customer's request."""
    _con_nm(ctx, cids, "cs_agent", "cs_agent_on_request")


@near_miss("CON-001", "import")
def con001_nm_import(ctx: Ctx, cids):
    """Subscribe imported from an older system (evidence question for CON-002, not CON-001)."""
    _con_nm(ctx, cids, "import", "import")


@near_miss("CON-001", "email_to_info")
def con001_nm_mail(ctx: Ctx, cids):
    """Customer asked for the newsletter by e-mail to info@."""
    _con_nm(ctx, cids, "email_to_info", "email_to_info")


# ---------------------------------------------------------------------------------- NWS-001

@violation("NWS-001", "no_consent_ever")
def nws001_none(ctx: Ctx, cids):
    """A general newsletter to an account without any consent event."""
    c = commit(ctx, active(ctx, cids[0]))
    ctx.flag("NWS-001", send(ctx, c, "general", _t(ctx)), "no_consent_ever")


@violation("NWS-001", "sent_two_hours_before_subscribe")
def nws001_before(ctx: Ctx, cids):
    """The campaign went out two hours before the customer subscribed (later sends are fine)."""
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    s = send(ctx, c, "general", t - timedelta(hours=2))
    on = subscribe(ctx, c, "general", t, "unticked_checkbox")
    send(ctx, c, "general", on + timedelta(days=10))
    ctx.flag("NWS-001", s, "sent_two_hours_before_subscribe")


@violation("NWS-001", "mailed_after_unsubscribe_link", also="NWS-003")
def nws001_after_unsub(ctx: Ctx, cids):
    """Unsubscribed with the link in the mail; mailed again six days later (no resubscribe)."""
    c = _sub(ctx, cids[0])
    u = _t(ctx)
    event(ctx, c, "general", "unsubscribe", u, "link_in_mail")
    s = send(ctx, c, "general", u + timedelta(days=6))
    ctx.flag("NWS-001", s, "mailed_after_unsubscribe_link")
    ctx.flag("NWS-003", s, "mailed_after_unsubscribe_link", primary=False)


@violation("NWS-001", "wrong_newsletter_type")
def nws001_type(ctx: Ctx, cids):
    """Opted in to the personalised newsletter only, but receives the general one."""
    c = _sub(ctx, cids[0], types=("personalised",))
    ctx.flag("NWS-001", send(ctx, c, "general", _t(ctx), personalised=False), "wrong_newsletter_type")


@near_miss("NWS-001", "same_second_subscribe_and_send")
def nws001_nm_same(ctx: Ctx, cids):
    """Subscribe and send carry the same timestamp: the opt-in is in force (>=)."""
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    event(ctx, c, "general", "subscribe", t, "unticked_checkbox")
    ctx.miss("NWS-001", send(ctx, c, "general", t), "same_second_subscribe_and_send")


@near_miss("NWS-001", "resubscribe_before_send")
def nws001_nm_resub(ctx: Ctx, cids):
    """Unsubscribe, resubscribe two days later, mailed five days after the unsubscribe."""
    c = _sub(ctx, cids[0])
    u = _t(ctx)
    event(ctx, c, "general", "unsubscribe", u, "email_to_info")
    event(ctx, c, "general", "resubscribe", u + timedelta(days=2), "account_setting")
    ctx.miss("NWS-001", send(ctx, c, "general", u + timedelta(days=5)), "resubscribe_before_send")


@near_miss("NWS-001", "confirmed_one_minute_before")
def nws001_nm_doi(ctx: Ctx, cids):
    """Double opt-in confirmed one minute before the campaign reached the customer."""
    c = commit(ctx, active(ctx, cids[0]))
    t = _t(ctx)
    event(ctx, c, "general", "subscribe", t - timedelta(days=1), "double_opt_in")
    event(ctx, c, "general", "confirm", t - timedelta(minutes=1), "double_opt_in")
    ctx.miss("NWS-001", send(ctx, c, "general", t), "confirmed_one_minute_before")


# ---------------------------------------------------------------------------------- NWS-002

@violation("NWS-002", "personalised_content_general_consent")
def nws002_general_only(ctx: Ctx, cids):
    """Opted in to the general newsletter only; receives a general mail with personalised
    content (personalised = true)."""
    c = _sub(ctx, cids[0])
    ctx.flag("NWS-002", send(ctx, c, "general", _t(ctx), personalised=True),
             "personalised_content_general_consent")


@violation("NWS-002", "after_object_profiling")
def nws002_objected(ctx: Ctx, cids):
    """Objected to profiling (object_profiling on the personalised newsletter); a week later a
    general mail with personalised content."""
    c = _sub(ctx, cids[0], types=("general", "personalised"))
    t = _t(ctx)
    event(ctx, c, "personalised", "object_profiling", t, "account_setting")
    ctx.flag("NWS-002", send(ctx, c, "general", t + timedelta(days=7), personalised=True),
             "after_object_profiling")


@violation("NWS-002", "personalised_consent_pre_ticked", also="CON-001 (the pre-ticked event)")
def nws002_preticked(ctx: Ctx, cids):
    """The personalised opt-in came from a pre-ticked box; a personalised general mail follows."""
    c = _sub(ctx, cids[0])
    t = _t(ctx)
    e = event(ctx, c, "personalised", "subscribe", t - timedelta(days=30), "pre_ticked")
    ctx.flag("NWS-002", send(ctx, c, "general", t, personalised=True), "personalised_consent_pre_ticked")
    ctx.flag("CON-001", e, "personalised_consent_pre_ticked", primary=False)


@near_miss("NWS-002", "valid_personalised_opt_in")
def nws002_nm_valid(ctx: Ctx, cids):
    """Personalised newsletter to a confirmed personalised subscriber."""
    c = _sub(ctx, cids[0], types=("general", "personalised"))
    ctx.miss("NWS-002", send(ctx, c, "personalised", _t(ctx)), "valid_personalised_opt_in")


@near_miss("NWS-002", "general_not_personalised")
def nws002_nm_plain(ctx: Ctx, cids):
    """General subscriber receives the general newsletter without personalisation."""
    c = _sub(ctx, cids[0])
    ctx.miss("NWS-002", send(ctx, c, "general", _t(ctx), personalised=False), "general_not_personalised")


@near_miss("NWS-002", "personalised_resubscribed")
def nws002_nm_resub(ctx: Ctx, cids):
    """Unsubscribed from the personalised newsletter, resubscribed three days later, mailed
    three days after that."""
    c = _sub(ctx, cids[0], types=("general", "personalised"))
    u = _t(ctx)
    event(ctx, c, "personalised", "unsubscribe", u, "link_in_mail")
    event(ctx, c, "personalised", "resubscribe", u + timedelta(days=3), "account_setting")
    ctx.miss("NWS-002", send(ctx, c, "personalised", u + timedelta(days=6)), "personalised_resubscribed")


# ---------------------------------------------------------------------------------- NWS-003

@violation("NWS-003", "unsubscribe_by_email_to_info", also="NWS-001")
def nws003_info(ctx: Ctx, cids):
    """Unsubscribed by e-mail to info@ (the statement's route); mailed 4.9 days later."""
    c = _sub(ctx, cids[0])
    u = _t(ctx)
    event(ctx, c, "general", "unsubscribe", u, "email_to_info")
    s = send(ctx, c, "general", u + timedelta(days=4, hours=21, minutes=36))
    ctx.flag("NWS-003", s, "unsubscribe_by_email_to_info")
    ctx.flag("NWS-001", s, "unsubscribe_by_email_to_info", primary=False)


def _dsr_then_send(ctx: Ctx, cids, typ: str, name: str, open_: bool = False):
    c = _sub(ctx, cids[0])
    r = ctx.days_ago(15) if open_ else _t(ctx)
    if open_:
        dsr(ctx, c.cid, typ, r)
    else:
        dsr(ctx, c.cid, typ, r, answered=r + timedelta(days=3),
            completed=r + timedelta(days=3) if typ == "erasure" else None)
    s = send(ctx, c, "general", r + timedelta(days=5 if open_ else 10))
    return s


@violation("NWS-003", "after_withdraw_consent_request")
def nws003_withdraw(ctx: Ctx, cids):
    """A withdraw_consent request (answered in time) never reached the ESP: mailed 10 days
    later. No unsubscribe event exists, so only NWS-003 sees it."""
    ctx.flag("NWS-003", _dsr_then_send(ctx, cids, "withdraw_consent", ""), "after_withdraw_consent_request")


@violation("NWS-003", "after_objection_marketing_request")
def nws003_objection(ctx: Ctx, cids):
    """An Art. 21(2) objection to direct marketing, then a general newsletter 10 days later."""
    ctx.flag("NWS-003", _dsr_then_send(ctx, cids, "objection_marketing", ""),
             "after_objection_marketing_request")


@violation("NWS-003", "after_open_erasure_request")
def nws003_erasure(ctx: Ctx, cids):
    """An erasure request received 15 days ago (still open, within its deadline) implies an
    unsubscribe; the newsletter went out 5 days after it."""
    ctx.flag("NWS-003", _dsr_then_send(ctx, cids, "erasure", "", open_=True), "after_open_erasure_request")


@near_miss("NWS-003", "within_grace_47_hours", also="NWS-001 flags it (no opt-in in force)")
def nws003_nm_grace(ctx: Ctx, cids):
    """Mailed 47 hours after an unsubscribe: inside the 2-day grace, so not NWS-003; NWS-001
    still flags it because no opt-in was in force at send time."""
    c = _sub(ctx, cids[0])
    u = _t(ctx)
    event(ctx, c, "general", "unsubscribe", u, "link_in_mail")
    s = send(ctx, c, "general", u + timedelta(hours=47))
    ctx.miss("NWS-003", s, "within_grace_47_hours")
    ctx.flag("NWS-001", s, "within_grace_47_hours", primary=False)


@near_miss("NWS-003", "resubscribed_in_between")
def nws003_nm_resub(ctx: Ctx, cids):
    """Unsubscribe, resubscribe two days later, mailed five days after the unsubscribe."""
    c = _sub(ctx, cids[0])
    u = _t(ctx)
    event(ctx, c, "general", "unsubscribe", u, "link_in_mail")
    event(ctx, c, "general", "resubscribe", u + timedelta(days=2), "account_setting")
    ctx.miss("NWS-003", send(ctx, c, "general", u + timedelta(days=5)), "resubscribed_in_between")


@near_miss("NWS-003", "unsubscribed_other_type")
def nws003_nm_type(ctx: Ctx, cids):
    """Unsubscribed from the personalised newsletter only; the general one continues."""
    c = _sub(ctx, cids[0], types=("general", "personalised"))
    u = _t(ctx)
    event(ctx, c, "personalised", "unsubscribe", u, "account_setting")
    ctx.miss("NWS-003", send(ctx, c, "general", u + timedelta(days=5), personalised=False),
             "unsubscribed_other_type")


@near_miss("NWS-003", "access_request_is_no_withdrawal")
def nws003_nm_access(ctx: Ctx, cids):
    """An access request (not a withdrawal), then the usual newsletter."""
    ctx.miss("NWS-003", _dsr_then_send(ctx, cids, "access", ""), "access_request_is_no_withdrawal")


# ---------------------------------------------------------------------------------- NWS-006

@violation("NWS-006", "after_deauthorisation", also="NWS-003 (deauthorisation implies unsubscribe)")
def nws006_deauth(ctx: Ctx, cids):
    """Deauthorised 12 days ago (request open, within its deadline); mailed 5 days later."""
    c = active(ctx, cids[0], last=ctx.days_ago(14))
    d = ctx.days_ago(12)
    c.status, c.deauthorised_at = "deauthorised", d
    commit(ctx, c)
    subscribe(ctx, c, "general", c.created + timedelta(days=4), "double_opt_in")
    dsr(ctx, c.cid, "deauthorisation", d, channel="account_deauth")
    s = send(ctx, c, "general", d + timedelta(days=5))
    ctx.flag("NWS-006", s, "after_deauthorisation")
    ctx.flag("NWS-003", s, "after_deauthorisation", primary=False)


@violation("NWS-006", "after_erasure", also="NWS-003 (erasure request), DSR-004 (send log and consent events left)")
def nws006_erased(ctx: Ctx, cids):
    """Erasure request completed 30 days ago (profile wiped, erased_at set) but the ESP mailed
    the old address three days after: NWS-006; the request counts as an unsubscribe (NWS-003);
    the send log and consent events left behind make the completed erasure incomplete (DSR-004)."""
    c = active(ctx, cids[0], last=ctx.days_ago(41))
    subscribe(ctx, c, "general", c.created + timedelta(days=4), "double_opt_in")
    r, e = ctx.days_ago(40), ctx.days_ago(30)
    did = dsr(ctx, c.cid, "erasure", r, answered=e, completed=e)
    email = c.email
    c.status, c.erased_at = "erased", e
    wipe(c)
    commit(ctx, c, visits=False)
    s = send(ctx, c, "general", e + timedelta(days=3), email=email)
    ctx.flag("NWS-006", s, "after_erasure")
    ctx.flag("NWS-003", s, "after_erasure", primary=False)
    ctx.flag("DSR-004", did, "after_erasure", primary=False)


@violation("NWS-006", "expired_customer_kept_alive", also="RET-001 (the account)")
def nws006_expired(ctx: Ctx, cids):
    """Last human visit 15 months ago (retention expired three months ago), still mailed 20
    days ago; the account keeps its data (RET-001)."""
    c = _sub(ctx, cids[0], last=months_ago(ctx, 15))
    s = send(ctx, c, "general", ctx.days_ago(20, 8, 5))
    ctx.flag("NWS-006", s, "expired_customer_kept_alive")
    ctx.flag("RET-001", c.cid, "expired_customer_kept_alive", primary=False)


@near_miss("NWS-006", "mailed_hours_before_deauthorisation")
def nws006_nm_deauth(ctx: Ctx, cids):
    """Mailed at 09:00, deauthorised at 15:00 the same day (request open, within deadline)."""
    day = ctx.as_of - timedelta(days=12)
    c = active(ctx, cids[0], last=ctx.days_ago(13))
    d = local(day, 15)
    c.status, c.deauthorised_at = "deauthorised", d
    commit(ctx, c)
    subscribe(ctx, c, "general", c.created + timedelta(days=4), "double_opt_in")
    dsr(ctx, c.cid, "deauthorisation", d, channel="account_deauth")
    ctx.miss("NWS-006", send(ctx, c, "general", local(day, 9)), "mailed_hours_before_deauthorisation")


@near_miss("NWS-006", "mailed_on_retention_due_day", also="RET-001 flags the account (expired at as_of)")
def nws006_nm_due_day(ctx: Ctx, cids):
    """Retention due date 30 days before as_of; the newsletter went out on the due date itself
    (compliant on the due date). The account is expired at as_of, so RET-001 flags it."""
    due = ctx.as_of - timedelta(days=30)
    x = anchor_with_due(due, on_or_after=True)
    c = _sub(ctx, cids[0], last=local(x, 11))
    s = send(ctx, c, "general", local(add_months(x, 12), 10))
    ctx.miss("NWS-006", s, "mailed_on_retention_due_day")
    ctx.flag("RET-001", c.cid, "mailed_on_retention_due_day", primary=False)


@near_miss("NWS-006", "reactivated_customer")
def nws006_nm_reactivated(ctx: Ctx, cids):
    """Lapsed for almost three years, returned 90 days ago and subscribed; mailed 30 days ago."""
    visits = [months_ago(ctx, 40), months_ago(ctx, 38), ctx.days_ago(90), ctx.days_ago(45)]
    c = commit(ctx, active(ctx, cids[0], visits=visits, created=visits[0] - timedelta(hours=2)))
    subscribe(ctx, c, "general", ctx.days_ago(85), "double_opt_in")
    ctx.miss("NWS-006", send(ctx, c, "general", ctx.days_ago(30)), "reactivated_customer")


@near_miss("NWS-006", "second_account_keeps_person_alive", customers=2)
def nws006_nm_sibling(ctx: Ctx, cids):
    """Account last used 24 months ago is mailed; the same person visited with another account
    20 days ago, so retention has not expired."""
    pk = "P" + cids[0][1:]
    a = _sub(ctx, cids[0], last=months_ago(ctx, 24), person_key=pk)
    commit(ctx, active(ctx, cids[1], last=ctx.days_ago(20), person_key=pk, created=months_ago(ctx, 6)))
    ctx.miss("NWS-006", send(ctx, a, "general", ctx.days_ago(15)), "second_account_keeps_person_alive")
