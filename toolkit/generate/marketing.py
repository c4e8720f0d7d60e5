"""Newsletter consent histories and sends.

Two newsletters (``general`` monthly on the 5th, ``personalised`` monthly on the 20th, 08:00
Amsterdam). The send log holds the last twelve months of campaigns. Background subscribers opt
in validly (double opt-in with a confirm, an unticked checkbox, or the account settings), some
unsubscribe (link in mail, e-mail to info@, account settings) and some resubscribe. A send goes
only to a primary account whose opt-in for that type is in force at send time, that has not
unsubscribed, and that has no withdrawal-type request (consent withdrawal, objection to
marketing, objection, restriction, erasure, deauthorisation) before the send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .calendar import add_months, local, nl_date
from .context import Ctx, Cust
from . import sharing

VALID_METHODS = (("double_opt_in", 50), ("unticked_checkbox", 30), ("account_setting", 20))
UNSUB_METHODS = ("link_in_mail", "link_in_mail", "email_to_info", "account_setting")


def campaigns(ctx: Ctx) -> list[tuple[str, str, datetime]]:
    """(campaign_id, newsletter_type, send time) of the last 12 months, oldest first."""
    out = []
    start = add_months(ctx.as_of, -12)
    d = start.replace(day=1)
    while d <= ctx.as_of:
        for typ, day, code in (("general", 5, "G"), ("personalised", 20, "P")):
            ts = local(d.replace(day=day), 8, 0)
            if nl_date(ts) > start and ts < ctx.limit - timedelta(hours=6):
                out.append((f"NB-{d.year}-{d.month:02d}-{code}", typ, ts))
        d = add_months(d, 1)
    return out


def campaign_id(ts: datetime, typ: str) -> str:
    d = nl_date(ts)
    return f"NB-{d.year}-{d.month:02d}-{'G' if typ == 'general' else 'P'}"


def event(ctx: Ctx, c: Cust, typ: str, action: str, ts: datetime, method: str) -> str:
    eid = ctx.nid("NE", 9)
    ctx.emit("newsletter_consent_events", {
        "event_id": eid, "customer_id": c.cid, "email": c.email, "newsletter_type": typ,
        "action": action, "occurred_at": ts, "method": method})
    return eid


def send(ctx: Ctx, c: Cust, typ: str, ts: datetime, personalised: bool | None = None,
         campaign: str | None = None, link: bool = True, email: str | None = None) -> str:
    sid = ctx.nid("NS", 9)
    ctx.emit("newsletter_sends", {
        "send_id": sid, "campaign_id": campaign or campaign_id(ts, typ), "customer_id": c.cid,
        "email": email or c.email, "newsletter_type": typ, "sent_at": ts,
        "personalised": (typ == "personalised") if personalised is None else personalised,
        "has_unsubscribe_link": link})
    return sid


def subscribe(ctx: Ctx, c: Cust, typ: str, ts: datetime, method: str) -> datetime:
    """Subscribe (plus a confirm for double opt-in); returns when the opt-in is in force."""
    event(ctx, c, typ, "subscribe", ts, method)
    if method == "double_opt_in":
        ts = ts + timedelta(minutes=ctx.rng.randint(2, 600))
        event(ctx, c, typ, "confirm", ts, "double_opt_in")
    return ts


def _weighted(ctx: Ctx, pairs) -> str:
    x = ctx.rng.uniform(0, sum(w for _, w in pairs))
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def background_newsletter(ctx: Ctx, c: Cust, camps: list[tuple[str, str, datetime]]) -> None:
    if c.purged or not c.newsletter:
        return
    r = ctx.rng
    if r.random() > 0.5:
        return
    stop = c.marketing_stop or ctx.limit
    if stop - c.created < timedelta(days=3):
        return
    types = ["general"] + (["personalised"] if r.random() < 0.35 else [])
    for typ in types:
        start = c.created + timedelta(days=min(r.expovariate(1 / 60.0), (stop - c.created).days - 2))
        if start >= stop - timedelta(days=1):
            continue
        intervals = []
        on = subscribe(ctx, c, typ, start, _weighted(ctx, VALID_METHODS))
        if on >= stop:
            continue
        # each interval is (in force from, in force until)
        cur = on
        while True:
            if r.random() < 0.15:
                off = ctx.rand_between(cur + timedelta(days=1), stop)
                if off >= stop:
                    intervals.append((cur, stop))
                    break
                event(ctx, c, typ, "unsubscribe", off, r.choice(UNSUB_METHODS))
                intervals.append((cur, off))
                if r.random() < 0.3:
                    back = off + timedelta(days=r.randint(7, 200))
                    if back < stop - timedelta(days=1):
                        event(ctx, c, typ, "resubscribe", back,
                              r.choice(("account_setting", "unticked_checkbox")))
                        cur = back
                        continue
                break
            intervals.append((cur, stop))
            break
        if c.marketing_stop is not None and (not intervals or intervals[-1][1] == stop):
            # the withdrawal-type request is entered as an unsubscribe in the ESP as well
            if intervals and intervals[-1][1] == stop and stop < ctx.limit:
                event(ctx, c, typ, "unsubscribe", stop + timedelta(minutes=r.randint(1, 90)),
                      r.choice(("email_to_info", "cs_agent")))
        synced = False
        for camp, ctyp, ts in camps:
            if ctyp != typ:
                continue
            t = ts + timedelta(seconds=r.randint(0, 1800))
            if any(a < t < b for a, b in intervals):
                send(ctx, c, typ, t, campaign=camp)
                synced = True
        if synced or r.random() < 0.3:
            sharing.safe_transfer(ctx, "R09", on + timedelta(minutes=5), c.cid, None,
                                  ["email", "first_name", "newsletter_type"], f"newsletter_{typ}")
