"""The notebook API: what the audit notebooks compute (``from toolkit import analysis as an``).

Downstream of ``toolkit.findings``; nothing here holds a rule's logic. A notebook reads one
stored audit run (:func:`open_run`) and presents it per the reporting standard: population,
violations and exclusions per rule (:func:`rule_table`, :func:`rule_headline`), the days-overdue
buckets (:data:`BUCKETS`, :func:`overdue_buckets`), the onset trend by month of the due date
(:func:`onset_by_month`) and by month of the record (:func:`by_record_month`), breakdowns of the
findings' ``details`` (:func:`breakdown`, :func:`matrix`, :func:`residue_by_table`), up to ten
examples (:func:`examples`; evidence is masked by the audit itself), free-text contact counts
(:func:`contact_data`) and the history of stored runs (:func:`history`).

:func:`record` keeps each notebook's headline numbers twice: glued into the executed notebook
(scrapbook's output format, readable with :func:`read_scraps` or ``scrapbook.read_notebook``)
and as ``<out_dir>/headline/<notebook>.json``, which the summary notebook reads
(:func:`read_headlines`). Showing things in a notebook is ``toolkit.show``; executing the
notebooks into a report is ``toolkit.report``.

Nothing raw leaves: findings' evidence is masked by ``toolkit.masking`` when the audit runs; a
run made with ``reveal=True`` is refused unless the notebook is asked to reveal too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import duckdb

from . import __version__, outputs
from .database import connect
from .exceptions import PrivauditError, UnusableInputError
from .findings import audit, load_run, parse_as_of, run_history
from .policy import Policy, load_policy
from .resources import notebooks_dir
from .rules import REGISTRY, catalogue

# ---------------------------------------------------------------- notebooks and their rules

#: the notebooks of ``notebooks/`` in run order (the summary reads the others, so it runs last)
NOTEBOOKS = ("retention", "sharing", "consent_newsletters", "cookies", "requests",
             "free_text_pii", "statement", "summary")

#: the notebook that presents each rule family (``toolkit.rules`` families)
FAMILY_NOTEBOOK = {"retention": "retention", "sharing": "sharing",
                   "newsletters": "consent_newsletters", "cookies": "cookies",
                   "requests": "requests", "security": "free_text_pii",
                   "transparency": "statement"}

NOTEBOOK_TITLES = {
    "retention": "Retention", "sharing": "Third-party sharing and transfers",
    "consent_newsletters": "Consent and newsletters", "cookies": "Cookies",
    "requests": "Data-subject requests", "free_text_pii": "Free-text PII and card data",
    "statement": "The privacy statement",
    "summary": "Summary and history",
}

NOTEBOOK_DIR = notebooks_dir()

SEVERITIES = ("S1", "S2", "S3", "S4", "INFO")
SEVERITY_COLORS = {"S1": "#8e1b1b", "S2": "#c0392b", "S3": "#d68910", "S4": "#7f8c8d",
                   "INFO": "#95a5a6"}

#: days-overdue buckets of the catalogue (section 0.5): label, first day, last day (None: open)
BUCKETS = (("0–30 d", 0, 30), ("31–90 d", 31, 90), ("91–365 d", 91, 365),
           ("1–2 y", 366, 730), ("2–5 y", 731, 1826), ("> 5 y", 1827, None))

#: keys of a finding's ``details`` that date the record itself (first present wins)
RECORD_DATE_KEYS = ("sent", "date", "scanned", "received", "placed", "completed", "erased",
                    "anchor_date")

SCRAP_MIME = "application/scrapbook.scrap.json+json"

#: how every table, chart and page spells a missing value
MISSING = "–"


def rule_notebook(rule_id: str) -> str | None:
    """The notebook that presents ``rule_id`` (None for a rule this toolkit does not know)."""
    rule = REGISTRY.get(rule_id)
    return FAMILY_NOTEBOOK.get(rule.family) if rule else None


def notebook_rules(notebook: str, policy: Policy | None = None) -> list[str]:
    """The rule ids a notebook presents, in catalogue order."""
    pol = policy or load_policy()
    return [c["rule_id"] for c in catalogue(pol) if rule_notebook(c["rule_id"]) == notebook]


# ---------------------------------------------------------------- the run a notebook shows

@dataclass
class AuditRun:
    """One audit run as the notebooks see it: the stored run, its rules and masked findings."""
    run_id: str
    as_of: str                      # ISO timestamp of the audit moment
    as_of_date: date
    revealed: bool
    source: str                     # how it was obtained: stored run, new run, audit folder, ...
    db_path: Path
    policy: Policy
    rules: Any                      # DataFrame: rule_results + clause, quote, basis
    findings: Any                   # DataFrame: masked findings, details as dicts
    started_at: str = ""
    notes: list[str] = field(default_factory=list)

    def rule(self, rule_id: str) -> dict:
        rows = self.rules[self.rules["rule_id"] == rule_id]
        if rows.empty:
            return {"rule_id": rule_id, "title": "", "severity": "", "status": "not in this run",
                    "population": None, "violations": 0, "excluded": 0, "missing": "",
                    "error": "", "clause": "", "quote": "", "basis": ""}
        return {k: _plain(v) for k, v in rows.iloc[0].to_dict().items()}

    def findings_of(self, rule_id: str):
        return self.findings[self.findings["rule_id"] == rule_id].reset_index(drop=True)


#: where ``make demo`` writes its database, and ``privaudit load``'s default
DEFAULT_DBS = (Path("demo") / "audit.duckdb", Path("data") / "audit.duckdb")

#: the environment variable naming the audit database when ``db_path`` is empty
DB_ENV = "PRIVAUDIT_DB"


def db_candidates(db_path: str | Path | None = None) -> list[Path]:
    """Where :func:`find_db` looks, in order. A relative path is tried in the working directory
    and its parent (JupyterLab runs a notebook in its own folder, ``notebooks/``); an empty
    ``db_path`` means ``$PRIVAUDIT_DB``, else what ``make demo`` wrote, else ``data/``."""
    if db_path is None or not str(db_path).strip():
        env = os.environ.get(DB_ENV, "").strip()
        names = [Path(env)] if env else list(DEFAULT_DBS)
    else:
        names = [Path(db_path)]
    out: list[Path] = []
    for name in names:
        name = name.expanduser()
        for p in ([name] if name.is_absolute() else [Path.cwd() / name, Path.cwd().parent / name]):
            if p not in out:
                out.append(p)
    return out


def find_db(db_path: str | Path | None = None) -> Path:
    """The audit database a notebook reads (absolute); the error names every path tried."""
    tried = db_candidates(db_path)
    for p in tried:
        if p.is_file():
            return p.resolve()
    given = (f"db_path = {str(db_path)!r}" if db_path is not None and str(db_path).strip()
             else f"db_path = None (${DB_ENV} {'= ' + repr(os.environ[DB_ENV]) if os.environ.get(DB_ENV) else 'not set'})")
    raise UnusableInputError(
        f"{given}: no audit database found; tried {', '.join(str(p) for p in tried)}. Set "
        f"db_path in the parameters cell (or ${DB_ENV}); 'make demo' writes demo/audit.duckdb")


def resolve_db(db_path: str | Path) -> Path:
    """``db_path`` made absolute (:func:`find_db`; the path as given when nothing exists)."""
    try:
        return find_db(db_path)
    except UnusableInputError:
        return Path(db_path).expanduser().resolve()


def _named(name: str, value, fn, *args):
    """``fn(*args)``; its error names the parameter as the notebook calls it."""
    try:
        return fn(*args)
    except PrivauditError as e:
        raise type(e)(f"{name} = {str(value)!r}: {e}") from None


def _as_of(value, tz: str):
    """parse_as_of, its error naming the parameter as the notebook calls it."""
    try:
        return parse_as_of(value, tz)
    except PrivauditError as e:
        raise PrivauditError(str(e).replace("--as-of:", "as_of =", 1)) from None


def stored_run_for(db: Path, as_of: datetime | None, policy: Policy | None) -> str | None:
    """The latest stored, masked, complete run of ``policy`` at exactly ``as_of`` (or None).
    ``as_of`` None: at any audit date; ``policy`` None: of any policy."""
    wanted = ({c["rule_id"] for c in catalogue(policy) if c["enabled"]} if policy is not None
              else set())
    sql = ("SELECT run_id, rules FROM runs WHERE NOT coalesce(revealed, false)"
           + (" AND as_of = $as_of" if as_of is not None else "")
           + (" AND policy_sha256 = $sha" if policy is not None else "")
           + " ORDER BY started_at DESC")
    params = {k: v for k, v in (("as_of", as_of), ("sha", policy.sha256 if policy else None))
              if v is not None}
    con = connect(db, read_only=True)
    try:
        rows = con.execute(sql, params).fetchall()
    except duckdb.CatalogException:
        return None
    finally:
        con.close()
    for run_id, rules in rows:
        if wanted <= set(rules or ()):
            return run_id
    return None


def _latest_as_of(db: Path) -> date | None:
    con = connect(db, read_only=True)
    try:
        row = con.execute("SELECT as_of_date FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    except duckdb.CatalogException:
        row = None
    finally:
        con.close()
    return row[0] if row else None


def open_run(db_path: str | Path | None = None, as_of: str | date | datetime | None = None,
             policy_path: str | Path | None = None, run_id: str | None = None,
             reveal: bool = False, audit_dir: str | Path | None = None) -> AuditRun:
    """The audit run a notebook presents. A notebook only reads: it never stores a run.

    * ``db_path``: the audit database (:func:`find_db`; None: ``$PRIVAUDIT_DB`` or what
      ``make demo`` wrote);
    * ``audit_dir``: the outputs of ``audit(out=...)`` (how :func:`toolkit.report.report` hands a
      revealed run, which is never stored in the database, to its notebooks);
    * ``run_id``: that stored run (a revealed run only with ``reveal=True``);
    * otherwise, with ``reveal=False``: the latest stored masked run of this policy at ``as_of``,
      or with ``as_of`` None the latest stored masked run; when there is none at ``as_of``, an
      ad-hoc run made now and not stored (``privaudit audit`` stores runs);
    * otherwise, with ``reveal=True``: an ad-hoc revealed run, kept out of the database.
    """
    db = find_db(db_path)
    policy = _named("policy_path", policy_path, load_policy, policy_path)
    if audit_dir is not None:
        return _run_from_folder(Path(audit_dir), db, policy, reveal)
    source = "stored run"
    given_run = run_id is not None
    if run_id is None:
        if as_of is None and not reveal:
            run_id = stored_run_for(db, None, policy if policy_path is not None else None)
            if run_id is None:
                raise PrivauditError(
                    f"{db}: no stored audit run{' of ' + str(policy_path) if policy_path else ''}"
                    f"; store one with 'privaudit audit --db {db} --as-of YYYY-MM-DD', or set "
                    f"as_of in the parameters cell for a look without storing")
        else:
            if as_of is None:
                as_of = _latest_as_of(db) or datetime.now(ZoneInfo(policy.timezone)).date()
            as_of_ts, _ = _as_of(as_of, policy.timezone)
            run_id = None if reveal else stored_run_for(db, as_of_ts, policy)
            if run_id is None:
                return _ad_hoc(db, as_of_ts, policy, reveal)
    run, rules_df, findings = (_named("run_id", run_id, load_run, db, run_id) if given_run
                               else load_run(db, run_id))
    row = run.iloc[0]
    revealed = bool(row.get("revealed"))
    if revealed and not reveal:
        raise PrivauditError(f"run {run_id} was made with reveal=True: set reveal = True to show "
                             f"it (authorised investigations only)")
    if policy_path is None and row.get("policy") and Path(str(row["policy"])).is_file():
        policy = load_policy(row["policy"])
    import pandas as pd
    as_of_date = pd.Timestamp(row["as_of_date"]).date()
    out = _assemble(run_id, pd.Timestamp(row["as_of"]).isoformat(), as_of_date, revealed, source,
                    db, policy, rules_df, findings, str(row.get("started_at", "")))
    if as_of is not None:
        try:
            _, wanted = _as_of(as_of, policy.timezone)
            if wanted != as_of_date:
                out.notes.append(f"as_of {wanted} was given, but run {run_id} is as of {as_of_date}")
        except PrivauditError:
            pass
    return out


def _ad_hoc(db: Path, as_of_ts: datetime, policy: Policy, reveal: bool) -> AuditRun:
    """An audit made now for the notebook only (never stored)."""
    import pandas as pd

    res = audit(db, as_of_ts, policy, reveal=reveal, store=False)
    findings = res.findings_frame()
    findings["details"] = findings["details"].map(lambda s: json.loads(s) if s else {})
    findings["due_date"] = pd.to_datetime(findings["due_date"])
    findings["days_overdue"] = findings["days_overdue"].astype("Int64")
    source = ("ad-hoc revealed run (not stored)" if reveal else
              "ad-hoc run made now (not stored: 'privaudit audit' stores runs)")
    return _assemble(res.run_id, res.as_of.isoformat(), res.as_of_date, reveal, source, db,
                     policy, res.rules_frame(), findings, "")


def _assemble(run_id, as_of, as_of_date, revealed, source, db, policy, rules_df, findings,
              started_at) -> AuditRun:
    import pandas as pd

    cat = pd.DataFrame(catalogue(policy))[["rule_id", "clause", "quote", "basis"]]
    rules_df = rules_df.drop(columns=[c for c in ("clause", "basis", "quote") if c in rules_df])
    rules_df = rules_df.merge(cat, on="rule_id", how="left")
    for c in ("clause", "quote", "basis", "missing", "error"):
        rules_df[c] = rules_df[c].fillna("").astype(str)
    return AuditRun(run_id, as_of, as_of_date, revealed, source, db, policy, rules_df, findings,
                    started_at)


def _run_from_folder(folder: Path, db: Path, policy: Policy, reveal: bool) -> AuditRun:
    import pandas as pd

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("revealed") and not reveal:
        raise PrivauditError(f"{folder}: the audit there was made with reveal=True: set "
                             f"reveal = True to show it (authorised investigations only)")
    findings = pd.read_parquet(folder / "findings.parquet")
    findings["details"] = findings["details"].map(lambda s: json.loads(s) if s else {})
    findings["due_date"] = pd.to_datetime(findings["due_date"])
    findings["days_overdue"] = findings["days_overdue"].astype("Int64")
    rules_df = pd.read_csv(folder / "rules.csv", keep_default_na=False,
                           dtype={"missing": str, "error": str})
    for c in ("population", "violations", "excluded"):
        rules_df[c] = pd.to_numeric(rules_df[c], errors="coerce").astype("Int64")
    if manifest.get("policy", {}).get("source") and Path(manifest["policy"]["source"]).is_file():
        policy = load_policy(manifest["policy"]["source"])
    return _assemble(manifest["run_id"], manifest["as_of"],
                     date.fromisoformat(manifest["as_of_date"]), bool(manifest.get("revealed")),
                     f"audit folder {folder}", db, policy, rules_df, findings, "")


# ---------------------------------------------------------------- figures per rule

def _plain(v):
    """A JSON-safe plain value (numpy and pandas scalars, NA and NaN as None)."""
    if v is None:
        return None
    try:
        import pandas as pd
        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def overdue_buckets(findings) -> "Any":
    """Findings per days-overdue bucket (catalogue 0.5); findings without a due date are left out.
    A negative value (due after as_of) counts in the first bucket."""
    import pandas as pd

    days = pd.to_numeric(findings["days_overdue"], errors="coerce").dropna().clip(lower=0)
    counts = {}
    for label, lo, hi in BUCKETS:
        counts[label] = int(((days >= lo) & ((days <= hi) if hi is not None else True)).sum())
    return pd.Series(counts, name="findings")


def _months(dates) -> "Any":
    import pandas as pd

    d = pd.to_datetime(pd.Series(dates), errors="coerce").dropna()
    if d.empty:
        return pd.Series(dtype="int64", name="findings")
    per = d.dt.to_period("M")
    full = pd.period_range(per.min(), per.max(), freq="M")
    out = per.value_counts().reindex(full, fill_value=0)
    out.index = out.index.astype(str)
    return out.rename("findings")


def onset_by_month(findings) -> "Any":
    """Findings per month of their due date (the onset), every month of the range present."""
    return _months(findings["due_date"])


def record_dates(run: "AuditRun", findings) -> "Any":
    """Each finding's record date (the civil date of its subject row's event time, e.g.
    ``chat_messages.sent_at``, ``transfers.transferred_at``; else a date in its details).
    Reads only primary keys and dates from the database."""
    import pandas as pd

    from . import schema

    out = pd.Series([None] * len(findings), index=findings.index, dtype="object")
    for table, group in findings.groupby("subject_table"):
        t = schema.TABLES_BY_NAME.get(table)
        if t is None or t.event_time is None:
            continue
        keys = sorted(set(group["subject_id"].astype(str)))
        try:
            con = connect(run.db_path, read_only=True, timezone=run.policy.timezone,
                          retention_days=run.policy.auditor.retention_days)
        except PrivauditError:
            break
        try:
            rows = con.execute(
                f'SELECT CAST("{t.primary_key}" AS VARCHAR), CAST(CAST("{t.event_time}" AS DATE) '
                f'AS VARCHAR) FROM "{table}" WHERE CAST("{t.primary_key}" AS VARCHAR) '
                f"IN (SELECT unnest($1::VARCHAR[]))", [keys]).fetchall()
        except duckdb.Error:
            rows = []
        finally:
            con.close()
        dates = dict(rows)
        out.loc[group.index] = group["subject_id"].astype(str).map(dates).values
    for i, d in zip(findings.index, findings["details"]):
        if out.loc[i] is None and isinstance(d, dict):
            for k in RECORD_DATE_KEYS:
                if d.get(k):
                    out.loc[i] = str(d[k])[:10]
                    break
    return out


def record_label(findings) -> str:
    """Axis label for :func:`by_record_month` (which date of which table it counts)."""
    from . import schema

    names = []
    for table in dict.fromkeys(findings["subject_table"]):
        t = schema.TABLES_BY_NAME.get(table)
        if t is not None and t.event_time:
            names.append(f"{table}.{t.event_time}")
    return "Month of the record (" + (", ".join(names) or "its date") + ")"


def by_record_month(run: "AuditRun", findings) -> "Any":
    """Findings per month of the record's own date (catalogue 0.5: month the record was created)."""
    return _months(record_dates(run, findings))


def detail(findings, key: str) -> "Any":
    """One key of every finding's details (None when absent)."""
    import pandas as pd
    return pd.Series([d.get(key) if isinstance(d, dict) else None for d in findings["details"]],
                     index=findings.index, dtype="object")


def _explode(values) -> "Any":
    import pandas as pd

    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(v if v else [MISSING])
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(MISSING)
        else:
            out.append(v)
    return pd.Series(out, dtype="object")


def breakdown(findings, key: str, top: int | None = 15) -> "Any":
    """Findings counted by one key of their details (list values counted per element)."""
    vals = _explode(detail(findings, key).map(lambda v: str(v) if isinstance(v, bool) else v))
    counts = vals.astype(str).value_counts()
    if top is not None and len(counts) > top:
        counts = counts.head(top)
    return counts.rename("findings").rename_axis(key)


def matrix(findings, row_key: str, col_key: str) -> "Any":
    """Cross-table of two details keys (list values, e.g. fields, counted per element)."""
    import pandas as pd

    rows, cols = [], []
    for d in findings["details"]:
        d = d if isinstance(d, dict) else {}
        rv = d.get(row_key)
        cv = d.get(col_key)
        for r in (rv if isinstance(rv, list) and rv else [rv]):
            for c in (cv if isinstance(cv, list) and cv else [cv]):
                rows.append(MISSING if r is None else str(r))
                cols.append(MISSING if c is None else str(c))
    if not rows:
        return pd.DataFrame()
    return pd.crosstab(pd.Series(rows, name=row_key), pd.Series(cols, name=col_key))


def residue_by_table(findings, key: str = "residue") -> "Any":
    """Rows left behind and subjects concerned per table, from ``details[key]`` ({table: rows})."""
    import pandas as pd

    rows: dict[str, int] = {}
    subjects: dict[str, int] = {}
    for d in findings["details"]:
        res = d.get(key) if isinstance(d, dict) else None
        if isinstance(res, dict):
            for t, n in res.items():
                rows[t] = rows.get(t, 0) + int(n or 0)
                subjects[t] = subjects.get(t, 0) + 1
    out = pd.DataFrame({"rows": pd.Series(rows, dtype="int64"),
                        "subjects": pd.Series(subjects, dtype="int64")}).rename_axis("table")
    return out.sort_values("rows", ascending=False)


def rule_headline(run: AuditRun, rule_id: str) -> dict:
    """The headline numbers of one rule (catalogue 0.5), JSON-safe."""
    r = run.rule(rule_id)
    f = run.findings_of(rule_id)
    pop = r.get("population")
    viol = int(r.get("violations") or 0)
    pct = round(100.0 * viol / pop, 2) if pop else None
    days = f["days_overdue"].dropna()
    out = {
        "rule_id": rule_id, "title": r.get("title") or "", "severity": r.get("severity") or "",
        "status": r.get("status"), "population": None if pop is None else int(pop),
        "violations": viol, "percent": pct, "excluded": int(r.get("excluded") or 0),
        "findings": int(len(f)), "customers": int(f["customer_id"].dropna().nunique()),
        "oldest_days_overdue": int(days.max()) if len(days) else None,
        "overdue_buckets": {k: int(v) for k, v in overdue_buckets(f).items()} if len(days) else {},
        "missing": r.get("missing") or "", "error": r.get("error") or "",
    }
    return out


def rule_table(run: AuditRun, rule_ids: Iterable[str] | None = None) -> "Any":
    """Population, violations (and %) and exclusions per rule: the first table a DPO reads."""
    import pandas as pd

    ids = list(rule_ids) if rule_ids is not None else list(run.rules["rule_id"])
    rows = []
    for rid in ids:
        h = rule_headline(run, rid)
        rows.append({"rule": rid, "title": h["title"], "severity": h["severity"],
                     "status": h["status"], "population": h["population"],
                     "violations": h["violations"], "%": h["percent"],
                     "excluded (hold / fiscal)": h["excluded"],
                     "oldest overdue (days)": h["oldest_days_overdue"],
                     "note": h["error"] or h["missing"]})
    cols = ["rule", "title", "severity", "status", "population", "violations", "%",
            "excluded (hold / fiscal)", "oldest overdue (days)", "note"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("population", "violations", "excluded (hold / fiscal)", "oldest overdue (days)"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df.set_index("rule")


def examples(run: AuditRun, rule_id: str, n: int = 10) -> "Any":
    """Up to ``n`` findings of a rule, most overdue first, with their (masked) evidence."""
    f = run.findings_of(rule_id)
    cols = ["subject_table", "subject_id", "customer_id", "due_date", "days_overdue", "evidence"]
    f = f.sort_values(["days_overdue", "subject_id"], ascending=[False, True], na_position="last")
    out = f[cols].head(max(0, min(int(n), 10))).reset_index(drop=True)
    out["due_date"] = out["due_date"].dt.date
    return out


def contact_data(run: AuditRun) -> "Any":
    """E-mail addresses and phone numbers found per free-text column (counts only)."""
    import pandas as pd

    from .detect import contact_counts
    from .findings import prepare

    as_of_ts, _ = parse_as_of(run.as_of, run.policy.timezone)
    con = connect(run.db_path, read_only=True, timezone=run.policy.timezone,
                  retention_days=run.policy.auditor.retention_days)
    try:
        prepare(con, run.policy, as_of_ts)
        rows = contact_counts(con)
    finally:
        con.close()
    cols = ["table", "column", "texts", "with_email", "emails", "with_phone", "phones"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- headline numbers

def glue(name: str, data: Any) -> None:
    """Record ``data`` (JSON) in the executing notebook under ``name``.

    The output has scrapbook's format (``application/scrapbook.scrap.json+json``), so both
    :func:`read_scraps` and ``scrapbook.read_notebook(path).scraps`` read it back; scrapbook
    itself is not needed to write or read it."""
    from IPython.display import display
    payload = {"name": name, "data": data, "encoder": "json", "version": 1}
    display({SCRAP_MIME: payload}, metadata={"scrapbook": {"name": name, "data": True,
                                                           "display": False}}, raw=True)


def read_scraps(notebook: str | Path) -> dict:
    """Every value glued into an executed notebook, by name."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            payload = o.get("data", {}).get(SCRAP_MIME) if hasattr(o, "get") else None
            if payload and "name" in payload:
                out[payload["name"]] = payload.get("data")
    return out


def record(notebook: str, run: AuditRun, rule_ids: Iterable[str], out_dir: str | Path | None = None,
           extra: dict | None = None) -> dict:
    """Keep the notebook's headline numbers: glued into the notebook and, with ``out_dir``,
    written to ``<out_dir>/headline/<notebook>.json``. Returns them."""
    rules = {rid: rule_headline(run, rid) for rid in rule_ids}
    headline = {
        "notebook": notebook, "run_id": run.run_id, "as_of": run.as_of,
        "as_of_date": run.as_of_date.isoformat(), "revealed": run.revealed,
        "toolkit_version": __version__,
        "rules": rules,
        "totals": {"rules": len(rules),
                   "rules_violated": sum(1 for h in rules.values() if h["violations"]),
                   "violations": sum(h["violations"] for h in rules.values()),
                   "not_evaluable": sum(1 for h in rules.values() if h["status"] == "not_evaluable"),
                   "errors": sum(1 for h in rules.values() if h["status"] == "error")},
    }
    if extra:
        headline.update(json.loads(json.dumps(extra, default=_plain)))
    glue("headline", headline)
    if out_dir is not None:
        folder = outputs.private_dir(Path(out_dir) / "headline")
        outputs.write_text(folder / f"{notebook}.json",
                           json.dumps(headline, indent=2, default=_plain) + "\n")
    return headline


def headline_table(headline: dict) -> "Any":
    """A notebook's recorded numbers per rule (from :func:`record`) as a table."""
    import pandas as pd

    rows = [{"rule": rid, "severity": h["severity"], "status": str(h["status"]).replace("_", " "),
             "population": h["population"], "violations": h["violations"], "%": h["percent"],
             "excluded": h["excluded"]} for rid, h in headline["rules"].items()]
    df = pd.DataFrame(rows, columns=["rule", "severity", "status", "population", "violations",
                                     "%", "excluded"])
    for c in ("population", "violations", "excluded"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    return df


def read_headlines(out_dir: str | Path | None, run_id: str | None = None) -> dict[str, dict | None]:
    """Each audit notebook's recorded headline (``<out_dir>/headline/<name>.json``); None when a
    notebook has not recorded one, or recorded one for another run than ``run_id``."""
    out: dict[str, dict | None] = {}
    for name in NOTEBOOKS[:-1]:
        p = Path(out_dir) / "headline" / f"{name}.json" if out_dir is not None else None
        h = None
        if p is not None and p.is_file():
            try:
                h = json.loads(p.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                h = None
            if h is not None and run_id is not None and h.get("run_id") != run_id:
                h = None
        out[name] = h
    return out


def history(db_path: str | Path) -> "Any":
    """Violations per rule across stored runs: one row per (as_of date, rule), the latest run
    of each as_of date (``toolkit.findings.run_history``)."""
    h = run_history(resolve_db(db_path))
    if h.empty:
        return h
    h = h.sort_values("started_at")
    latest = h.groupby("run_as_of")["run_id"].transform("last")
    return h[h["run_id"] == latest].reset_index(drop=True)


