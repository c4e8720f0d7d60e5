"""Data-subject requests and legal holds.

Background requests are answered within 1-25 days of receipt, or after a valid extension
(notified, with a reason, within the first month) within three months; requests still open at
the export were received less than a month before it. Erasure and deauthorisation requests of
purged accounts are completed when the account was wiped. Withdrawal-type requests stop the
newsletters of the account (``Cust.marketing_stop``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .context import Ctx, Cust

CHANNELS = {"access": ("email_info", "webform", "letter"), "rectification": ("email_info", "webform", "phone"),
            "erasure": ("email_info", "webform"), "restriction": ("email_info", "letter"),
            "objection": ("email_info", "letter"), "objection_marketing": ("email_info", "phone", "chat"),
            "portability": ("email_info", "webform"), "withdraw_consent": ("email_info", "chat", "phone"),
            "deauthorisation": ("account_deauth",)}
MARKETING_STOP = ("withdraw_consent", "objection_marketing", "objection", "restriction", "erasure",
                  "deauthorisation")
ACTION_TYPES = ("rectification", "erasure", "portability", "restriction", "deauthorisation")
EXTENSION_REASONS = ("complex request: data in several systems", "many requests at once",
                     "request covers ten years of orders")


def dsr(ctx: Ctx, cid: str | None, typ: str, received: datetime, answered: datetime | None = None,
        completed: datetime | None = None, extension: datetime | None = None,
        outcome: str | None = None, channel: str | None = None) -> str:
    did = ctx.nid("DSR", 7)
    ctx.emit("dsr_requests", {
        "dsr_id": did, "customer_id": cid, "type": typ,
        "channel": channel or ctx.rng.choice(CHANNELS[typ]), "received_at": received,
        "extension_notified_at": extension,
        "extension_reason": ctx.rng.choice(EXTENSION_REASONS) if extension else None,
        "answered_at": answered, "completed_at": completed,
        "outcome": outcome or ("granted" if answered else None)})
    return did


def hold(ctx: Ctx, cid: str, scope: list[str], reason: str, opened: datetime,
         closed: datetime | None = None) -> str:
    hid = ctx.nid("LH", 6)
    ctx.emit("legal_holds", {"hold_id": hid, "customer_id": cid, "scope_tables": scope,
                             "reason": reason, "opened_at": opened, "closed_at": closed})
    return hid


def plan_background_dsr(ctx: Ctx, c: Cust) -> None:
    """Requests of an account; sets ``marketing_stop`` for withdrawal-type requests."""
    r = ctx.rng
    if c.purged:
        if c.purge_kind == "erased":
            wiped = c.erased_at
            received = max(c.created + timedelta(hours=2), wiped - timedelta(days=r.randint(1, 20),
                                                                           hours=r.randint(0, 12)))
            dsr(ctx, c.cid, "erasure", received, answered=wiped, completed=wiped)
        elif c.purge_kind == "deauthorised":
            done = min(c.deauthorised_at + timedelta(days=r.randint(0, 3), minutes=r.randint(1, 600)),
                       ctx.limit - timedelta(minutes=1))
            dsr(ctx, c.cid, "deauthorisation", c.deauthorised_at, answered=done, completed=done,
                channel="account_deauth")
        return
    if r.random() > 0.05:
        return
    typ = r.choice(("access", "access", "access", "rectification", "portability", "restriction",
                    "objection", "objection_marketing", "objection_marketing", "withdraw_consent",
                    "withdraw_consent", "erasure"))
    if not c.newsletter and typ not in ("access", "rectification", "portability"):
        # a second account of a person: a withdrawal there would (person-level) also stop the
        # newsletters of the first account, so it only files requests without that effect
        typ = "access"
    lo = c.created + timedelta(days=3)
    hi = ctx.limit - timedelta(days=1)
    if typ == "erasure":                       # only still-open erasures for live accounts
        lo = max(lo, ctx.limit - timedelta(days=20))
    if hi <= lo:
        return
    received = ctx.rand_between(lo, hi)
    if typ in MARKETING_STOP:
        c.marketing_stop = received
    if typ == "erasure":
        dsr(ctx, c.cid, typ, received)
        return
    extension = None
    if r.random() < 0.1:
        extension = received + timedelta(days=r.randint(8, 24))
        answered = received + timedelta(days=r.randint(35, 75))
    else:
        answered = received + timedelta(days=r.randint(1, 25), hours=r.randint(0, 8))
    if extension is not None and extension >= ctx.limit:
        extension = None
        answered = received + timedelta(days=r.randint(1, 25))
    if answered >= ctx.limit:
        dsr(ctx, c.cid, typ, received, extension=extension)
        return
    completed = answered if typ in ACTION_TYPES else None
    outcome = "granted" if r.random() < 0.9 else r.choice(("partial", "no_data"))
    dsr(ctx, c.cid, typ, received, answered, completed, extension, outcome)


def background_hold(ctx: Ctx, c: Cust) -> None:
    r = ctx.rng
    if c.purged or r.random() > 0.005:
        return
    opened = ctx.rand_between(c.created, ctx.limit - timedelta(days=2))
    closed = ctx.rand_between(opened, ctx.limit) if r.random() < 0.5 else None
    reason, scope = r.choice((("litigation", ["orders", "payments", "chats", "chat_messages"]),
                              ("fiscal_audit", ["orders", "payments"]),
                              ("police_preservation_126ni", ["visits", "orders"])))
    hold(ctx, c.cid, scope, reason, opened, closed)
