"""Customers and their visits: the background population and the helpers scenarios share.

Background customers are compliant by construction:

* active and blocked accounts visit (web/app, human) at gaps of at most 300 days from sign-up
  until the export, so no account's retention (12 months after the last human visit) ever
  lapses, not even temporarily (no lapse-then-return in the background);
* erased, deauthorised and deleted accounts are purged: personal columns NULL, no visits, chats,
  calls, newsletter rows or transfers left, orders reduced to their fiscal fields;
* non-human traffic (newsletter clicks, tracking pixels, prefetches, API and back-office hits,
  bots) and anonymous visits are added as noise; they never anchor retention.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .calendar import add_months, local, nl_date
from .context import Ctx, Cust

PII = ("first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city")
NOISE_ORIGINS = ("newsletter_click", "tracking_pixel", "prefetch", "api", "backoffice")


def wipe(c: Cust, keep: tuple[str, ...] = ()) -> None:
    """Null every personal column of ``c`` except ``keep``."""
    for f in PII:
        if f not in keep:
            setattr(c, f, None)


def emit_customer(ctx: Ctx, c: Cust) -> None:
    ctx.emit("customers", {
        "customer_id": c.cid, "person_key": c.person_key, "created_at": c.created,
        "status": c.status, "deauthorised_at": c.deauthorised_at, "erased_at": c.erased_at,
        "first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone,
        "street": c.street, "house_number": c.house_number, "postcode": c.postcode,
        "city": c.city, "country_code": c.country_code, "last_login_at": c.last_login})


def emit_visit(ctx: Ctx, cid: str | None, ts: datetime, origin: str = "web", is_bot: bool = False,
               visitor_id: str | None = None) -> str:
    vid = ctx.nid("V", 9)
    ctx.emit("visits", {"visit_id": vid, "customer_id": cid, "visitor_id": visitor_id,
                        "started_at": ts, "ip_address": ctx.ip(), "origin": origin,
                        "is_bot": is_bot})
    return vid


def emit_human_visits(ctx: Ctx, c: Cust) -> None:
    for ts in c.human_visits:
        emit_visit(ctx, c.cid, ts, "app" if ctx.rng.random() < 0.3 else "web",
                   visitor_id=c.visitor_id)


def visit_chain(ctx: Ctx, start: datetime, end: datetime, mean_gap: float = 190.0,
                max_gap: float = 300.0) -> list[datetime]:
    """Human visits from ``start`` (included) with gaps of 1..max_gap days, none after ``end``."""
    r = ctx.rng
    out = [start]
    t = start
    while True:
        gap = min(max_gap, 1.0 + r.expovariate(1.0 / mean_gap))
        t = t + timedelta(days=gap, seconds=r.randint(-4 * 3600, 4 * 3600))
        if t > end:
            return out
        out.append(t)


def chain_to(ctx: Ctx, created: datetime, last: datetime) -> list[datetime]:
    """Human visits from ``created`` that end exactly at ``last`` (gaps at most 300 days)."""
    if last <= created:
        return [last]
    visits = visit_chain(ctx, created, last - timedelta(days=1))
    visits = [v for v in visits if v < last - timedelta(hours=1)]
    # close the gap to ``last`` with intermediate visits if needed
    while (last - visits[-1]).days > 290:
        visits.append(visits[-1] + timedelta(days=ctx.rng.randint(120, 280)))
    visits.append(last)
    return visits


def plan_background(ctx: Ctx, cid: str, previous: Cust | None) -> Cust:
    """Plan one background account: status, sign-up, visit history, purge time."""
    r = ctx.rng
    span = (ctx.limit.date() - ctx.world_start).days - 30
    back = 30 + int(span * (r.random() ** 1.6))
    created = ctx.at(ctx.limit.date() - timedelta(days=back))
    if created < local(ctx.world_start, 9):
        created = local(ctx.world_start, 9)
    linked = previous is not None and previous.status == "active" and previous.newsletter \
        and not previous.purged and r.random() < 0.04
    c = ctx.person(cid, created, previous.person_key if linked else None)
    if linked:
        c.newsletter = False           # second account of the same person: newsletters go to the first
        c.last_name = previous.last_name
    u = r.random()
    status = ("active" if u < 0.86 else "blocked" if u < 0.88 else "erased" if u < 0.94
              else "deauthorised" if u < 0.97 else "deleted")
    if linked:
        status = "active"
    c.status = status
    if status in ("active", "blocked"):
        c.human_visits = visit_chain(ctx, created, ctx.limit - timedelta(hours=2))
        c.last_login = c.human_visits[-1]
        return c
    # purged accounts
    c.purged = True
    c.newsletter = False
    end_min = created + timedelta(days=40)
    end_max = ctx.limit - timedelta(days=3)
    if end_max <= end_min:
        c.status = "active"
        c.purged = False
        c.newsletter = not linked
        c.human_visits = visit_chain(ctx, created, ctx.limit - timedelta(hours=2))
        c.last_login = c.human_visits[-1]
        return c
    if status == "erased" and r.random() < 0.4:
        # erased by the retention job: inactive for 12 months, then wiped a few days after due
        cutoff = ctx.rand_between(end_min, end_max)
        visits = visit_chain(ctx, created, cutoff)
        due = add_months(nl_date(visits[-1]), 12)
        purge = ctx.at(due + timedelta(days=r.randint(1, 25)))
        if purge < end_max:
            c.human_visits = visits
            c.last_login = visits[-1]
            c.erased_at = purge
            c.purge_kind = "retention"
            wipe(c)
            c.person_key = None
            return c
    purge = ctx.rand_between(end_min, end_max)
    c.human_visits = visit_chain(ctx, created, purge - timedelta(days=1))
    c.last_login = c.human_visits[-1]
    if status == "erased":
        c.erased_at = purge
    elif status == "deauthorised":
        c.deauthorised_at = purge
    c.purge_kind = status
    wipe(c)
    c.person_key = None
    return c


def background_visits(ctx: Ctx, c: Cust) -> None:
    """Visits of a background account (none survive for purged accounts)."""
    if c.purged:
        return
    emit_human_visits(ctx, c)
    r = ctx.rng
    if r.random() < 0.35:
        for _ in range(r.randint(1, 2)):
            ts = ctx.rand_between(c.created, ctx.limit - timedelta(hours=1))
            if r.random() < 0.1:
                emit_visit(ctx, c.cid, ts, "web", is_bot=True)
            else:
                emit_visit(ctx, c.cid, ts, r.choice(NOISE_ORIGINS), visitor_id=c.visitor_id)


def anonymous_traffic(ctx: Ctx) -> None:
    """Bots and guests without an account (customer_id NULL)."""
    r = ctx.rng
    lo = ctx.limit - timedelta(days=400)
    if r.random() < 0.2:
        emit_visit(ctx, None, ctx.rand_between(lo, ctx.limit), "web", is_bot=True)
    if r.random() < 0.15:
        emit_visit(ctx, None, ctx.rand_between(lo, ctx.limit), r.choice(("web", "web", "app")),
                   visitor_id="%016x" % r.getrandbits(64))
