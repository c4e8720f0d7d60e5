"""Great Expectations suites built from the policy and the rule registry (the CI gate's input).

The suites are plain GX 1.x suite JSON (``gx.ExpectationSuite(**json.load(f))`` loads them), one
file per area in ``expectations/``: schema, retention, sharing, consent, cookies, requests,
security. This module writes them and never imports Great Expectations (``toolkit.gate`` runs them).

One source of truth
    A relational rule becomes an ``unexpected_rows_expectation`` whose query *is* the rule's own
    SQL (``REGISTRY[id].sql(policy)``) with every policy parameter replaced by a quoted SQL literal
    (:func:`render_sql`), wrapped to keep the rows the audit counts (``excluded IS NULL``: legal
    holds) and to select only the subject id. Nothing is re-implemented.

    A rule that is exactly one column test (CON-001: consent method not in the invalid set for
    opt-in actions; CKE-001: cookie domain a first-party domain or a subdomain of one) becomes a
    native column expectation that flags the same subjects; a test checks the counts against the
    audit. Native checks that cannot match a rule exactly (``card_cvv`` null, ``card_pan`` not
    an unmasked number, cookies ``is_session`` true, declared category allowed) are kept as
    ``kind: data_check`` with their own notes and never claim agreement with the audit.

as_of
    Nothing in the JSON depends on the audit date. The two as_of parameters stay in the queries as
    the placeholders ``$as_of`` (TIMESTAMPTZ) and ``$as_of_date`` (DATE); the gate renders them
    with the same renderer at run time, and runs every expectation on the audit's as_of-limited
    temporary views (``toolkit.findings.prepare``) of the same DuckDB connection.

Every expectation's ``meta`` carries ``rule_id``, ``clause``, ``severity`` (from the policy),
``title``, ``kind`` (rule | data_check | schema), ``agrees_with_audit``, the table it runs on
(``batch``) and the tables and columns it needs (``needs``). A suite's ``meta.privaudit`` carries
the policy fingerprint: the gate refuses suites generated from another policy, and a test fails
when the committed JSON differs from what the default policy generates. Regenerate with
``python -m toolkit.suites`` (or :func:`write_suites`).

GX formats an ``unexpected_rows_query`` with ``str.format`` (for its ``{batch}`` placeholder), so
the braces of the rules' SQL (struct literals, regex quantifiers) are doubled in the JSON. The
queries do not use ``{batch}``: they read the canonical tables by name, like the audit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import textwrap
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from . import schema
from .exceptions import PrivauditError
from .policy import SEVERITIES, Policy, load_policy
from .resources import expectations_dir

SUITES_DIR = expectations_dir()
AREAS = ("schema", "retention", "sharing", "consent", "cookies", "requests", "security",
         "transparency")
FAMILY_AREA = {"retention": "retention", "sharing": "sharing", "newsletters": "consent",
               "cookies": "cookies", "requests": "requests", "security": "security",
               "transparency": "transparency"}
PLACEHOLDERS = ("as_of", "as_of_date")
SUITE_PREFIX = "privaudit."
FORMAT_VERSION = 1
GENERATOR = "toolkit.suites.build_suites"

# DQ-003 (export coverage): a core table (contract section 3) or a column the rules need that
# is missing is S2, so that the default gate fails on it; an optional table's, informational
DQ003_CORE_SEVERITY = "S2"
DQ003 = {"rule_id": "DQ-003", "clause": "", "basis": "GDPR Art. 5(2), 30 (accountability)"}


# ---------------------------------------------------------------- SQL literals and rendering

def sql_literal(value) -> str:
    """A DuckDB literal for a parameter value: strings quoted with '' escaping, lists as
    ``['a', 'b']``, dates as ``DATE '...'``, timestamps as ``TIMESTAMPTZ '...'``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PrivauditError(f"timestamp parameter {value!r} has no time zone")
        return "TIMESTAMPTZ " + _quote(value.isoformat(sep=" "))
    if isinstance(value, date):
        return "DATE " + _quote(value.isoformat())
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "CAST([] AS VARCHAR[])"
        return "[" + ", ".join(sql_literal(v) for v in value) + "]"
    raise PrivauditError(f"no SQL literal for a parameter of type {type(value).__name__}")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# a quoted string, a quoted identifier, a comment, or a $name parameter
_TOKEN_RE = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$([a-z_][a-z0-9_]*)""",
                       re.DOTALL)


def render_sql(sql: str, params: dict, keep: tuple[str, ...] = ()) -> str:
    """``sql`` with every ``$name`` parameter (outside string literals, quoted identifiers and
    comments) replaced by the literal of ``params[name]``; names in ``keep`` stay as they are."""
    unknown: set[str] = set()

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name is None or name in keep:
            return m.group(0)
        if name not in params:
            unknown.add(name)
            return m.group(0)
        return sql_literal(params[name])

    out = _TOKEN_RE.sub(sub, sql)
    if unknown:
        raise PrivauditError(f"query uses unknown parameters: {', '.join(sorted(unknown))}")
    return out


def placeholders_in(sql: str) -> set[str]:
    """The ``$name`` parameters left in ``sql`` (outside literals and comments)."""
    return {m.group(1) for m in _TOKEN_RE.finditer(sql) if m.group(1)}


def gx_escape(sql: str) -> str:
    """Double the braces: GX runs ``str.format`` over an unexpected_rows_query."""
    return sql.replace("{", "{{").replace("}", "}}")


# ---------------------------------------------------------------- policy identity

def policy_fingerprint(policy: Policy) -> str:
    """sha256 of the policy's values (not of its file: comments and layout do not count)."""
    # the clauses (front page) and the gate's must-rules (applied at run time) are not in the suites
    data = policy.model_dump(mode="json", exclude={"source", "sha256", "clauses", "gate"})
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def static_parameters(policy: Policy) -> dict:
    """Every rule parameter except the as_of ones (those stay placeholders in the JSON)."""
    from .findings import parameters     # findings imports nothing of GX either

    stamp = datetime(2000, 1, 1, tzinfo=timezone.utc)
    params = parameters(policy, stamp, stamp.date())
    for name in PLACEHOLDERS:
        params.pop(name)
    return params


# ---------------------------------------------------------------- rule queries

def returns_column(sql: str, column: str) -> bool:
    """Whether a rule's query names an output column ``column`` (``... AS column``)."""
    return re.search(rf"\bAS\s+\"?{re.escape(column)}\"?(?=[\s,)]|$)", sql, re.IGNORECASE) is not None


def severity_literals(sql: str) -> set[str]:
    return set(re.findall(r"'(S[1-4]|INFO)'", sql))


def severity_parts(sql: str, policy_severity: str) -> list[tuple[str, str | None]]:
    """(severity, SQL condition on the effective severity) per part of a rule whose query
    overrides the policy's severity per finding; one part without a condition otherwise."""
    if not returns_column(sql, "severity"):
        return [(policy_severity, None)]
    levels = sorted(severity_literals(sql) | {policy_severity}, key=SEVERITIES.index)
    if len(levels) == 1:
        return [(policy_severity, None)]
    eff = f"coalesce(nullif(v.severity, ''), {_quote(policy_severity)})"
    others = [s for s in levels if s != policy_severity]
    parts = []
    for s in levels:
        if s == policy_severity:   # the policy's level takes every row no other part takes
            cond = f"{eff} NOT IN ({', '.join(_quote(o) for o in others)})"
        else:
            cond = f"{eff} = {_quote(s)}"
        parts.append((s, cond))
    return parts


def rule_query(rule_sql: str, params: dict, condition: str | None = None) -> str:
    """The gate's query of a rule: its violating subjects as the audit counts them."""
    body = textwrap.dedent(render_sql(rule_sql, params, keep=PLACEHOLDERS)).strip("\n")
    where = []
    if returns_column(rule_sql, "excluded"):
        where.append("v.excluded IS NULL")
    if condition:
        where.append(condition)
    sql = f"SELECT v.subject_id\nFROM (\n{body}\n) AS v"
    if where:
        sql += "\nWHERE " + "\n  AND ".join(where)
    return sql


# ---------------------------------------------------------------- native expressions

def domain_regex(domains: list[str]) -> str:
    """RE2 pattern matching a cookie domain that CKE-001 counts as first party.

    CKE-001: ``lower(ltrim(domain, '.'))`` equals a policy domain or ends with ``'.' || domain``.
    Letters are matched by class instead of ``(?i)`` because RE2 case folding is wider than
    DuckDB's ``lower()`` (it folds U+017F to s); the only other characters ``lower()`` turns into
    an ASCII letter, digit, dot or hyphen are U+0130 (to i) and U+212A (to k), added to their class.
    """
    extra = {"i": r"\x{130}", "k": r"\x{212A}"}

    def char(c: str) -> str:
        if "a" <= c <= "z":
            return f"[{c}{c.upper()}{extra.get(c, '')}]"
        if c == ".":
            return r"\."
        if c.isdigit() or c == "-":
            return c
        raise PrivauditError(f"first_party_domains: unexpected character {c!r}")

    alts = "|".join("".join(char(c) for c in d) for d in domains)
    return rf"(?s)^\.*(.*\.)?({alts})$"


def _in_condition(column: str, values: list[str]) -> dict:
    """GX 1.x row_condition: ``column IN values``, as the JSON GX itself writes."""
    return {"column": {"name": column}, "operator": "IN", "parameter": list(values),
            "type": "comparison"}


# ---------------------------------------------------------------- building

def _rule_meta(policy: Policy, rule_id: str, severity: str, **extra) -> dict:
    spec = policy.rule(rule_id)
    meta = {"rule_id": rule_id, "clause": spec.clause, "severity": severity,
            "policy_severity": spec.severity, "title": spec.title, "basis": spec.basis}
    meta.update(extra)
    return meta


def _expectation(type_: str, kwargs: dict, meta: dict, notes: str) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": meta, "notes": notes}


def _needs(rule) -> dict[str, list[str]]:
    return {t: list(cols) for t, cols in rule.needs.items()}


def native_rule(policy: Policy, rule, params: dict) -> dict | None:
    """The native column expectation of a rule that is exactly a column test, else None."""
    spec = policy.rule(rule.id)
    sql = rule.sql(policy)
    if returns_column(sql, "excluded") or returns_column(sql, "severity"):
        return None
    common = dict(kind="rule", agrees_with_audit=True, batch=rule.subject_table,
                  subjects=rule.subjects or rule.subject_table, needs=_needs(rule), key=rule.id,
                  expression="native")
    if rule.id == "CON-001":
        invalid, opt_in = params["invalid_consent_methods"], params["opt_in_actions"]
        if not invalid or not opt_in:
            return None
        return _expectation(
            "expect_column_values_to_not_be_in_set",
            {"column": "method", "value_set": list(invalid),
             "row_condition": _in_condition("action", opt_in), "condition_parser": "great_expectations"},
            _rule_meta(policy, rule.id, spec.severity, **common),
            f"{rule.id}: {spec.title}. Opt-in events (action in {', '.join(opt_in)}) must not rest on "
            f"an invalid consent method ({', '.join(invalid)}). Flags the same events as the audit.")
    if rule.id == "CKE-001":
        if not params["first_party_only"]:
            return None
        domains = params["first_party_domains"]
        return _expectation(
            "expect_column_values_to_match_regex",
            {"column": "domain", "regex": domain_regex(domains)},
            _rule_meta(policy, rule.id, spec.severity, **common),
            f"{rule.id}: {spec.title}. A cookie's domain (leading dots ignored, any case) must be "
            f"{' or '.join(domains)} or a subdomain of one. Flags the same observations as the audit.")
    return None


def relational_rule(policy: Policy, rule, params: dict) -> list[dict]:
    """The rule's SQL expectation(s): one, or one per severity when findings override it."""
    spec = policy.rule(rule.id)
    sql = rule.sql(policy)
    parts = severity_parts(sql, spec.severity)
    out = []
    for severity, condition in parts:
        split = len(parts) > 1
        key = f"{rule.id}:{severity}" if split else rule.id
        meta = _rule_meta(policy, rule.id, severity, kind="rule", agrees_with_audit=True,
                          batch=rule.subject_table, subjects=rule.subjects or rule.subject_table,
                          needs=_needs(rule), key=key,
                          expression="sql", derived_from=f"toolkit.rules.REGISTRY[{rule.id!r}].sql(policy)")
        if split:
            meta["severity_part"] = True
        note = f"{rule.id}: {spec.title}. {rule.doc}"
        if split:
            note += (f" This expectation counts the findings of severity {severity}; the rule's "
                     f"other severities are separate expectations, and together they count every "
                     f"finding of the audit.")
        out.append(_expectation("unexpected_rows_expectation",
                                {"unexpected_rows_query": gx_escape(rule_query(sql, params, condition))},
                                meta, note))
    return out


def data_checks(policy: Policy, area: str) -> list[dict]:
    """Native column checks that guard a rule's columns without matching it exactly."""
    out: list[dict] = []

    def check(rule_id, key, type_, kwargs, table, needs, what, notes):
        if rule_id not in policy.rules or not policy.rule(rule_id).enabled:
            return
        meta = _rule_meta(policy, rule_id, policy.rule(rule_id).severity, kind="data_check",
                          agrees_with_audit=False, batch=table, needs=needs, key=key,
                          expression="native", check=what)
        out.append(_expectation(type_, kwargs, meta, notes))

    c = policy.cookies
    if area == "security":
        check("SEC-001", "SEC-001:card_cvv", "expect_column_values_to_be_null",
              {"column": "card_cvv"}, "payments", {"payments": ["card_cvv"]},
              "payments.card_cvv is empty",
              "Data check (related to SEC-001): payments.card_cvv is never stored. Stricter than "
              "SEC-001, which ignores blank values; not counted as agreement with the audit.")
        check("SEC-001", "SEC-001:card_pan", "expect_column_values_to_not_match_regex",
              {"column": "card_pan", "regex": r"^[0-9 \-]+$"}, "payments", {"payments": ["card_pan"]},
              "payments.card_pan is empty or masked",
              "Data check (related to SEC-001): payments.card_pan is empty or masked, never only "
              "digits, spaces and dashes. Stricter than SEC-001, which flags only numbers passing "
              "the Luhn check; not counted as agreement with the audit.")
    if area == "cookies":
        if c.session_only:
            check("CKE-002", "CKE-002:is_session", "expect_column_values_to_be_in_set",
                  {"column": "is_session", "value_set": [True],
                   "row_condition": _in_condition("storage_kind", ["cookie"]),
                   "condition_parser": "great_expectations"},
                  "cookie_observations", {"cookie_observations": ["is_session", "storage_kind"]},
                  "cookies are session cookies (is_session true)",
                  "Data check (related to CKE-002): every cookie is a session cookie (is_session "
                  "true). CKE-002 flags more (local storage, cookies with an expiry and no "
                  "is_session); not counted as agreement with the audit.")
        check("CKE-003", "CKE-003:declared_category", "expect_column_values_to_be_in_set",
              {"column": "declared_category", "value_set": list(c.allowed_categories)},
              "cookie_observations", {"cookie_observations": ["declared_category"]},
              f"declared cookie categories are {', '.join(c.allowed_categories)}",
              "Data check (related to CKE-003): every observation's declared category is an "
              f"allowed one ({', '.join(c.allowed_categories)}). CKE-003 reclassifies known "
              "trackers by name and classifies undeclared cookies; not counted as agreement.")
    return out


def schema_checks(policy: Policy, rules: list) -> list[dict]:
    """DQ-003: the columns the rules need are exported; enumerations hold canonical values."""
    needed: dict[str, set[str]] = {}
    users: dict[str, set[str]] = {}
    for r in rules:
        for t, cols in r.needs.items():
            needed.setdefault(t, set()).update(cols)
            users.setdefault(t, set()).add(r.id)
    out = []
    order = [t.name for t in schema.TABLES]
    for t in sorted(needed, key=order.index):
        cols = [c for c in schema.table(t).column_names if c in needed[t]]
        severity = DQ003_CORE_SEVERITY if schema.table(t).core else "INFO"
        values = ", ".join(f"({_quote(c)})" for c in cols)
        query = (f"SELECT n.column_name\nFROM (VALUES {values}) AS n(column_name)\n"
                 f"WHERE n.column_name NOT IN (\n"
                 f"    SELECT column_name FROM information_schema.columns\n"
                 f"    WHERE table_catalog = current_database() AND table_schema = 'main'\n"
                 f"      AND table_name = {_quote(t)})")
        meta = dict(DQ003, severity=severity, title=f"{t}: the columns the rules need are exported",
                    kind="schema", agrees_with_audit=False, batch=t, needs={}, key=f"DQ-003:{t}",
                    expression="sql", used_by=sorted(users[t]))
        out.append(_expectation(
            "unexpected_rows_expectation", {"unexpected_rows_query": gx_escape(query)}, meta,
            f"DQ-003: the export's {t} table has the columns {', '.join(cols)} (needed by "
            f"{', '.join(sorted(users[t]))}). Each failing row is a missing column; a missing "
            f"table fails with all of them. The rules that need them are not evaluable."))
    for t in schema.TABLES:
        if not t.core:
            continue
        for col in t.columns:
            if not col.values:
                continue
            meta = dict(DQ003, severity="INFO", title=f"{t.name}.{col.name} holds canonical values",
                        kind="schema", agrees_with_audit=False, batch=t.name,
                        needs={t.name: [col.name]}, key=f"DQ-003:{t.name}.{col.name}",
                        expression="native")
            out.append(_expectation(
                "expect_column_values_to_be_in_set",
                {"column": col.name, "value_set": list(col.values)}, meta,
                f"DQ-003: {t.name}.{col.name} takes the documented values only; an unknown value "
                f"can slip past the rules that test this column."))
    return out


def build_suites(policy: Policy | str | Path | None = None) -> dict[str, dict]:
    """The suites of ``policy`` (default: the shipped one) as GX suite JSON dicts, by area."""
    from .rules import ordered

    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    params = static_parameters(pol)
    unknown = sorted(set(pol.rules) - {r.id for r in ordered()})
    if unknown:
        raise PrivauditError(f"{pol.source or 'policy'}: rules.{unknown[0]}: no such rule in this toolkit")
    rules = [r for r in ordered() if r.id in pol.rules and pol.rule(r.id).enabled]
    by_area: dict[str, list[dict]] = {a: [] for a in AREAS}
    for r in rules:
        area = FAMILY_AREA.get(r.family)
        if area is None:
            raise PrivauditError(f"rule {r.id}: family {r.family!r} has no suite area")
        native = native_rule(pol, r, params)
        by_area[area].extend([native] if native else relational_rule(pol, r, params))
    for area in AREAS:
        by_area[area].extend(data_checks(pol, area))
    by_area["schema"] = schema_checks(pol, rules)

    fingerprint = policy_fingerprint(pol)
    suites = {}
    for area in AREAS:
        suites[area] = {
            "name": SUITE_PREFIX + area,
            "expectations": by_area[area],
            "meta": {"privaudit": {
                "area": area, "format": FORMAT_VERSION, "generated_by": GENERATOR,
                "policy_fingerprint": fingerprint, "policy_version": pol.policy_version,
                "controller": pol.controller.name,
                "placeholders": {"$as_of": "the audit moment, TIMESTAMPTZ (filled by the gate)",
                                 "$as_of_date": "its civil date, DATE (filled by the gate)"},
                "batches": "each expectation runs on the as_of-limited view of meta.batch",
                "regenerate": "python -m toolkit.suites",
            }},
            "notes": (f"privaudit {area} suite, generated from the policy of "
                      f"{pol.controller.name}. Do not edit: regenerate."),
        }
    return suites


def dumps(suite: dict) -> str:
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def suite_path(folder: Path, area: str) -> Path:
    return Path(folder) / f"{area}.json"


def write_suites(policy: Policy | str | Path | None = None, folder: str | Path = SUITES_DIR
                 ) -> list[Path]:
    """Write every suite of ``policy`` to ``folder`` (``<area>.json``); return the paths.

    Suite files of ours that the policy no longer produces are removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suites = build_suites(policy)
    written = []
    for area, suite in suites.items():
        p = suite_path(folder, area)
        p.write_text(dumps(suite), encoding="utf-8")
        written.append(p)
    for p in sorted(folder.glob("*.json")):
        if p not in written and _is_ours(p):
            p.unlink()
    return written


def _is_ours(p: Path) -> bool:
    try:
        return "privaudit" in json.loads(p.read_text(encoding="utf-8")).get("meta", {})
    except (OSError, ValueError, AttributeError):
        return False


def stale_suites(policy: Policy | str | Path | None = None, folder: str | Path = SUITES_DIR
                 ) -> list[str]:
    """What differs between ``folder`` and the suites ``policy`` generates (empty: up to date)."""
    folder = Path(folder)
    problems = []
    suites = build_suites(policy)
    for area, suite in suites.items():
        p = suite_path(folder, area)
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif p.read_text(encoding="utf-8") != dumps(suite):
            problems.append(f"{p}: differs from what the policy generates")
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if p.stem not in suites and _is_ours(p):
            problems.append(f"{p}: not generated by the policy")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toolkit.suites",
                                 description="Write (or --check) the Great Expectations suites of a policy.")
    ap.add_argument("--policy", default=None, help="policy file (default: the shipped one)")
    ap.add_argument("--out", default=str(SUITES_DIR), help="folder of the suites (default: expectations/)")
    ap.add_argument("--check", action="store_true", help="only report whether the folder is up to date")
    a = ap.parse_args(argv)
    try:
        if a.check:
            problems = stale_suites(a.policy, a.out)
            for p in problems:
                print(p)
            if problems:
                print("suites are out of date: run python -m toolkit.suites", file=sys.stderr)
            return 1 if problems else 0
        for p in write_suites(a.policy, a.out):
            print(p)
    except PrivauditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
