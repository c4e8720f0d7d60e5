"""Synthetic Dutch webshop exports with planted violations (``privaudit generate``).

``generate(out_dir, customers=500, seed=0, as_of=date(2026, 10, 31), violation_rate=0.05)``
writes one file per core table of contract section 3 (mixed formats, see ``writers.FORMATS``)
and ``_truth/`` (findings.csv, near_misses.csv, README), and returns a summary.

How it works
------------
* ``people``/``commerce``/``service``/``marketing``/``sharing``/``requests``/``cookies`` write
  the background shop, compliant with the 25 rules of contract section 5 by construction.
* ``plant_*`` modules register scenarios (``scenarios.REGISTRY``): a violation or a near-miss
  for one rule each, built from a few dedicated accounts, recording their own truth.
* Accounts are numbered ``C0000001``..; scenario accounts are interleaved at seeded random
  positions among the background accounts, so ``customers`` is the exact number of accounts.
* Rows stream straight to the files; memory does not grow with ``customers``.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from . import (commerce, cookies, marketing, people, plant_cookies, plant_marketing,  # noqa: F401
               plant_retention, plant_rights, plant_security, plant_sharing, requests, service,
               sharing, truth)
from . import plant_transparency  # noqa: E402  (last: its TRN-003 scenario runs after every row)
from ..exceptions import UsageError
from .context import Ctx
from .scenarios import REGISTRY, Scenario
from .truth import RULES, STATEMENT_RULES
from .writers import EXPORT_EXTRAS

__all__ = ["generate", "repetitions", "RULES", "STATEMENT_RULES", "REGISTRY", "DEFAULT_AS_OF"]

DEFAULT_AS_OF = date(2026, 10, 31)


def repetitions(customers: int, violation_rate: float) -> int:
    """How many instances of every scenario: 0 for a clean shop, else at least one (so every
    rule gets at least 3 planted subjects and 3 near-misses), growing with the shop."""
    if violation_rate <= 0:
        return 0
    return max(1, round(customers * violation_rate / 250))


def generate(out_dir, customers: int = 500, seed: int = 0, as_of: date = DEFAULT_AS_OF,
             violation_rate: float = 0.05) -> dict:
    """Write a synthetic export of ``customers`` accounts into ``out_dir``; return a summary
    ``{"files": {table: file}, "rows": {table: n}, "planted": {rule: n}, "flagged": {rule: n},
    "near_misses": {rule: n}, "scenario_customers": n, ...}``."""
    if customers < 1:
        raise UsageError(f"--customers {customers}: use at least 1")
    if not 0 <= violation_rate <= 1:
        raise UsageError(f"--violation-rate {violation_rate}: use a share between 0 and 1")
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    reps = repetitions(customers, violation_rate)
    with_accounts: list[Scenario] = [s for s in REGISTRY if s.customers > 0]
    without: list[Scenario] = [s for s in REGISTRY if s.customers == 0]
    needed = reps * sum(s.customers for s in with_accounts)
    if needed > customers * 0.7:
        raise UsageError(f"--customers {customers}: too few for the planted scenarios "
                         f"({needed} scenario accounts); use at least {int(needed / 0.7) + 1}, "
                         "or --violation-rate 0 for a shop without violations")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "_truth").exists():
        shutil.rmtree(out / "_truth")

    ctx = Ctx(out, seed, as_of, violation_rate)
    ctx.scans = cookies.scans(ctx)
    camps = marketing.campaigns(ctx)

    # the plan: background accounts (None) and scenario instances, shuffled by the seed
    plan: list[Scenario | None] = [None] * (customers - needed)
    plan += [s for s in with_accounts for _ in range(reps)]
    ctx.rng.shuffle(plan)

    number = 0
    previous = None
    for item in plan:
        if item is None:
            number += 1
            c = people.plan_background(ctx, f"C{number:07d}", previous)
            _background(ctx, c, camps)
            previous = c
        else:
            cids = [f"C{number + i + 1:07d}" for i in range(item.customers)]
            number += item.customers
            item.build(ctx, cids)
        people.anonymous_traffic(ctx)
        if ctx.rng.random() < 0.03:
            commerce.guest_order(ctx)

    sharing.emit_register(ctx)
    cookies.background_cookies(ctx, ctx.scans)
    for s in without:
        for _ in range(reps):
            s.build(ctx, [])
    counts = ctx.close()
    if reps:
        _undeclared_columns_truth(ctx)
    plant_transparency.truth(ctx)
    truth.write(ctx, REGISTRY, counts, reps)

    def per_rule(rows) -> dict[str, int]:
        d = {r: 0 for r in RULES}
        for row in rows:
            d[row[0]] = d.get(row[0], 0) + 1
        return d

    return {
        "out_dir": str(out), "seed": seed, "as_of": as_of.isoformat(),
        "violation_rate": violation_rate, "customers": customers,
        "scenario_customers": needed, "repetitions": reps,
        "files": {t: out.joinpath(truth.file_name(t)).name for t in counts},
        "rows": counts,
        "planted": per_rule(ctx.planted),
        "flagged": per_rule(sorted(ctx.truth)),
        "near_misses": per_rule(ctx.near),
        "truth_rows": len(ctx.truth),
    }


def _undeclared_columns_truth(ctx: Ctx) -> None:
    """TRN-001: the export columns of personal data the schema does not declare, and the ones that
    only look like it (writers.EXPORT_EXTRAS, written whenever violations are planted)."""
    for table, extras in EXPORT_EXTRAS.items():
        for e in extras:
            subject = f"{table}.{e.loaded_as}"
            if e.category:
                ctx.flag("TRN-001", subject, f"undeclared_{e.category}_column")
            else:
                ctx.miss("TRN-001", subject, "not_personal_column")


def _background(ctx: Ctx, c, camps) -> None:
    """Everything one background account leaves in the export."""
    people.emit_customer(ctx, c)
    people.background_visits(ctx, c)
    requests.plan_background_dsr(ctx, c)
    orders = commerce.background_orders(ctx, c)
    service.background_service(ctx, c, orders)
    marketing.background_newsletter(ctx, c, camps)
    sharing.account_transfer(ctx, c)
    sharing.research_invite(ctx, c)
    requests.background_hold(ctx, c)
