"""The CI data-quality gate: the Great Expectations suites of ``expectations/`` run against DuckDB.

``gate(db, as_of)`` opens the audit database read-only, installs the audit's macros and
as_of-limited temporary views on that one connection (``toolkit.findings.prepare``), and has
Great Expectations validate every suite through SQLAlchemy (duckdb-engine) on *that same
connection*, so the rule-derived SQL sees exactly what the audit sees. Each expectation runs on the
view named by its ``meta.batch``; an expectation of a rule that is disabled, or whose tables or
columns are missing from the database (DQ-003), is reported ``not_evaluable``, as in the audit.

Exit codes (``GateResult.exit_code``): 0 when nothing at or above ``fail_on`` failed, 1 when
something did, 2 when a suite cannot run (unreadable JSON, an expectation type GX does not know
- GX would silently drop it, so loaded and written expectations are counted -, suites generated
from another policy, an expectation that raised). Failing-row counts are complete: GX's
``observed_value`` of an SQL expectation is ``COUNT(*)`` of its query, and ``unexpected_count`` of
a column expectation counts every row (GX only *samples* the values, which the gate never asks
for: results are requested without unexpected values, so no personal data reaches any output).

Great Expectations (about 6 s to import) is imported inside :func:`gate` only.

Two things make GX work on DuckDB, and both are checked on every run (the gate exits 2 with a
message naming the GX version if an upgrade breaks them; ``tests/test_gate.py`` guards them):

- GX closes its SQLAlchemy connection after each metric query unless the dialect is one of its
  "persisted connection" dialects; DuckDB then loses the pending result ("list index out of
  range") and the temporary views would not be visible anyway. ``duckdb`` is added to
  ``great_expectations.execution_engine.sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS``,
  so GX keeps one connection (a ``StaticPool``) - ours, handed over through ``creator``.
- GX knows no DuckDB dialect module, so regex expectations are refused ("Regex is not supported");
  the execution engine is given duckdb-engine's dialect class, a PostgreSQL dialect, whose regex
  operator ``~`` DuckDB implements (RE2).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import os
import re
import time
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from . import __version__, outputs
from .exceptions import PrivauditError, UnusableInputError
from .policy import SEVERITIES, Policy, load_policy
from . import suites as suites_mod

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0,
                 "include_unexpected_rows": False}
DUCKDB = "duckdb"


class GateError(PrivauditError):
    """The gate cannot run at all (exit 2)."""


# ---------------------------------------------------------------- results

@dataclass
class Outcome:
    """One expectation's result."""

    suite: str
    key: str                    # unique within the suites: rule id, rule id:part, DQ-003:table
    expectation_type: str
    rule_id: str
    severity: str
    kind: str                   # rule | data_check | schema
    agrees_with_audit: bool
    table: str
    title: str
    clause: str = ""
    status: str = "passed"      # passed | failed | error | not_evaluable | not_applicable | disabled
    failing_rows: int | None = None
    message: str = ""
    notes: str = ""
    subjects: str = ""          # what a failing row is (e.g. "chat_messages, calls")
    used_by: list[str] = field(default_factory=list)    # DQ-003: the rules needing the table

    @property
    def success(self) -> bool | None:
        return {"passed": True, "failed": False}.get(self.status)

    @property
    def counts_columns(self) -> bool:
        """A table's DQ-003 column check: what fails is a column the rules need, not a row."""
        return self.kind == "schema" and self.key == f"DQ-003:{self.table}"

    @property
    def failing(self) -> str:
        """``3 failing rows``, or for a DQ-003 column check ``2 missing columns``."""
        n = self.failing_rows
        if self.counts_columns:
            return f"{n} missing column" + ("" if n == 1 else "s")
        return _rows(n)


@dataclass
class GateResult:
    as_of: datetime
    as_of_date: date
    fail_on: str
    outcomes: list[Outcome]
    errors: list[str] = field(default_factory=list)     # suites that cannot run
    suites: dict[str, dict] = field(default_factory=dict)   # name -> {file, in_json, loaded}
    source: str = ""
    policy_fingerprint: str = ""
    gx_version: str = ""
    seconds: float = 0.0
    junit: Path | None = None
    docs: Path | None = None
    rules: dict[str, dict] = field(default_factory=dict)    # rule id -> {title, severity, must, ...}
    allowed: list[str] = field(default_factory=list)        # --allow-not-evaluable, as matched

    @staticmethod
    def at_or_above(severity: str, fail_on: str) -> bool:
        return SEVERITIES.index(severity) <= SEVERITIES.index(fail_on)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def blocking(self) -> list[Outcome]:
        """Failed expectations at or above ``fail_on``."""
        return [o for o in self.failed if self.at_or_above(o.severity, self.fail_on)]

    def rule_status(self, rule_id: str) -> str:
        """A rule's verdict from its expectations (``kind: rule``): error, failed, not_evaluable,
        not_applicable, disabled or passed."""
        if not (self.rules.get(rule_id) or {}).get("enabled", True):
            return "disabled"
        mine = [o.status for o in self.outcomes if o.rule_id == rule_id and o.kind == "rule"]
        for s in ("error", "failed", "not_evaluable", "not_applicable", "disabled"):
            if s in mine:
                return s
        return "passed" if mine else "not_evaluable"

    def rule_statuses(self) -> dict[str, str]:
        return {rid: self.rule_status(rid) for rid in self.rules}

    @property
    def unevaluated_musts(self) -> list[str]:
        """Must-rules that are not evaluable and neither declared not applicable nor allowed:
        each makes the gate exit 2."""
        return [rid for rid, r in self.rules.items()
                if r.get("must") and rid not in self.allowed
                and self.rule_status(rid) == "not_evaluable"]

    def excused(self, o: Outcome) -> bool:
        """A not-evaluable expectation the policy or ``--allow-not-evaluable`` accepts."""
        return o.status == "not_applicable" or (o.status == "not_evaluable"
                                                 and o.rule_id in self.allowed)

    @property
    def exit_code(self) -> int:
        if (self.errors or any(o.status == "error" for o in self.outcomes)
                or self.unevaluated_musts):
            return 2
        return 1 if self.blocking else 0

    def with_fail_on(self, fail_on: str) -> "GateResult":
        return replace(self, fail_on=check_fail_on(fail_on))

    def failing_rows(self, rule_id: str) -> int | None:
        """Failing rows of a rule's audit-agreeing expectations (summed over severity parts)."""
        mine = [o for o in self.outcomes if o.rule_id == rule_id and o.agrees_with_audit
                and o.status in ("passed", "failed")]
        return sum(o.failing_rows or 0 for o in mine) if mine else None

    def missing(self, rule_id: str) -> str:
        """What makes a rule not evaluable (or why it does not apply)."""
        msgs = [o.message for o in self.outcomes if o.rule_id == rule_id and o.kind == "rule"
                and o.status in ("not_evaluable", "not_applicable") and o.message]
        return msgs[0] if msgs else "no expectation ran"

    def lines(self) -> list[str]:
        """Failures first: one line per failing expectation (rule id, severity, failing rows),
        per error and per must-rule that could not be evaluated; then the warnings below
        ``fail_on`` and what else was not evaluated."""
        out, later = [], []
        for o in self.failed:
            what = {"data_check": " (data check)", "schema": " (schema)"}.get(o.kind, "")
            text = (f"{o.rule_id} {o.severity} {_rows(o.failing_rows)} in {o.subjects}{what}: "
                    f"{o.title}")
            if o.counts_columns:                                      # a row is a column
                n = o.failing_rows or 0
                cols = f"{n} column{'' if n == 1 else 's'} the rules need"
                text = (f"{o.rule_id} {o.severity} {o.table}: " +
                        (f"table not exported ({cols})" if o.message == TABLE_ABSENT
                         else f"{cols} not exported") + " (schema)")
            if self.at_or_above(o.severity, self.fail_on):
                out.append("FAIL " + text)
            else:
                later.append("warn " + text)
        for e in self.errors:
            out.append(f"ERROR {e}")
        for o in self.outcomes:
            if o.status == "error":
                out.append(f"ERROR {o.rule_id} {o.severity} {o.key} on {o.table}: {o.message}")
        for rid in self.unevaluated_musts:
            out.append(f"ERROR {rid} {self.rules[rid]['severity']} must be evaluated but is not "
                       f"evaluable: {self.missing(rid)}")
        for rid, status in self.rule_statuses().items():
            if status == "not_evaluable" and rid not in self.unevaluated_musts:
                why = ("allowed by --allow-not-evaluable" if rid in self.allowed
                       else "not a must-rule")
                later.append(f"NOT EVALUABLE {rid} {self.rules[rid]['severity']} ({why}): "
                             f"{self.missing(rid)}")
            elif status == "not_applicable":
                later.append(f"N/A {rid}: {self.rules[rid].get('not_applicable')}")
        return out + later

    def coverage(self) -> dict[str, int]:
        """Rules per verdict (the enabled and disabled rules of the policy)."""
        n = {s: 0 for s in ("passed", "failed", "not_evaluable", "not_applicable", "error",
                            "disabled")}
        for status in self.rule_statuses().values():
            n[status] += 1
        return n

    def summary(self) -> str:
        """``gate as of D: 25 rules: 19 passed, 4 failed, 2 not evaluable; 35 checks: ...``."""
        n = self.coverage()
        rules = [f"{len(self.rules)} rules: {n['passed']} passed", f"{n['failed']} failed"]
        for key, label in (("not_evaluable", "not evaluable"), ("not_applicable", "not applicable"),
                           ("error", "errors"), ("disabled", "disabled")):
            if n[key]:
                rules.append(f"{n[key]} {label}")
        checks = [o for o in self.outcomes if o.kind != "rule"]
        c = {s: sum(1 for o in checks if o.status == s) for s in ("passed", "failed")}
        parts = [", ".join(rules),
                 f"{len(checks)} data checks: {c['passed']} passed, {c['failed']} failed",
                 f"{len(self.blocking)} failing at or above {self.fail_on}"]
        if self.unevaluated_musts:
            parts.append(f"{len(self.unevaluated_musts)} must-rules not evaluable")
        errors = sum(1 for o in self.outcomes if o.status == "error") + len(self.errors)
        if errors:
            parts.append(f"{errors} errors")
        return f"gate as of {self.as_of_date}: " + "; ".join(parts) + f" -> exit {self.exit_code}"

    def to_dict(self) -> dict:
        """The results without any data values (safe to publish)."""
        return {"toolkit_version": __version__, "great_expectations": self.gx_version,
                "as_of": self.as_of.isoformat(), "as_of_date": self.as_of_date.isoformat(),
                "fail_on": self.fail_on, "exit_code": self.exit_code, "source": self.source,
                "policy_fingerprint": self.policy_fingerprint, "seconds": self.seconds,
                "summary": self.summary(), "coverage": self.coverage(),
                "rules": {rid: {**r, "status": self.rule_status(rid)}
                          for rid, r in self.rules.items()},
                "unevaluated_musts": self.unevaluated_musts, "allowed": self.allowed,
                "lines": self.lines(), "suites": self.suites, "errors": self.errors,
                "outcomes": [{k: v for k, v in o.__dict__.items()} for o in self.outcomes]}


#: the message of a failed DQ-003 column check whose table is not in the database at all
TABLE_ABSENT = "the table is not in the database"


def _rows(n: int | None) -> str:
    return f"{n} failing row" + ("" if n == 1 else "s")


def check_fail_on(fail_on: str) -> str:
    f = str(fail_on).strip().upper()
    if f not in SEVERITIES:
        raise PrivauditError(f"--fail-on {fail_on}: use one of {', '.join(SEVERITIES)}")
    return f


# ---------------------------------------------------------------- reading the suites

def read_suites(folder: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """(file name, suite JSON) of every ``*.json`` in ``folder``, and the problems met."""
    order = {a: i for i, a in enumerate(suites_mod.AREAS)}
    files = sorted(Path(folder).glob("*.json"), key=lambda p: (order.get(p.stem, len(order)), p.name))
    if not files:
        return [], [f"{folder}: no expectation suites (*.json); generate them: python -m toolkit.suites"]
    out, problems = [], []
    for p in files:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{p}: not a readable suite: {str(e).splitlines()[0]}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
            problems.append(f"{p}: not an expectation suite (no 'expectations' list)")
            continue
        out.append((str(p), data))
    return out, problems


def check_suite(where: str, suite: dict, fingerprint: str) -> list[str]:
    """Problems that stop a suite from running before GX is involved."""
    meta = (suite.get("meta") or {}).get("privaudit")
    if not isinstance(meta, dict):
        return [f"{where}: not a privaudit suite (no meta.privaudit)"]
    problems = []
    if meta.get("policy_fingerprint") != fingerprint:
        problems.append(f"{where}: generated from another policy than the one in use; "
                        f"regenerate: python -m toolkit.suites")
    from . import schema
    from .personal_data import AUDIT_TABLES
    for i, e in enumerate(suite["expectations"]):
        m = e.get("meta") if isinstance(e, dict) else None
        if not isinstance(m, dict):
            problems.append(f"{where}: expectation {i}: no meta")
            continue
        if m.get("severity") not in SEVERITIES:
            problems.append(f"{where}: expectation {i}: meta.severity {m.get('severity')!r} is not "
                            f"one of {', '.join(SEVERITIES)}")
        if m.get("batch") not in schema.TABLES_BY_NAME and m.get("batch") not in AUDIT_TABLES:
            problems.append(f"{where}: expectation {i}: meta.batch {m.get('batch')!r} is not a "
                            f"canonical table")
        if not m.get("rule_id") or not m.get("key"):
            problems.append(f"{where}: expectation {i}: meta.rule_id and meta.key are required")
    return problems


def render_placeholders(expectation: dict, as_of: datetime, as_of_date: date) -> dict:
    """The expectation with ``$as_of`` / ``$as_of_date`` in its query replaced by literals."""
    kwargs = dict(expectation.get("kwargs") or {})
    q = kwargs.get("unexpected_rows_query")
    if isinstance(q, str):
        rendered = suites_mod.render_sql(q, {"as_of": as_of, "as_of_date": as_of_date})
        kwargs["unexpected_rows_query"] = rendered
    return {**expectation, "kwargs": kwargs}


# ---------------------------------------------------------------- importing GX

@contextlib.contextmanager
def _main_with_a_file():
    """With PySpark 4 installed (the spark extra), importing Great Expectations imports
    ``pyspark.sql.connect``, whose dependency check ends the process (``sys.exit(0)``, taking
    it for a doctest run) when ``__main__`` has neither a file nor a spec (a pytest-xdist worker,
    ``python -c``, an embedding host) and grpc is not installed. Inside this block ``__main__``
    has a file, so the check raises the ImportError GX expects of a missing Spark Connect (GX
    then goes without it) instead of exiting."""
    import sys
    main = sys.modules.get("__main__")
    patch = (main is not None and getattr(main, "__spec__", None) is None
             and not hasattr(main, "__file__") and not hasattr(sys, "ps1"))
    if patch:
        main.__file__ = "<privaudit>"
    try:
        yield
    finally:
        if patch and getattr(main, "__file__", None) == "<privaudit>":
            del main.__file__


def import_gx():
    """``great_expectations``, imported safely wherever PySpark is installed (see
    :func:`_main_with_a_file`); every import of GX in the toolkit goes through this."""
    import sys
    if "great_expectations" not in sys.modules:
        with _main_with_a_file():
            import great_expectations  # noqa: F401
            import great_expectations.execution_engine.sqlalchemy_execution_engine  # noqa: F401
    import great_expectations as gx
    return gx


# ---------------------------------------------------------------- GX on DuckDB

class _DialectName(str):
    """A dialect name GX can list among its persisted-connection dialects (it reads ``.value``)."""

    @property
    def value(self) -> str:
        return str(self)


def enable_duckdb(gx_module=None) -> None:
    """Register DuckDB among GX's persisted-connection dialects (idempotent)."""
    try:
        import_gx()
        from great_expectations.execution_engine import sqlalchemy_execution_engine as see
    except ImportError as e:     # pragma: no cover - GX is a dependency
        raise GateError(f"great_expectations cannot be imported: {e}") from None
    current = getattr(see, "_PERSISTED_CONNECTION_DIALECTS", None)
    if not isinstance(current, tuple) or not hasattr(see, "_dialect_requires_persisted_connection"):
        raise GateError(f"great_expectations {_gx_version()}: its persisted-connection dialects "
                        "are gone; the gate's DuckDB workaround no longer applies (see toolkit/gate.py)")
    if not any(d == DUCKDB for d in current):
        see._PERSISTED_CONNECTION_DIALECTS = current + (_DialectName(DUCKDB),)


def _gx_version() -> str:
    try:
        return import_gx().__version__
    except Exception:     # pragma: no cover
        return "?"


@contextlib.contextmanager
def _quiet():
    """GX prints advice to stdout, logs to stderr and warns: none of it belongs in CI output."""
    gx_log = logging.getLogger("great_expectations")
    level, propagate = gx_log.level, gx_log.propagate
    gx_log.setLevel(logging.CRITICAL + 1)
    gx_log.propagate = False
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        gx_log.setLevel(level)
        gx_log.propagate = propagate


class DuckDBGX:
    """One ephemeral GX context with a SQL data source on one prepared DuckDB connection."""

    def __init__(self, con):
        import sqlalchemy as sa
        from duckdb_engine import ConnectionWrapper

        class _Shared(ConnectionWrapper):
            def close(self) -> None:      # the gate closes the connection, not SQLAlchemy
                pass

        enable_duckdb()
        gx = self.gx = import_gx()
        self.wrapper = _Shared(con)
        self.context = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:     # pragma: no cover - cosmetic only
            pass
        wrapper = self.wrapper
        self.datasource = self.context.data_sources.add_sql(
            "privaudit", connection_string="duckdb:///:memory:",
            kwargs={"creator": lambda: wrapper})
        engine = self.datasource.get_execution_engine()
        if not isinstance(engine.engine.pool, sa.pool.StaticPool):
            raise GateError(f"great_expectations {gx.__version__}: DuckDB is not given a persisted "
                            "connection; the gate's workaround no longer applies (see toolkit/gate.py)")
        if getattr(engine, "dialect_module", None) is None:
            engine.dialect_module = _DialectModule(type(engine.engine.dialect))
        self.engine = engine
        self.batches: dict[str, object] = {}

    def batch(self, table: str):
        if table not in self.batches:
            asset = self.datasource.add_query_asset(
                name=table, query=f'SELECT * FROM temp.main."{table}"')
            self.batches[table] = asset.add_batch_definition_whole_table("all").get_batch()
        return self.batches[table]

    def suite(self, name: str, expectations: list[dict]):
        return self.gx.ExpectationSuite(name=name, expectations=expectations)

    def close(self) -> None:
        try:
            self.engine.close()
        except Exception:     # pragma: no cover
            pass


class _DialectModule:
    """What GX expects of a dialect module: a ``dialect`` class (here duckdb-engine's)."""

    def __init__(self, dialect_cls):
        self.dialect = dialect_cls


def unknown_types(types: set[str]) -> set[str]:
    """The expectation types GX does not know (it would drop them silently)."""
    from great_expectations.expectations.registry import get_expectation_impl

    unknown = set()
    for t in types:
        try:
            get_expectation_impl(t)
        except Exception:
            unknown.add(t)
    return unknown


# ---------------------------------------------------------------- the gate

def allowed_rules(patterns: str | list[str] | None, pol: Policy) -> list[str]:
    """The policy's rules matched by ``--allow-not-evaluable`` patterns (``CKE-*,DSR-004``)."""
    import fnmatch

    if not patterns:
        return []
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    out = []
    for pat in patterns:
        hits = [rid for rid in pol.rules if fnmatch.fnmatchcase(rid, pat.upper())]
        if not hits:
            raise PrivauditError(f"--allow-not-evaluable {pat}: matches no rule of the policy")
        out.extend(h for h in hits if h not in out)
    return out


def gate(db: str | Path, as_of: str | date | datetime, policy: str | Path | Policy | None = None,
         fail_on: str = "S2", junit: str | Path | None = None, docs: str | Path | None = None,
         suites_dir: str | Path | None = None,
         allow_not_evaluable: str | list[str] | None = None) -> GateResult:
    """Run every suite against ``db`` as of ``as_of``; write JUnit XML and HTML when asked.

    Suites come from ``suites_dir``; by default from ``expectations/`` when no policy is given
    (they must have been generated from the default policy), else they are generated in memory
    from ``policy``. Raises :class:`PrivauditError` for unusable arguments (database not found,
    bad as_of, bad policy or fail_on); problems of the suites themselves give ``exit_code`` 2.

    The gate never passes on nothing: a rule the policy lists under ``gate.must`` that is not
    evaluable (its tables or columns are missing) gives exit 2, unless ``gate.not_applicable``
    gives a reason or ``allow_not_evaluable`` (rule ids or patterns) names it.
    """
    from .findings import parameters, parse_as_of, prepare
    from .database import connect
    from .rules import REGISTRY  # noqa: F401  (the rules register their macros on import)

    started = time.perf_counter()
    fail_on = check_fail_on(fail_on)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    as_of_ts, as_of_date = parse_as_of(as_of, pol.timezone)
    fingerprint = suites_mod.policy_fingerprint(pol)
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")

    # the suites: files, or generated from the policy
    errors: list[str] = []
    if suites_dir is not None or (policy is None and suites_mod.SUITES_DIR.is_dir()):
        folder = Path(suites_dir) if suites_dir is not None else suites_mod.SUITES_DIR
        loaded, errors = read_suites(folder)
        source = str(folder)
    else:
        loaded = [(f"{suites_mod.SUITE_PREFIX}{a} (generated)", s)
                  for a, s in suites_mod.build_suites(pol).items()]
        source = "generated from the policy"
    runnable = []
    for where, suite in loaded:
        problems = check_suite(where, suite, fingerprint)
        errors.extend(problems)
        if not problems:
            runnable.append((where, suite))
    result = GateResult(as_of_ts, as_of_date, fail_on, [], errors, {}, source, fingerprint,
                        allowed=allowed_rules(allow_not_evaluable, pol))
    result.rules = {rid: {"title": spec.title, "severity": spec.severity, "clause": spec.clause,
                          "enabled": spec.enabled, "must": rid in pol.gate.must,
                          "not_applicable": pol.gate.not_applicable.get(rid)}
                    for rid, spec in pol.rules.items()}

    con = connect(db, read_only=True, timezone=pol.timezone,
                  retention_days=pol.auditor.retention_days)
    gxr = None
    try:
        try:
            present = prepare(con, pol, as_of_ts)
        except Exception as e:
            result.errors.append(f"{db}: cannot prepare the audit views: {_first_line(e)}")
            runnable = []
        setup = _SetUp(con, parameters(pol, as_of_ts, as_of_date), pol)
        # rule set-ups (the free-text scan's temp tables) run before GX shares the connection:
        # GX leaves a transaction open and rolls it back when it makes a batch, undoing them
        rows = _RuleRows(con)
        for _, suite in runnable:
            for e in suite["expectations"]:
                spec = pol.rules.get(e["meta"]["rule_id"])
                if spec is None or spec.enabled:
                    if setup(e["meta"]["rule_id"]) is None:
                        rows.prepare(e, present, as_of_ts, as_of_date)
        rows.run()
        with _quiet():
            # an audit of personal data does not report usage to anyone (nor could it: no network)
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            gx = import_gx()
            result.gx_version = gx.__version__
            try:
                gxr = DuckDBGX(con)
            except GateError as e:
                result.errors.append(str(e))
            except Exception as e:
                result.errors.append(f"great_expectations {gx.__version__} cannot run on DuckDB: "
                                     f"{_first_line(e)}")
            if gxr is not None:
                _run_suites(gxr, runnable, pol, present, setup, as_of_ts, as_of_date, result, rows)
    finally:
        if gxr is not None:
            gxr.close()
        con.close()
    _excuse_schema_checks(result)
    result.seconds = round(time.perf_counter() - started, 3)
    if junit is not None:
        result.junit = write_junit(result, Path(junit))
    if docs is not None:
        result.docs = write_docs(result, Path(docs))
    return result


def _excuse_schema_checks(result: GateResult) -> None:
    """A DQ-003 check of a table that only excused rules need (not applicable, allowed or
    disabled) does not fail the gate: it is not applicable either."""
    excused = {rid for rid, r in result.rules.items() if r.get("not_applicable")}
    excused |= set(result.allowed)
    excused |= {o.rule_id for o in result.outcomes if o.status == "disabled"}
    for o in result.outcomes:
        if o.kind == "schema" and o.status == "failed" and o.used_by \
                and set(o.used_by) <= excused:
            o.status = "not_applicable"
            o.message = (f"needed only by rules not applicable or allowed here: "
                         f"{', '.join(o.used_by)}")


def _first_line(e: BaseException | str) -> str:
    """An error's first line, with quoted literals and anything that looks personal masked
    (a DuckDB conversion error quotes the value it could not convert)."""
    from .masking import scrub

    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    line = re.sub(r"'[^']*'", "'…'", line)
    return scrub(line)[:500]


def _raised(exc: dict | None) -> str | None:
    """The message of an exception GX caught, wherever in ``exception_info`` it sits."""
    if not exc:
        return None
    if exc.get("raised_exception"):
        return str(exc.get("exception_message") or "error")
    for v in exc.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message") or "error")
    return None


class _SetUp:
    """Runs a rule's setup statements (``Rule.setup``, e.g. the free-text candidate scan) once
    on the gate's connection, bound with the policy's parameters as the audit does."""

    def __init__(self, con, params: dict, policy: Policy):
        self.con, self.params, self.policy = con, params, policy
        self.done: dict[str, str | None] = {}

    def __call__(self, rule_id: str) -> str | None:
        """None when the rule's setup ran (or it has none), else the error."""
        from .findings import bind
        from .rules import REGISTRY

        rule = REGISTRY.get(rule_id)
        if rule is None or rule.setup is None:
            return None
        for stmt in rule.setup(self.policy):
            if stmt not in self.done:
                try:
                    self.con.execute(stmt, bind(stmt, self.params))
                    self.done[stmt] = None
                except Exception as e:
                    self.done[stmt] = f"setup of {rule_id} failed: {_first_line(e)}"
            if self.done[stmt]:
                return self.done[stmt]
        return None


# rule queries are run once each, before Great Expectations gets the connection (see _RuleRows)
MATERIALISE = True


class _RuleRows:
    """Each rule query of the suites run once, its failing rows kept in a temporary table.

    Great Expectations answers an ``unexpected_rows_expectation`` with two metrics, each its own
    run of the query: the rows (up to its sample size) and ``COUNT(*)`` of them. Run once here
    into a temporary table (before GX shares the connection: it rolls back what it finds open),
    GX is handed ``SELECT * FROM`` that table: the same rows, the same count, half the work. A
    query that fails here is left to GX as it is, so its error is reported as before; a query
    with GX's ``{batch}`` placeholder is left to GX too.

    A rule split into severity parts (``toolkit.suites.severity_parts``: SHR-002, SHR-003,
    SHR-008, TRN-001, TRN-002) has one query per part around the same rule query; that rule
    query runs once, into a table of its own, and each part selects its rows from it.
    """

    #: the shape of ``toolkit.suites.rule_query``: the rule's own query, then the part's filter
    SHAPE = re.compile(r"SELECT v\.subject_id\nFROM \(\n(?P<body>.*)\n\) AS v(?P<where>\nWHERE .*)?",
                       re.DOTALL)

    def __init__(self, con):
        self.con = con
        self.tables: dict[str, str | None] = {}     # rendered query -> temp table (None: GX runs it)
        self.pending: list[tuple[str, str]] = []    # (rendered query, its SQL) to run

    def prepare(self, expectation: dict, present: dict, as_of: datetime, as_of_date: date) -> None:
        from .findings import missing_needs
        from .rules import Rule

        if not MATERIALISE or expectation.get("type") != "unexpected_rows_expectation":
            return
        meta = expectation["meta"]
        needs = {t: tuple(c) for t, c in (meta.get("needs") or {}).items()}
        if missing_needs(Rule(meta["rule_id"], meta["batch"], needs, sql=lambda p: ""), present):
            return
        try:
            query = render_placeholders(expectation, as_of, as_of_date)["kwargs"]["unexpected_rows_query"]
        except PrivauditError:
            return
        if not isinstance(query, str) or query in self.tables:
            return
        self.tables[query] = None
        try:
            sql = query.format()          # GX's own substitution: {{ }} become braces
        except (KeyError, IndexError, ValueError):
            return                        # {batch} or another placeholder: GX substitutes it
        self.pending.append((query, sql))

    def run(self) -> None:
        """Run the prepared queries (a rule query shared by parts once)."""
        shapes = [self.SHAPE.fullmatch(sql) for _, sql in self.pending]
        uses: dict[str, int] = {}
        for m in shapes:
            if m is not None:
                uses[m["body"]] = uses.get(m["body"], 0) + 1
        shared: dict[str, str | None] = {}
        for i, ((query, sql), m) in enumerate(zip(self.pending, shapes), 1):
            if m is not None and uses[m["body"]] > 1:
                body = m["body"]
                if body not in shared:
                    shared[body] = self._create(f"gate_rule_query_{len(shared) + 1}", body)
                if shared[body] is not None:
                    sql = f'SELECT v.subject_id\nFROM temp.main."{shared[body]}" AS v{m["where"] or ""}'
            self.tables[query] = self._create(f"gate_rule_rows_{i}", sql)
        self.pending = []

    def _create(self, name: str, sql: str) -> str | None:
        try:
            self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        except Exception:
            return None
        return name

    def substitute(self, expectation: dict) -> dict:
        kwargs = expectation.get("kwargs") or {}
        name = self.tables.get(kwargs.get("unexpected_rows_query"))
        if name is None:
            return expectation
        return {**expectation, "kwargs": {**kwargs,
                                          "unexpected_rows_query": f'SELECT * FROM temp.main."{name}"'}}


def _outcome(suite_name: str, e: dict) -> Outcome:
    m = e["meta"]
    return Outcome(suite=suite_name, key=m["key"], expectation_type=str(e.get("type")),
                   rule_id=m["rule_id"], severity=m["severity"], kind=m.get("kind", "rule"),
                   agrees_with_audit=bool(m.get("agrees_with_audit")), table=m["batch"],
                   title=m.get("check") or m.get("title", ""), clause=m.get("clause", "") or "",
                   notes=e.get("notes") or "", subjects=m.get("subjects") or m["batch"],
                   used_by=list(m.get("used_by") or []))


# one Great Expectations validation per table, whatever suites its expectations come from
ONE_BATCH_PER_TABLE = True


@dataclass
class _Group:
    """The loaded expectations of one suite on one table, waiting for their validation."""

    suite: str
    table: str
    items: list[tuple[Outcome, dict]]
    info: dict


def _run_suites(gxr: DuckDBGX, runnable: list[tuple[str, dict]], pol: Policy, present: dict,
                setup, as_of: datetime, as_of_date: date, result: GateResult,
                rows: "_RuleRows | None" = None) -> None:
    """Every suite's expectations, validated by Great Expectations in one batch per table.

    GX's cost is per validation (building the batch's metric graph, pydantic models, its
    context's configuration written out): one validation of a table's expectations from all
    suites instead of one per suite and table. Outcomes are recorded per expectation (by its
    ``meta.key``), so they do not depend on how expectations are grouped (``tests/test_gate.py``
    compares it with one validation per suite and table, ``ONE_BATCH_PER_TABLE = False``)."""
    groups: list[_Group] = []
    for where, suite in runnable:
        t0 = time.perf_counter()
        try:
            groups += _plan_suite(gxr, where, suite, pol, present, setup, as_of, as_of_date,
                                  result, rows)
        except Exception as e:     # never a bare traceback: the suite cannot run
            result.errors.append(f"{where}: cannot run: {_first_line(e)}")
        name = str(suite.get("name") or Path(where).stem)
        if name in result.suites:
            result.suites[name]["seconds"] = round(time.perf_counter() - t0, 3)
    batches: dict[str, list[list[_Group]]] = {}
    for g in groups:
        runs = batches.setdefault(g.table, [])
        keys = {o.key for o, _ in g.items}
        if ONE_BATCH_PER_TABLE and runs and not keys & {o.key for x in runs[0] for o, _ in x.items}:
            runs[0].append(g)
        else:                       # a key repeated across suites: validated on its own
            runs.append([g])
    for table, runs in batches.items():
        for run_groups in runs:
            t0 = time.perf_counter()
            _validate(gxr, table, run_groups, present)
            spent = time.perf_counter() - t0
            n = sum(len(g.items) for g in run_groups)
            for g in run_groups:       # the validation's time, shared by expectation count
                g.info["seconds"] = round(g.info["seconds"] + spent * len(g.items) / n, 3)


def _plan_suite(gxr: DuckDBGX, where: str, suite: dict, pol: Policy, present: dict, setup,
                as_of: datetime, as_of_date: date, result: GateResult,
                rows: "_RuleRows | None" = None) -> list[_Group]:
    """A suite's outcomes (recorded in ``result``) and its loaded expectations per table."""
    from .findings import missing_needs
    from .rules import REGISTRY, Rule

    name = str(suite.get("name") or Path(where).stem)
    expectations = suite["expectations"]
    info = {"file": where, "in_json": len(expectations), "loaded": 0, "seconds": 0.0}
    result.suites[name] = info

    unknown = unknown_types({str(e.get("type")) for e in expectations})
    if unknown:
        result.errors.append(f"{where}: unknown expectation type(s) {', '.join(sorted(unknown))} "
                             f"(great_expectations {gxr.gx.__version__} would drop them silently)")
        return []

    # which expectations run, grouped by the table they run on
    groups: dict[str, list[tuple[Outcome, dict]]] = {}
    outcomes = []
    for e in expectations:
        o = _outcome(name, e)
        outcomes.append(o)
        spec = pol.rules.get(o.rule_id)
        needs = {t: tuple(c) for t, c in (e["meta"].get("needs") or {}).items()}
        rule = REGISTRY.get(o.rule_id) if o.kind == "rule" else None
        missing = missing_needs(Rule(o.rule_id, o.table, needs, sql=lambda p: "",
                                     needs_any=rule.needs_any if rule else None), present)
        if spec is not None and not spec.enabled:
            o.status, o.message = "disabled", "disabled in the policy"
        elif missing and o.rule_id in pol.gate.not_applicable:
            o.status = "not_applicable"
            o.message = (f"not applicable: {pol.gate.not_applicable[o.rule_id]} (missing "
                         f"{', '.join(missing)})")
        elif missing:
            o.status, o.message = "not_evaluable", "missing " + ", ".join(missing)
        elif (failure := setup(o.rule_id)) is not None:
            o.status, o.message = "error", failure
        else:
            try:
                rendered = render_placeholders(e, as_of, as_of_date)
                if rows is not None:
                    rendered = rows.substitute(rendered)
            except PrivauditError as err:
                o.status, o.message = "error", str(err)
                continue
            groups.setdefault(o.table, []).append((o, rendered))
    result.outcomes.extend(outcomes)

    planned = []
    for table, items in groups.items():
        dicts = [d for _, d in items]
        try:
            gx_suite = gxr.suite(f"{name}:{table}", dicts)
        except Exception as err:
            result.errors.append(f"{where}: the expectations on {table} cannot be loaded: "
                                 f"{_first_line(err)}")
            for o, _ in items:
                o.status, o.message = "error", "suite cannot be loaded"
            continue
        info["loaded"] += len(gx_suite.expectations)
        if len(gx_suite.expectations) != len(dicts):
            result.errors.append(f"{where}: {len(dicts)} expectations on {table} in the JSON, "
                                 f"{len(gx_suite.expectations)} loaded by great_expectations")
            for o, _ in items:
                o.status, o.message = "error", "not every expectation was loaded"
            continue
        planned.append(_Group(name, table, items, info))
    return planned


def _validate(gxr: DuckDBGX, table: str, groups: list[_Group], present: dict) -> None:
    """One GX validation of the expectations of ``groups`` (all on ``table``); their outcomes."""
    items = [it for g in groups for it in g.items]
    try:
        gx_suite = gxr.suite(f"{'+'.join(g.suite for g in groups)}:{table}", [d for _, d in items])
        if len(gx_suite.expectations) != len(items):     # loaded one by one just before
            raise GateError(f"{len(items)} expectations, {len(gx_suite.expectations)} loaded")
        run = gxr.batch(table).validate(gx_suite, result_format=RESULT_FORMAT)
    except Exception as err:
        for o, _ in items:
            o.status, o.message = "error", _first_line(err)
        return
    by_key = {o.key: o for o, _ in items}
    seen = set()
    for r in run.results:
        key = (r.expectation_config.meta or {}).get("key")
        o = by_key.get(key)
        if o is None:
            continue
        seen.add(key)
        raised = _raised(r.exception_info)
        if raised is not None:
            o.status, o.message = "error", _first_line(raised)
            continue
        res = r.result or {}
        if o.expectation_type == "unexpected_rows_expectation":
            count = res.get("observed_value")
        else:
            count = res.get("unexpected_count")
            if count is None and res.get("element_count") == 0:
                count = 0           # GX reports no count on an empty table
        if not isinstance(count, int):
            o.status, o.message = "error", "great_expectations returned no failing-row count"
            continue
        o.failing_rows = int(count)
        o.status = "passed" if r.success else "failed"
        if r.success and count:      # success with failing rows would be a mostly= threshold
            o.message = f"{count} failing rows within the expectation's tolerance"
    for o, _ in items:
        if o.key not in seen:
            o.status, o.message = "error", "no result from great_expectations"
        elif (o.kind == "schema" and o.key == f"DQ-003:{o.table}" and o.status == "failed"
              and o.table not in present):
            o.message = TABLE_ABSENT


# ---------------------------------------------------------------- JUnit and HTML

def write_junit(result: GateResult, path: Path) -> Path:
    """JUnit XML: one testsuite per suite, one testcase per expectation; a ``failure`` for each
    failed expectation at or above fail_on (with its failing-row count), an ``error`` for each
    expectation or suite that could not run and for each rule expectation that is not evaluable
    (nothing was checked); ``skipped`` only for what the policy excuses (not applicable, with its
    reason; disabled), ``--allow-not-evaluable`` and data checks whose table is missing (the
    table's own check fails). Failed expectations below fail_on pass, with the count in
    ``system-out``."""
    root = ET.Element("testsuites", name="privaudit gate")
    by_suite: dict[str, list[Outcome]] = {}
    for o in result.outcomes:
        by_suite.setdefault(o.suite, []).append(o)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for name, outs in by_suite.items():
        s = ET.SubElement(root, "testsuite", name=name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for o in outs:
            counts["tests"] += 1
            tc = ET.SubElement(s, "testcase", classname=f"{name}.{o.table}",
                               name=f"{o.key} {o.expectation_type}")
            tc.set("time", "0")
            props = ET.SubElement(tc, "properties")
            for k, v in (("rule_id", o.rule_id), ("severity", o.severity), ("kind", o.kind),
                         ("failing_rows", "" if o.failing_rows is None else str(o.failing_rows)),
                         # what the count counts: a DQ-003 column check counts missing columns
                         ("counts", "columns" if o.counts_columns else "rows")):
                ET.SubElement(props, "property", name=k, value=v)
            if o.status == "failed" and result.at_or_above(o.severity, result.fail_on):
                counts["failures"] += 1
                f = ET.SubElement(tc, "failure", type=o.severity,
                                  message=f"{o.rule_id} {o.severity}: {o.failing}")
                f.text = f"{o.title}\n{o.notes}"
            elif o.status == "failed":
                out = ET.SubElement(tc, "system-out")
                out.text = (f"{o.rule_id} {o.severity}: {o.failing} "
                            f"(below --fail-on {result.fail_on})")
            elif o.status == "error":
                counts["errors"] += 1
                ET.SubElement(tc, "error", message=o.message or "error")
            elif o.status == "not_evaluable" and o.kind == "rule" and not result.excused(o):
                counts["errors"] += 1
                must = "must-rule " if (result.rules.get(o.rule_id) or {}).get("must") else ""
                ET.SubElement(tc, "error", type="not_evaluable",
                              message=f"{must}{o.rule_id} not evaluable: {o.message}")
            elif o.status in ("not_evaluable", "not_applicable", "disabled"):
                counts["skipped"] += 1
                why = o.message or o.status
                if o.status == "not_evaluable" and o.rule_id in result.allowed:
                    why = f"allowed by --allow-not-evaluable: {why}"
                ET.SubElement(tc, "skipped", message=why)
        for k, v in counts.items():
            s.set(k, str(v))
            totals[k] += v
        s.set("time", str((result.suites.get(name) or {}).get("seconds", 0)))
    if result.errors:
        s = ET.SubElement(root, "testsuite", name="privaudit.suites", tests=str(len(result.errors)),
                          failures="0", errors=str(len(result.errors)), skipped="0")
        for i, e in enumerate(result.errors, 1):
            tc = ET.SubElement(s, "testcase", classname="privaudit.suites", name=f"suite problem {i}")
            ET.SubElement(tc, "error", message=e)
        totals["tests"] += len(result.errors)
        totals["errors"] += len(result.errors)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", str(result.seconds))
    outputs.private_dir(path.parent)
    with outputs.open_private(path, "wb") as f:
        ET.ElementTree(root).write(f, encoding="utf-8", xml_declaration=True)
    return path


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1b1b}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.passed{color:#1a7f37}.failed{color:#b42318;font-weight:600}
.warn{color:#9a6700}.error{color:#b42318}.skip{color:#666}
.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.85rem}
.summary{padding:.6rem .8rem;background:#f4f4f4;border-left:4px solid #888}
.summary.failed,.summary.error{border-left-color:#b42318}.summary.passed{border-left-color:#1a7f37}
table.cov{width:auto}nav{font-size:.9rem;margin-bottom:1rem}
"""


#: the gate page's order: what needs attention first
_ORDER = {"error": 0, "failed": 1, "not_evaluable": 2, "warn": 3, "skipped": 4, "passed": 5}


def write_docs(result: GateResult, folder: Path) -> Path:
    """The gate's own Data Docs: ``index.html`` (self-contained: inline CSS, no scripts, nothing
    loaded from the internet) and ``gate.json``. Failures first: errors and must-rules not
    evaluated, failures at or above fail_on, then the rest. Only rule ids, titles, severities,
    statuses and counts are shown: never a data value."""
    outputs.private_dir(folder)
    esc = html.escape
    rows = []
    for o in result.outcomes:
        if o.status == "failed":
            blocking = result.at_or_above(o.severity, result.fail_on)
            key, cls = ("failed", "failed") if blocking else ("warn", "warn")
            label = "failed" if blocking else f"failed (below {result.fail_on})"
        elif o.status == "not_evaluable" and o.kind == "rule" and not result.excused(o):
            must = (result.rules.get(o.rule_id) or {}).get("must")
            key, cls = ("error", "error") if must and o.rule_id in result.unevaluated_musts \
                else ("not_evaluable", "error")
            label = "not evaluable (must-rule)" if must else "not evaluable"
        elif o.status == "not_evaluable" and o.rule_id in result.allowed:
            key, cls, label = "skipped", "skip", "not evaluable (allowed)"
        else:
            key = o.status if o.status in ("passed", "error") else "skipped"
            cls = {"passed": "passed", "error": "error"}.get(o.status, "skip")
            label = o.status.replace("_", " ")
        count = "" if o.failing_rows is None else (
            f"{o.failing_rows} column{'' if o.failing_rows == 1 else 's'}" if o.counts_columns
            else str(o.failing_rows))
        rows.append((_ORDER.get(key, 9), SEVERITIES.index(o.severity), o.suite, o.key,
            f"<tr><td>{esc(o.rule_id)}</td><td>{esc(o.severity)}</td><td>{esc(o.kind)}"
            f"{' (agrees with audit)' if o.agrees_with_audit else ''}</td><td>{esc(o.table)}</td>"
            f"<td>{esc(o.title)}</td><td><code>{esc(o.expectation_type)}</code></td>"
            f"<td>{esc(o.suite)}</td><td class=\"{cls}\">{esc(label)}</td>"
            f"<td class=\"num\">{esc(count)}</td><td>{esc(o.message)}</td></tr>"))
    rows.sort(key=lambda r: r[:4])
    cov = result.coverage()
    cls = {0: "passed", 1: "failed"}.get(result.exit_code, "error")
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>privaudit gate {esc(result.as_of_date.isoformat())}</title>",
        f"<style>{_CSS}</style></head><body>",
        # in a report's folder (OUT/gate, as `privaudit run` writes it): a link to its front page
        "<nav><a href=\"../index.html\">&larr; Audit report (front page)</a></nav>"
        if folder.name == "gate" else "",
        f"<h1>privaudit data-quality gate, as of {esc(result.as_of_date.isoformat())}</h1>",
        f"<p class=\"summary {cls}\">exit {result.exit_code}: {esc(result.summary())}</p>",
        "<table class=\"cov\"><tr>" + "".join(
            f"<th>{esc(k.replace('_', ' '))}</th>" for k in cov) + "</tr><tr>" + "".join(
            f"<td class=\"num\">{v}</td>" for v in cov.values()) + "</tr></table>",
        f"<p>Suites: {esc(result.source)}. Great Expectations {esc(result.gx_version)}, "
        f"privaudit {esc(__version__)}. Counts are failing rows (all of them), except for a "
        f"table's column check (DQ-003), which counts the columns the rules need that the export "
        f"lacks; no data values are shown. Exit codes: 0 nothing at or above {esc(result.fail_on)} failed, 1 something "
        f"did, 2 a suite could not run or a must-rule could not be evaluated.</p>",
    ]
    if result.errors or result.unevaluated_musts:
        parts.append("<h2>Could not run</h2><ul>")
        parts.extend(f"<li class=\"error\">{esc(e)}</li>" for e in result.errors)
        parts.extend(f"<li class=\"error\">{esc(rid)} must be evaluated but is not evaluable: "
                     f"{esc(result.missing(rid))}</li>" for rid in result.unevaluated_musts)
        parts.append("</ul>")
    head = ("<tr><th>rule</th><th>severity</th><th>kind</th><th>table</th><th>title</th>"
            "<th>expectation</th><th>suite</th><th>status</th><th>failing</th>"
            "<th>note</th></tr>")
    parts.append(f"<h2>Expectations, failures first</h2><table>{head}"
                 f"{''.join(r[-1] for r in rows)}</table>")
    parts.append("</body></html>\n")
    page = folder / "index.html"
    outputs.write_text(page, "\n".join(p for p in parts if p))
    outputs.write_text(folder / "gate.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return page
