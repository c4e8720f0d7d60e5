"""The rule registry: one entry per rule id, with the tables it needs and one DuckDB query.

A rule's query returns its violating subjects, one row each, with the columns

- ``subject_id``: the primary key of the rule's subject table (contract section 5);
- ``customer_id``: the customer concerned, when there is one;
- ``due_date``: the civil date by which the duty had to be met (``days_overdue`` is computed
  from it), or NULL;
- ``evidence``: a STRUCT (or JSON) of facts for the reviewer; masking decides how they show;
- optionally ``excluded``: a reason (e.g. ``legal hold``) when the row is *not* a violation but
  must be reported as excluded (catalogue 0.5), NULL otherwise;
- optionally ``severity``: a per-finding override of the policy's severity.

Queries read the canonical tables by their names; the engine (``toolkit.findings``) makes every
table and column of the schema visible (absent optional ones as empty or NULL), limited to rows
dated at or before ``as_of``. Policy values and ``as_of`` are bound parameters (``$as_of``,
``$as_of_date``, ``$inactivity_months``, ...; see ``toolkit.findings.parameters``). Shared logic
lives in SQL macros (``toolkit.dates`` for dates, ``retention_anchor`` for the retention anchor).

Rule metadata meant for people (title, clause, basis, severity, enabled) lives in the policy file.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from ..policy import Policy


@dataclass(frozen=True)
class Rule:
    id: str
    subject_table: str
    needs: dict[str, tuple[str, ...]]
    sql: Callable[[Policy], str]
    optional: tuple[str, ...] = ()
    population: Callable[[Policy], str] | None = None
    doc: str = ""
    family: str = field(default="", compare=False)
    subjects: str = ""          # for docs, when findings name more than one subject table
    # SQL run once per audit before the first rule that names it (shared work, e.g. a scan)
    setup: Callable[[Policy], list[str]] | None = None
    # a need that a table and column list cannot say ("any free-text column"): given the tables
    # and columns present, what is missing (nothing: the rule is evaluable)
    needs_any: Callable[[dict[str, set[str]]], list[str]] | None = field(default=None, compare=False)

    def population_sql(self, policy: Policy) -> str:
        if self.population is not None:
            return self.population(policy)
        return f'SELECT count(*) FROM "{self.subject_table}"'


REGISTRY: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if rule.id in REGISTRY:
        raise ValueError(f"rule {rule.id} registered twice")
    REGISTRY[rule.id] = rule
    return rule


# the catalogue's run order: retention, sharing, consent and newsletters, cookies, requests, security,
# and transparency last (it reads what the others set up and found)
FAMILIES = ("retention", "sharing", "newsletters", "cookies", "requests", "security", "transparency")


def ordered() -> list[Rule]:
    return sorted(REGISTRY.values(), key=lambda r: (FAMILIES.index(r.family), r.id))


def select(patterns: str | list[str] | None) -> list[Rule]:
    """Rules whose id matches any of the patterns (``RET-*,SHR-002``); all when None."""
    if patterns is None:
        return ordered()
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    return [r for r in ordered() if any(fnmatch.fnmatchcase(r.id, p.upper()) for p in patterns)]


# the rule families register themselves on import; their shared SQL macros are installed once
from . import cookies, newsletters, requests, retention, security, sharing, transparency  # noqa: E402

MACROS: list[str] = [*retention.MACROS, *requests.MACROS, *sharing.MACROS,
                     *newsletters.MACROS, *cookies.MACROS, *security.MACROS, *transparency.MACROS]


def catalogue(policy: Policy) -> list[dict]:
    """Each rule of the policy with its clause, basis, severity, subject and what it flags."""
    out = []
    for r in ordered():
        spec = policy.rules.get(r.id)
        if spec is None:
            continue
        out.append({"rule_id": r.id, "title": spec.title, "severity": spec.severity,
                    "enabled": spec.enabled, "subject": r.subjects or r.subject_table, "clause": spec.clause,
                    "quote": spec.quote, "basis": spec.basis, "flags": r.doc,
                    "needs": ", ".join(f"{t}({', '.join(c)})" for t, c in r.needs.items())})
    return out


def markdown(policy: Policy) -> str:
    """The rules as a Markdown table (the README's rule list is this, verbatim)."""
    lines = ["| rule | flags | subject | severity | clause | basis |", "|---|---|---|---|---|---|"]
    for c in catalogue(policy):
        lines.append(f"| {c['rule_id']} | {c['flags']} | {c['subject']} | {c['severity']} | "
                     f"{c['clause']} | {c['basis']} |")
    return "\n".join(lines)
