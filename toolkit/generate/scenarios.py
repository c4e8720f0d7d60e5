"""Planted violations and near-misses: the registry and the helpers every family shares.

A *scenario* is one small, self-contained story (one to three accounts with their rows, or rows
without an account such as cookie observations). Its ``build`` writes the rows through the same
emitters as the background and records the truth itself:

* ``ctx.flag(rule, subject, name)`` for every (rule, subject) the contract's semantics flag,
  including side effects on other rules (recorded with ``primary=False``);
* ``ctx.miss(rule, subject, name)`` for a near-miss that ``rule`` must NOT flag.

Scenario accounts are otherwise clean (recent human visits, no stray rows), so what a scenario
flags is exactly what it plants. Dates are computed from ``as_of`` where a boundary matters,
and are fixed historical dates where the law fixes them (Schrems II, SCC deadlines) or where an
agreement in ``sharing.AGREEMENTS`` lapses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from .calendar import add_months
from .context import Ctx, Cust
from .people import chain_to, emit_customer, emit_human_visits

ALL_SCOPE = ["customers", "visits", "chats", "chat_messages", "calls", "newsletter_consent_events",
             "newsletter_sends", "orders", "payments", "transfers"]


@dataclass(frozen=True)
class Scenario:
    rule: str                 # the rule the scenario is about
    kind: str                 # "violation" or "near_miss"
    name: str                 # short id, used in _truth files
    doc: str                  # what is planted and why (README)
    customers: int            # accounts it needs (0: rows without an account)
    build: Callable[[Ctx, list[str]], None]
    also: str = ""            # other rules that (must) flag the same rows, for the README


REGISTRY: list[Scenario] = []


def scenario(rule: str, kind: str, name: str, customers: int = 1, also: str = ""):
    """Decorator: register ``fn(ctx, cids)`` with its docstring as documentation."""
    def deco(fn):
        REGISTRY.append(Scenario(rule, kind, name, " ".join((fn.__doc__ or "").split()),
                                 customers, fn, also))
        return fn
    return deco


def violation(rule: str, name: str, customers: int = 1, also: str = ""):
    return scenario(rule, "violation", name, customers, also)


def near_miss(rule: str, name: str, customers: int = 1, also: str = ""):
    return scenario(rule, "near_miss", name, customers, also)


# ------------------------------------------------------------------------------------ helpers

def active(ctx: Ctx, cid: str, last: datetime | None = None, created: datetime | None = None,
           visits: list[datetime] | None = None, person_key: str | None = None) -> Cust:
    """A clean account whose last human visit is ``last`` (default: 3-40 days ago)."""
    r = ctx.rng
    last = last or ctx.days_ago(r.randint(3, 40))
    created = created or (last - timedelta(days=r.randint(200, 700)))
    c = ctx.person(cid, created, person_key)
    c.human_visits = visits if visits is not None else chain_to(ctx, created, last)
    c.last_login = c.human_visits[-1] if c.human_visits else None
    return c


def commit(ctx: Ctx, c: Cust, visits: bool = True) -> Cust:
    """Write the account row (and its human visits unless they were purged)."""
    emit_customer(ctx, c)
    if visits:
        emit_human_visits(ctx, c)
    return c


def anchor_with_due(target: date, on_or_after: bool) -> date:
    """A civil date X with ``add_months(X, 12) == target``; when no X maps exactly onto target,
    the X with the nearest due date after (``on_or_after``) or before it."""
    cands = [target - timedelta(days=n) for n in range(355, 375)]
    exact = [x for x in cands if add_months(x, 12) == target]
    if exact:
        return max(exact)
    if on_or_after:
        return min(x for x in cands if add_months(x, 12) > target)
    return max(x for x in cands if add_months(x, 12) < target)


def months_ago(ctx: Ctx, n: int, hour: int | None = None) -> datetime:
    return ctx.at(add_months(ctx.as_of, -n), hour)


def latest_leap_year(before: date, month: int = 3, day: int = 15) -> int:
    y = before.year
    while not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) and date(y, month, day) < before):
        y -= 1
    return y
