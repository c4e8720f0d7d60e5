"""Running the rules and writing their findings (contract section 6).

``audit(db, as_of)`` evaluates every enabled rule of the policy against the loaded database:

1. the date macros (``toolkit.dates``) and the rule families' shared macros are installed;
2. every canonical table is made visible as a view holding all schema columns (absent optional
   columns as NULL, absent tables empty) and only the rows dated at or before ``as_of``; the
   extra columns kept from the exports are profiled for personal data (``toolkit.personal_data``);
3. each rule's needs are checked against the real tables (``not_evaluable`` with what is
   missing: DQ-003), and its query runs with the policy values and ``as_of`` bound as parameters;
   one rule's error is reported (status ``error``) and does not stop the others;
4. evidence, subject and customer ids and error messages are masked (``toolkit.masking``) and
   the findings are written to ``--out`` (owner-only, spreadsheet-safe: ``toolkit.outputs``)
   (``findings.parquet``, ``findings.csv``, ``rules.csv``, ``manifest.json``) and to the database
   (``findings``, ``rule_results`` and ``runs``, keyed by ``run_id``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime
from pathlib import Path
from typing import Callable
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import duckdb

from . import cookies, dates, minimise, outputs, personal_data, schema
from .exceptions import PrivauditError, UnusableInputError
from .database import memory_limit
from .ingest import connect
from .masking import evidence_json, evidence_text, mask_evidence, masker
from .policy import Policy, load_policy
from .provenance import versions
from . import rules
from .rules import REGISTRY, Rule, select
from .rules import cookies as rules_cookies

FINDING_COLUMNS = ["run_id", "as_of", "rule_id", "severity", "subject_table", "subject_id",
                   "customer_id", "evidence", "details", "due_date", "days_overdue"]


def FINDINGS_ARROW():
    """The Arrow schema of the findings rows (due_date a date, days_overdue an integer)."""
    import pyarrow as pa
    return pa.schema([(c, pa.date32() if c == "due_date" else pa.int64() if c == "days_overdue"
                       else pa.string()) for c in FINDING_COLUMNS])


RULE_COLUMNS = ["rule_id", "title", "severity", "status", "population", "violations", "excluded",
                "missing", "error", "clause", "basis", "seconds"]


RESULTS_DDL = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR, started_at TIMESTAMPTZ, as_of TIMESTAMPTZ, as_of_date DATE,
        policy VARCHAR, policy_sha256 VARCHAR, toolkit_version VARCHAR, rules VARCHAR[],
        findings BIGINT, seconds DOUBLE, revealed BOOLEAN)""",
    # the software that made the run (toolkit.provenance); added to databases made before
    *(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {key}_version VARCHAR"
      for key in ("duckdb", "great_expectations", "pandas", "python")),
    """CREATE TABLE IF NOT EXISTS rule_results (
        run_id VARCHAR, as_of_date DATE, rule_id VARCHAR, title VARCHAR, severity VARCHAR,
        status VARCHAR, population BIGINT, violations BIGINT, excluded BIGINT, missing VARCHAR,
        error VARCHAR, seconds DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS findings (
        run_id VARCHAR, as_of TIMESTAMPTZ, rule_id VARCHAR, severity VARCHAR,
        subject_table VARCHAR, subject_id VARCHAR, customer_id VARCHAR, evidence VARCHAR,
        details VARCHAR, due_date DATE, days_overdue INTEGER)""",
)


@dataclass
class RuleResult:
    rule_id: str
    title: str
    severity: str
    status: str                 # evaluated | not_evaluable | error | disabled
    population: int | None = None
    violations: int = 0
    excluded: int = 0
    missing: str = ""
    error: str = ""
    clause: str = ""
    basis: str = ""
    seconds: float = 0.0


class FindingsFile(Sequence):
    """The findings of a run that an engine wrote to ``findings.parquet`` itself (Spark: its
    executors masked and wrote them; nothing was collected to the driver). ``len()`` reads the
    file's footer; the rows (dicts as :attr:`AuditResult.findings` holds them) are read from the
    file when first asked for. ``keep``: an object to hold on to as long as this (a temporary
    folder's finalizer)."""

    def __init__(self, path: Path, keep=None):
        self.path = Path(path)
        self._keep = keep
        self._rows: list[dict] | None = None

    def __len__(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        import pyarrow.parquet as pq
        return pq.ParquetFile(self.path).metadata.num_rows

    def _load(self) -> list[dict]:
        if self._rows is None:
            import pyarrow.parquet as pq
            rows = pq.read_table(self.path).to_pylist()
            for r in rows:
                if r["due_date"] is not None:
                    r["due_date"] = date.fromisoformat(r["due_date"])
            self._rows = rows
        return self._rows

    def __getitem__(self, i):
        return self._load()[i]

    def __iter__(self):
        return iter(self._load())


@dataclass
class AuditResult:
    run_id: str
    as_of: datetime
    as_of_date: date
    policy: Policy
    rules: list[RuleResult]
    findings: list[dict]
    out_dir: Path | None
    seconds: float
    revealed: bool = False
    table_rows: dict[str, int] = field(default_factory=dict)
    # privaudit, DuckDB, Great Expectations, pandas and Python versions (toolkit.provenance)
    software: dict[str, str] = field(default_factory=versions)
    # cookie observations by where their category came from (declared, policy pattern, Open
    # Cookie Database, unclassified), when a cookie rule ran
    cookie_categories: dict[str, int] = field(default_factory=dict)
    engine: str = "duckdb"          # duckdb | spark (toolkit.spark)
    minimised: bool = False         # the database was loaded with --minimise (toolkit.minimise)

    @property
    def errors(self) -> list[RuleResult]:
        return [r for r in self.rules if r.status == "error"]

    def findings_frame(self):
        import pandas as pd
        return pd.DataFrame(self.findings, columns=FINDING_COLUMNS)

    def findings_arrow(self):
        """The findings as an Arrow table (what DuckDB stores and writes: no pandas on the way)."""
        import pyarrow as pa
        return pa.Table.from_pylist(list(self.findings), schema=FINDINGS_ARROW())

    def rules_frame(self):
        import pandas as pd
        return pd.DataFrame([r.__dict__ for r in self.rules], columns=RULE_COLUMNS)


# ---------------------------------------------------------------- as_of and parameters

def parse_as_of(value: str | date | datetime, tz: str = "Europe/Amsterdam") -> tuple[datetime, date]:
    """The audit moment and its civil date. A date means the end of that day in ``tz``."""
    zone = ZoneInfo(tz)
    if isinstance(value, str):
        v = value.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                value = date.fromisoformat(v)
            else:
                value = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise PrivauditError(f"--as-of: {value!r} is not a date (YYYY-MM-DD) or ISO timestamp") \
                from None
    if isinstance(value, datetime):
        ts = value if value.tzinfo else value.replace(tzinfo=zone)
        return ts, ts.astimezone(zone).date()
    ts = datetime.combine(value, dtime(23, 59, 59, 999999), tzinfo=zone)
    return ts, value


def parameters(policy: Policy, as_of: datetime, as_of_date: date) -> dict:
    """Every value a rule may bind, by name (``$name`` in its SQL)."""
    r, n, s, d, c = policy.retention, policy.newsletters, policy.sharing, policy.dsr, policy.cookies
    tr = policy.transparency
    return {
        "as_of": as_of, "as_of_date": as_of_date,
        "inactivity_months": r.inactivity_months, "grace_days": r.grace_days,
        "human_origins": list(r.human_visit_origins), "fiscal_years": r.fiscal_years,
        "fy_end": r.fiscal_year_end, "oss_registered": r.oss_registered, "oss_years": r.oss_years,
        "unsubscribe_grace_days": n.unsubscribe_grace_days,
        "opt_in_actions": list(n.opt_in_actions), "opt_out_actions": list(n.opt_out_actions),
        "invalid_consent_methods": list(n.invalid_consent_methods),
        "unusable_consent_methods": n.unusable_methods,
        "stop_request_types": list(n.stop_request_types),
        "seller_window_days": s.seller_window_days, "deny_fields": list(s.deny_fields),
        "deny_exempt_categories": list(s.deny_exempt_categories),
        "research_agency_fields": list(s.research_agency_fields),
        "eea_countries": list(s.eea_countries),
        "first_party_domains": list(policy.first_party_domains),
        "allowed_cookie_categories": list(c.allowed_categories),
        "no_consent_states": list(c.no_consent_states),
        "session_only": c.session_only, "first_party_only": c.first_party_only,
        "dsr_deadline_months": d.deadline_months, "dsr_extension_months": d.extension_months,
        "dsr_roll": d.roll_to_working_day,
        "statement_date": policy.statement.date,
        "disclosed_data_categories": list(tr.disclosed_data_categories or []) if tr else [],
        "disclosed_recipient_categories": list(tr.disclosed_recipient_categories) if tr else [],
        "disclosed_countries": list(tr.disclosed_countries) if tr else [],
        "described_processing": list(tr.described_processing) if tr else [],
    }


PARAM_RE = re.compile(r"\$([a-z_][a-z0-9_]*)")


def bind(sql: str, params: dict) -> dict:
    """The parameters ``sql`` refers to (DuckDB refuses unused named parameters)."""
    names = set(PARAM_RE.findall(sql))
    unknown = names - params.keys()
    if unknown:
        raise PrivauditError(f"query uses unknown parameters: {', '.join(sorted(unknown))}")
    return {k: params[k] for k in names}


# ---------------------------------------------------------------- the visible tables

def existing_columns(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, set[str]]:
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_catalog = $1 AND table_schema = 'main'", [catalog]).fetchall()
    out: dict[str, set[str]] = {}
    for t, c in rows:
        out.setdefault(t, set()).add(c)
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def prepare(con: duckdb.DuckDBPyConnection, policy: Policy, as_of: datetime) -> dict[str, set[str]]:
    """Install macros and the as_of-limited views of every canonical table; return what exists."""
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    present = existing_columns(con, catalog)
    con.execute("CREATE OR REPLACE TEMP TABLE audit_params (as_of TIMESTAMPTZ)")
    con.execute("INSERT INTO audit_params VALUES ($1)", [as_of])
    # the tables the database really has (a rule may ask, TRN-003: the views exist for them all)
    con.execute("CREATE OR REPLACE TEMP TABLE audit_tables AS SELECT unnest($names::VARCHAR[]) "
                "AS table_name", {"names": sorted(present)})
    for t in schema.TABLES:
        cols = present.get(t.name)
        select_list = ", ".join(
            (f"x.{_quote(c.name)}" if cols and c.name in cols else f"CAST(NULL AS {c.type})")
            + f" AS {_quote(c.name)}" for c in t.columns)
        if cols is None:
            body = f"SELECT {select_list} WHERE false"
        else:
            body = f"SELECT {select_list} FROM {_quote(catalog)}.main.{_quote(t.name)} x"
            if t.event_time and t.event_time in cols:
                body += (f" WHERE x.{_quote(t.event_time)} IS NULL OR x.{_quote(t.event_time)} "
                         f"<= (SELECT as_of FROM audit_params)")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(t.name)} AS {body}")
    dates.install(con, policy.timezone, holds=True)
    policy_tables(con, policy)
    cookies.install(con, [(t.pattern, t.category, t.vendor) for t in policy.cookies.tracker_patterns])
    for sql in rules.MACROS:
        con.execute(sql)
    personal_data.install(con, catalog, present, policy.personal_data.min_share,
                          policy.personal_data.min_values)
    return present


def policy_tables(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    """The policy's structured values as small tables (filled with bound parameters)."""
    s = policy.sharing
    con.execute("CREATE OR REPLACE TEMP TABLE policy_default_fields (category VARCHAR, field VARCHAR)")
    con.executemany("INSERT INTO policy_default_fields VALUES ($1, $2)",
                    [[cat, f] for cat, fields in s.default_allowed_fields.items() for f in fields]
                    or [[None, None]])
    con.execute("DELETE FROM policy_default_fields WHERE category IS NULL")
    con.execute("CREATE OR REPLACE TEMP TABLE policy_adequacy (country VARCHAR, valid_from DATE, "
                "valid_to DATE, scope VARCHAR)")
    for a in s.adequacy:
        con.execute("INSERT INTO policy_adequacy VALUES ($1, $2, $3, $4)",
                    [a.country, a.valid_from, a.valid_to, a.scope])
    con.execute("CREATE OR REPLACE TEMP TABLE policy_mechanisms (mechanism VARCHAR, valid_from DATE, "
                "valid_to DATE, signed_from DATE, signed_before DATE, requires_certification BOOLEAN, "
                "manual_review BOOLEAN, invalid BOOLEAN)")
    for name, m in s.mechanisms.items():
        con.execute("INSERT INTO policy_mechanisms VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    [name, m.valid_from, m.valid_to, m.signed_from, m.signed_before,
                     m.requires_certification, m.manual_review, m.invalid])


def missing_needs(rule: Rule, present: dict[str, set[str]]) -> list[str]:
    out = []
    for table, cols in rule.needs.items():
        if table not in present:
            out.append(table)
            continue
        out.extend(f"{table}.{c}" for c in cols if c not in present[table])
    if rule.needs_any is not None:
        out.extend(rule.needs_any(present))
    return out


# ---------------------------------------------------------------- running

def run_rule(con: duckdb.DuckDBPyConnection, rule: Rule, policy: Policy, params: dict
             ) -> tuple[list[dict], int, int]:
    """(violation rows, population, excluded count) of one rule."""
    sql = rule.sql(policy)
    cur = con.execute(sql, bind(sql, params))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    pop_sql = rule.population_sql(policy)
    population = con.execute(pop_sql, bind(pop_sql, params)).fetchone()[0]
    excluded = sum(1 for r in rows if r.get("excluded"))
    return [r for r in rows if not r.get("excluded")], int(population), excluded


def _evidence_dict(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {"note": value}
    out = {}
    for k, v in dict(value).items():
        if isinstance(v, str) and v[:1] in "{[":
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                pass
        out[k] = v
    return out


def evaluate(chosen: list[Rule], pol: Policy, present: dict[str, set[str]],
             run: Callable[[Rule], tuple[list[dict], int, int]], errors: tuple[type, ...],
             run_id: str, as_of_ts: datetime, as_of_date: date, reveal: bool,
             say: Callable[[str], None], unsupported: dict[str, str] | None = None
             ) -> tuple[list[RuleResult], list[dict]]:
    """Each chosen rule's result and the masked findings of all, whatever engine ``run`` (a
    rule -> (violation rows, population, excluded count)) runs them on; an exception of a type
    in ``errors`` is that rule's error, masked. A rule in ``unsupported`` (rule id -> why) is
    not evaluable on that engine."""
    results: list[RuleResult] = []
    findings: list[dict] = []
    shown = masker(reveal)          # ids and other undeclared values as they may leave
    for i, rule in enumerate(chosen, 1):
        spec = pol.rule(rule.id)
        rr = RuleResult(rule.id, spec.title, spec.severity, "evaluated", clause=spec.clause,
                        basis=spec.basis)
        results.append(rr)
        if not spec.enabled:
            rr.status = "disabled"
            continue
        missing = missing_needs(rule, present)
        if unsupported and rule.id in unsupported:
            missing = [unsupported[rule.id]]
        if missing:
            rr.status, rr.missing = "not_evaluable", ", ".join(missing)
            continue
        say(f"[{i}/{len(chosen)}] {rule.id} {spec.title}")
        t0 = time.perf_counter()
        try:
            rows, rr.population, rr.excluded = run(rule)
        except errors as e:
            # an error may quote a value it could not convert: masked like everything else
            rr.status, rr.error = "error", shown((str(e).strip().splitlines() or [""])[0])[:500]
            continue
        finally:
            rr.seconds = round(time.perf_counter() - t0, 3)
        rr.missing = ", ".join(t for t in rule.optional if t not in present)
        if isinstance(rows, int):       # the engine masked and wrote them itself (Spark)
            rr.violations = rows
            continue
        rr.violations = len(rows)
        for row in rows:
            findings.append(finding_row(rule.id, spec.severity, rule.subject_table, row, run_id,
                                        as_of_ts.isoformat(), as_of_date, reveal, shown))
    order = {r.id: i for i, r in enumerate(chosen)}
    findings.sort(key=lambda f: sort_key(order[f["rule_id"]], f))
    return results, findings


def finding_row(rule_id: str, severity: str, subject_table: str | None, row: dict, run_id: str,
                as_of: str, as_of_date: date, reveal: bool, shown: Callable,
                premasked=()) -> dict:
    """One finding as it leaves the audit (masked unless ``reveal``) from a rule's result row;
    the same function on every engine (Spark runs it on its executors). ``premasked``: evidence
    keys already masked by their kind in SQL (``masking.mask_evidence``)."""
    ev = mask_evidence(_evidence_dict(row.get("evidence")), reveal=reveal, premasked=premasked)
    due = row.get("due_date")
    overdue = row.get("days_overdue")
    if overdue is None and due is not None:
        overdue = (as_of_date - due).days
    return {"run_id": run_id, "as_of": as_of, "rule_id": rule_id,
            "severity": row.get("severity") or severity,
            "subject_table": row.get("subject_table") or subject_table,
            "subject_id": shown(str(row["subject_id"])),
            "customer_id": shown(row.get("customer_id")),
            "evidence": evidence_text(ev), "details": evidence_json(ev),
            "due_date": due, "days_overdue": None if overdue is None else int(overdue)}


#: the findings' order in every output: the rule's place in the run, then these columns (the
#: Spark engine sorts by the same, ``toolkit.spark.engine``; an absent value sorts first)
SORT_COLUMNS = ("subject_id", "subject_table", "details", "customer_id", "severity")


def sort_key(rule_order: int, f: dict) -> tuple:
    return (rule_order, *((f[c] is not None, f[c] or "") for c in SORT_COLUMNS))


def audit(db: str | Path, as_of: str | date | datetime, policy: str | Path | Policy | None = None,
          out: str | Path | None = None, rules: str | list[str] | None = None,
          reveal: bool = False, progress: Callable[[str], None] | None = None,
          store: bool = True, engine: str = "duckdb", source: str | Path | None = None,
          spark=None, tables: dict[str, str] | None = None) -> AuditResult:
    """Evaluate the policy's rules on the database ``db`` as of ``as_of``; write the findings.

    ``store=False`` keeps the run out of the database's history (``runs``, ``rule_results``,
    ``findings``), e.g. for a notebook's ad-hoc look with ``reveal=True``.

    ``engine="spark"`` runs the same rules on Apache Spark (``toolkit.spark``) over ``source``:
    the Parquet folders of ``privaudit export --parquet`` or a Spark catalog (``tables``: canonical
    name -> catalog table), on the SparkSession ``spark`` (a local one when None). ``db`` is then
    optional: when it exists, the run is stored in its history.
    """
    if engine not in ("duckdb", "spark"):
        raise PrivauditError(f"--engine {engine}: use duckdb or spark")
    started = time.perf_counter()
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    as_of_ts, as_of_date = parse_as_of(as_of, pol.timezone)
    unknown = sorted(set(pol.rules) - set(REGISTRY))
    if unknown:
        raise PrivauditError(f"{pol.source or 'policy'}: rules.{unknown[0]}: no such rule in this "
                             f"toolkit (known: {', '.join(sorted(REGISTRY))})")
    chosen = [r for r in select(rules) if r.id in pol.rules]
    if rules is not None and not chosen:
        raise PrivauditError(f"--rules {rules}: matches no rule of the policy")
    say = progress or (lambda _m: None)
    run_id = datetime.now(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    if engine == "spark":
        from .spark.engine import audit as spark_audit
        result, exports = spark_audit(source, pol, chosen, as_of_ts, as_of_date, reveal, say,
                                      run_id, spark=spark, tables=tables, out=out)
        result.seconds = round(time.perf_counter() - started, 3)
        if store and db is not None and Path(db).exists():
            con = connect(db, timezone=pol.timezone, retention_days=pol.auditor.retention_days)
            try:
                _store(con, result)
            finally:
                con.close()
        if out is not None:
            write_outputs(result, Path(out), db, exports=exports)
        return result
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    con = connect(db, timezone=pol.timezone,
                  retention_days=pol.auditor.retention_days)
    try:
        minimised = minimise.is_minimised(con)
        if reveal and minimised:
            raise PrivauditError(f"{db}: --reveal: {minimise.RAW_REFUSED}")
        present = prepare(con, pol, as_of_ts)
        params = parameters(pol, as_of_ts, as_of_date)
        done_setup: set[str] = set()

        def run(rule: Rule) -> tuple[list[dict], int, int]:
            for stmt in (rule.setup(pol) if rule.setup else []):
                if stmt not in done_setup:
                    con.execute(stmt, bind(stmt, params))
                    done_setup.add(stmt)
            return run_rule(con, rule, pol, params)

        results, findings = evaluate(chosen, pol, present, run, (duckdb.Error, PrivauditError),
                                     run_id, as_of_ts, as_of_date, reveal, say)
        cookie_categories = {}
        if any(r.rule_id.startswith("CKE-") and r.status == "evaluated" for r in results):
            cookie_categories = rules_cookies.classification(con, params)
        table_rows = {t: con.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0]
                      for t in sorted(present) if t in schema.TABLES_BY_NAME}
        result = AuditResult(run_id, as_of_ts, as_of_date, pol, results, findings,
                             Path(out) if out else None, 0.0, reveal, table_rows,
                             cookie_categories=cookie_categories, minimised=minimised)
        result.seconds = round(time.perf_counter() - started, 3)
        if store:
            _store(con, result)
    finally:
        con.close()
    if out is not None:
        write_outputs(result, Path(out), db)
    return result


def _store(con: duckdb.DuckDBPyConnection, res: AuditResult) -> None:
    con.execute("BEGIN TRANSACTION")
    for ddl in RESULTS_DDL:
        con.execute(ddl)
    sw = res.software
    con.execute("INSERT INTO runs (run_id, started_at, as_of, as_of_date, policy, policy_sha256, "
                "toolkit_version, rules, findings, seconds, revealed, duckdb_version, "
                "great_expectations_version, pandas_version, python_version) "
                "VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                [res.run_id, res.as_of, res.as_of_date, res.policy.source, res.policy.sha256,
                 sw["privaudit"], [r.rule_id for r in res.rules], len(res.findings), res.seconds,
                 res.revealed, sw["duckdb"], sw["great_expectations"], sw["pandas"], sw["python"]])
    con.executemany("INSERT INTO rule_results VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    [[res.run_id, res.as_of_date, r.rule_id, r.title, r.severity, r.status,
                      r.population, r.violations, r.excluded, r.missing, r.error, r.seconds]
                     for r in res.rules])
    insert = ("INSERT INTO findings SELECT run_id, CAST(as_of AS TIMESTAMPTZ), rule_id, severity, "
              "subject_table, subject_id, customer_id, evidence, details, CAST(due_date AS DATE), "
              "CAST(days_overdue AS INTEGER) FROM ")
    if isinstance(res.findings, FindingsFile):
        # written by the engine: DuckDB reads the file (the rows never pass through Python)
        if len(res.findings):
            con.execute(insert + "read_parquet($path)", {"path": str(res.findings.path)})
    elif res.findings:
        frame = res.findings_arrow()  # noqa: F841  (read by DuckDB's replacement scan)
        con.execute(insert + "frame")
    con.execute("COMMIT")


def load_files(db: str | Path | None) -> tuple[list, list]:
    """(the latest file of each table, every file of each table's latest load) from the load
    log: (table, file, sha256, rows read, loaded, rejected)."""
    if db is None or not Path(db).exists():
        return [], []
    con = connect(db, read_only=True)
    try:
        # every file of each table's latest load (a mapping may read several files into one
        # table; a mapping table without a file is logged as 'absent' and has none)
        all_files = con.execute(
            "SELECT table_name, file, sha256, rows_read, rows_loaded, rows_rejected FROM load_log "
            "WHERE table_name IS NOT NULL AND file IS NOT NULL QUALIFY load_id = first_value(load_id) "
            "OVER (PARTITION BY table_name ORDER BY loaded_at DESC) ORDER BY table_name, file"
        ).fetchall()
        files = list({t: (t, *rest) for t, *rest in reversed(all_files)}.values())[::-1]
    except duckdb.Error:
        files, all_files = [], []
    finally:
        con.close()
    return files, all_files


def _write_findings(res: AuditResult, out: Path) -> None:
    """findings.parquet and findings.csv written by DuckDB (COPY ... TO), from an Arrow table of
    the masked rows."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{memory_limit()}'")
        con.register("findings_out", res.findings_arrow())
        select = ("SELECT " + ", ".join("CAST(due_date AS VARCHAR) AS due_date" if c == "due_date"
                                        else c for c in FINDING_COLUMNS) + " FROM findings_out")
        outputs.copy_parquet(con, select, out / "findings.parquet")
        outputs.copy_csv(con, select, out / "findings.csv", CSV_TEXT_COLUMNS)
    finally:
        con.close()


#: the findings.csv columns that are text (spreadsheet-safe cells); days_overdue is a number
CSV_TEXT_COLUMNS = [c for c in FINDING_COLUMNS if c != "days_overdue"]


def write_outputs(res: AuditResult, out: Path, db: str | Path | None,
                  exports: tuple[list, list] | None = None) -> None:
    """findings.parquet, findings.csv, rules.csv and manifest.json in ``out`` (a private folder
    when this creates it; owner-only files; spreadsheet-safe CSV: ``toolkit.outputs``). The
    manifest's export files come from the database's load log, or are ``exports`` (files, all
    files) when given."""
    outputs.private_dir(out)
    outputs.write_csv(out / "rules.csv", RULE_COLUMNS,
                      ([getattr(r, k) for k in RULE_COLUMNS] for r in res.rules))
    written = isinstance(res.findings, FindingsFile) and \
        res.findings.path.resolve() == (out / "findings.parquet").resolve()
    if not written:     # (the Spark engine's executors wrote them there themselves)
        _write_findings(res, out)
    files, all_files = exports if exports is not None else load_files(db)
    manifest = {
        "toolkit": "privaudit", "toolkit_version": res.software["privaudit"], "run_id": res.run_id,
        "software": res.software,
        "as_of": res.as_of.isoformat(), "as_of_date": res.as_of_date.isoformat(),
        "timezone": res.policy.timezone,
        "policy": {"source": res.policy.source, "sha256": res.policy.sha256,
                   "controller": res.policy.controller.name,
                   "statement_date": res.policy.statement.date.isoformat()},
        "revealed": res.revealed, "engine": res.engine, "minimised": res.minimised,
        "tables": {t: {"rows_as_of": n} for t, n in res.table_rows.items()},
        "exports": {t: {"file": f, "sha256": h, "rows_read": rd, "rows_loaded": ld, "rows_rejected": rj}
                    for t, f, h, rd, ld, rj in files},
        "export_files": [{"table": t, "file": f, "sha256": h, "rows_read": rd, "rows_loaded": ld,
                          "rows_rejected": rj} for t, f, h, rd, ld, rj in all_files],
        "rules": {r.rule_id: {"status": r.status, "violations": r.violations, "seconds": r.seconds}
                  for r in res.rules},
        "findings": len(res.findings),
        "cookie_categories": res.cookie_categories,
        "seconds": res.seconds,
    }
    outputs.write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def load_run(db: str | Path, run_id: str | None = None):
    """(run, rules, findings) of a stored run (the latest when ``run_id`` is None) as DataFrames.

    ``run`` is a one-row frame of ``runs``; ``rules`` the run's ``rule_results``; ``findings`` its
    masked findings with ``details`` parsed from JSON. Opens the database read-only.
    """
    import pandas as pd

    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found")
    con = connect(db, read_only=True)
    try:
        try:
            if run_id is None:
                row = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
                if row is None:
                    raise PrivauditError(f"{db}: no audit run stored yet (run 'privaudit audit')")
                run_id = row[0]
            run = con.execute("SELECT * FROM runs WHERE run_id = $1", [run_id]).df()
        except duckdb.CatalogException:
            raise PrivauditError(f"{db}: no audit run stored yet (run 'privaudit audit')") from None
        if run.empty:
            raise PrivauditError(f"{db}: no run {run_id!r}")
        rules_df = con.execute("SELECT * FROM rule_results WHERE run_id = $1", [run_id]).df()
        findings_df = con.execute("SELECT * FROM findings WHERE run_id = $1 ORDER BY rule_id, "
                                  "subject_id", [run_id]).df()
    finally:
        con.close()
    findings_df["details"] = findings_df["details"].map(lambda s: json.loads(s) if s else {})
    return run, rules_df, findings_df


def run_history(db: str | Path):
    """Every stored run's per-rule figures (``rule_results`` joined to ``runs``), oldest first."""
    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT r.started_at, r.as_of_date AS run_as_of, rr.* FROM rule_results rr "
                           "JOIN runs r USING (run_id) ORDER BY r.started_at, rr.rule_id").df()
    finally:
        con.close()
