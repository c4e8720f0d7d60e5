"""The audit notebooks and the HTML report (contract section 7, ``privaudit report``).

Two halves, both downstream of ``toolkit.findings`` (nothing here holds a rule's logic):

* **Notebook helpers.** The notebooks in ``notebooks/`` read one stored audit run
  (:func:`open_run`) and present it per the catalogue's reporting standard (section 0.5):
  population, violations and exclusions per rule (:func:`rule_table`, :func:`show_rule`), the
  days-overdue histogram in the catalogue's buckets (:data:`BUCKETS`, :func:`overdue_buckets`),
  the onset trend by month of the due date (:func:`onset_by_month`), breakdowns of the findings'
  ``details`` (:func:`breakdown`, :func:`matrix`, :func:`residue_by_table`), up to ten examples
  (:func:`examples`; evidence is masked by the audit itself) and free-text contact counts
  (:func:`contact_data`). :func:`record` keeps each notebook's headline numbers twice: glued into
  the executed notebook (scrapbook's output format, readable with :func:`read_scraps` or
  ``scrapbook.read_notebook``) and as ``<out_dir>/headline/<notebook>.json``, which the summary
  notebook reads (:func:`read_headlines`).

* **The report.** :func:`report` ensures one audit run, executes every notebook with papermill
  into ``out/`` with that ``run_id``, converts each to self-contained HTML (no CDN scripts) and
  writes ``out/index.html``: the per-rule table, severities and links. A failing notebook makes
  the exit code 1, is named with its failing cell, and does not stop the others.
  :func:`render` does only the HTML and the index, for notebooks a scheduler (Airflow's
  PapermillOperator) executed itself.

Nothing raw leaves: findings' evidence is masked by ``toolkit.masking`` when the audit runs; a
run made with ``reveal=True`` is refused unless the notebook is asked to reveal too.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import duckdb

from . import __version__
from .exceptions import PrivauditError, UnusableInputError
from .findings import audit, load_run, parse_as_of, run_history
from .policy import Policy, load_policy
from .resources import notebooks_dir
from .rules import REGISTRY, catalogue

# ---------------------------------------------------------------- notebooks and their rules

#: the notebooks of ``notebooks/`` in run order (the summary reads the others, so it runs last)
NOTEBOOKS = ("retention", "sharing", "consent_newsletters", "cookies", "requests",
             "free_text_pii", "summary")

#: the notebook that presents each rule family (``toolkit.rules`` families)
FAMILY_NOTEBOOK = {"retention": "retention", "sharing": "sharing",
                   "newsletters": "consent_newsletters", "cookies": "cookies",
                   "requests": "requests", "security": "free_text_pii"}

NOTEBOOK_TITLES = {
    "retention": "Retention", "sharing": "Third-party sharing and transfers",
    "consent_newsletters": "Consent and newsletters", "cookies": "Cookies",
    "requests": "Data-subject requests", "free_text_pii": "Free-text PII and card data",
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


def resolve_db(db_path: str | Path) -> Path:
    """``db_path`` as given, or relative to the repository when run from ``notebooks/``."""
    p = Path(db_path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    for base in (Path.cwd().parent, NOTEBOOK_DIR.parent):
        if (base / p).exists():
            return base / p
    return p


def stored_run_for(db: Path, as_of: datetime, policy: Policy) -> str | None:
    """The latest stored, masked, complete run of ``policy`` at exactly ``as_of`` (or None)."""
    wanted = {c["rule_id"] for c in catalogue(policy) if c["enabled"]}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, rules FROM runs WHERE as_of = $1 AND policy_sha256 = $2 "
            "AND NOT coalesce(revealed, false) ORDER BY started_at DESC", [as_of, policy.sha256]
        ).fetchall()
    except duckdb.CatalogException:
        return None
    finally:
        con.close()
    for run_id, rules in rows:
        if wanted <= set(rules or ()):
            return run_id
    return None


def open_run(db_path: str | Path, as_of: str | date | datetime | None = None,
             policy_path: str | Path | None = None, run_id: str | None = None,
             reveal: bool = False, out_dir: str | Path | None = None,
             audit_dir: str | Path | None = None) -> AuditRun:
    """The audit run a notebook presents.

    * ``audit_dir``: the outputs of ``audit(out=...)`` (how :func:`report` hands a revealed run,
      which is never stored in the database, to its notebooks);
    * ``run_id``: that stored run (a revealed run only with ``reveal=True``);
    * otherwise, with ``reveal=False``: the latest stored masked run of this policy at ``as_of``
      (default: today), or a new run made once with ``toolkit.audit`` and stored;
    * otherwise, with ``reveal=True``: an ad-hoc revealed run, kept out of the database.
    """
    import pandas as pd

    db = resolve_db(db_path)
    if not db.exists():
        raise UnusableInputError(f"{db_path}: database not found (set db_path in the parameters "
                                 f"cell to your audit database, e.g. data/audit.duckdb)")
    policy = load_policy(policy_path)
    if audit_dir is not None:
        return _run_from_folder(Path(audit_dir), db, policy, reveal)
    if run_id is None:
        as_of_ts, _ = parse_as_of(as_of if as_of is not None
                                   else datetime.now(ZoneInfo(policy.timezone)).date(),
                                   policy.timezone)
        if reveal:
            res = audit(db, as_of_ts, policy, reveal=True, store=False)
            findings = res.findings_frame()
            findings["details"] = findings["details"].map(lambda s: json.loads(s) if s else {})
            findings["due_date"] = pd.to_datetime(findings["due_date"])
            findings["days_overdue"] = findings["days_overdue"].astype("Int64")
            return _assemble(res.run_id, res.as_of.isoformat(), res.as_of_date, True,
                             "ad-hoc revealed run (not stored)", db, policy,
                             res.rules_frame(), findings, "")
        run_id = stored_run_for(db, as_of_ts, policy)
        source = "stored run"
        if run_id is None:
            res = audit(db, as_of_ts, policy, out=Path(out_dir) / "audit" if out_dir else None)
            run_id, source = res.run_id, "new run"
    else:
        source = "stored run"
    run, rules_df, findings = load_run(db, run_id)
    row = run.iloc[0]
    revealed = bool(row.get("revealed"))
    if revealed and not reveal:
        raise PrivauditError(f"run {run_id} was made with reveal=True: set reveal = True to show "
                             f"it (authorised investigations only)")
    if policy_path is None and row.get("policy") and Path(str(row["policy"])).is_file():
        policy = load_policy(row["policy"])
    as_of_date = pd.Timestamp(row["as_of_date"]).date()
    out = _assemble(run_id, pd.Timestamp(row["as_of"]).isoformat(), as_of_date, revealed, source,
                    db, policy, rules_df, findings, str(row.get("started_at", "")))
    if as_of is not None and run_id is not None and source == "stored run":
        try:
            _, wanted = parse_as_of(as_of, policy.timezone)
            if wanted != as_of_date:
                out.notes.append(f"as_of {wanted} was given, but run {run_id} is as of {as_of_date}")
        except PrivauditError:
            pass
    return out


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
    from .ingest import connect

    out = pd.Series([None] * len(findings), index=findings.index, dtype="object")
    for table, group in findings.groupby("subject_table"):
        t = schema.TABLES_BY_NAME.get(table)
        if t is None or t.event_time is None:
            continue
        keys = sorted(set(group["subject_id"].astype(str)))
        try:
            con = connect(run.db_path, read_only=True, timezone=run.policy.timezone)
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
            out.extend(v if v else ["(none)"])
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("(none)")
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
                rows.append("(none)" if r is None else str(r))
                cols.append("(none)" if c is None else str(c))
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
    from .ingest import connect

    as_of_ts, _ = parse_as_of(run.as_of, run.policy.timezone)
    con = connect(run.db_path, read_only=True, timezone=run.policy.timezone)
    try:
        prepare(con, run.policy, as_of_ts)
        rows = contact_counts(con)
    finally:
        con.close()
    cols = ["table", "column", "texts", "with_email", "emails", "with_phone", "phones"]
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- display (inside a notebook)

def _display(obj) -> None:
    from IPython.display import display
    display(obj)


def _md(text: str) -> None:
    from IPython.display import Markdown
    _display(Markdown(text))


def show_run(run: AuditRun, rule_ids: Iterable[str] | None = None) -> "Any":
    """The run banner (which run, as of when, which policy, masked or revealed) and rule table."""
    lines = [f"**Audit run** `{run.run_id}` ({run.source}) · **as of** {run.as_of_date} · "
             f"**policy** {Path(run.policy.source).name or 'default'} "
             f"(sha256 {run.policy.sha256[:12]}) · toolkit {__version__}"]
    if run.revealed:
        lines.append("> **REVEALED**: evidence below is *not* masked. Authorised investigation "
                     "only; do not share this notebook or its HTML.")
    else:
        lines.append("Evidence is masked (contract section 6); names and free text never appear.")
    lines.extend(f"> Note: {n}" for n in run.notes)
    _md("\n\n".join(lines))
    table = rule_table(run, rule_ids)
    if len(table):
        _display(table)
    return table


def _esc_md(s: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|$])", r"\\\1", s or "")


def show_rule(run: AuditRun, rule_id: str, plots: bool = True) -> "Any":
    """Statement clause, basis, headline numbers and the age and onset plots of one rule.
    Returns the rule's findings (masked) for the notebook's breakdowns."""
    r = run.rule(rule_id)
    h = rule_headline(run, rule_id)
    pop = "–" if h["population"] is None else f"{h['population']:,}"
    pct = "–" if h["percent"] is None else f"{h['percent']:.1f} %"
    text = [
        f"**{rule_id}** · severity **{h['severity']}** · status *{h['status']}* · statement "
        f"clause **{_esc_md(r.get('clause'))}** · basis: {_esc_md(r.get('basis'))}",
        f"> *„{_esc_md(r.get('quote'))}\"* (privacy statement, clause {_esc_md(r.get('clause'))})"
        if r.get("quote") else "",
        "| population | violations | % | excluded (hold / fiscal) | customers affected | "
        "oldest overdue (days) |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| {pop} | {h['violations']:,} | {pct} | {h['excluded']:,} | {h['customers']:,} | "
        f"{'–' if h['oldest_days_overdue'] is None else h['oldest_days_overdue']} |",
    ]
    if h["status"] == "not_evaluable":
        text.append(f"**Not evaluable**: the export lacks {_esc_md(h['missing'])} (DQ-003).")
    elif h["status"] == "error":
        text.append(f"**Error** while evaluating: {_esc_md(h['error'])}")
    elif h["status"] == "disabled":
        text.append("Disabled in the policy.")
    elif h["missing"]:
        text.append(f"Optional tables absent (not checked): {_esc_md(h['missing'])}.")
    _md("\n\n".join(t for t in text if t))
    f = run.findings_of(rule_id)
    if plots and len(f):
        plot_timing(run, f, rule_id)
    elif h["status"] == "evaluated" and not len(f):
        _md(f"No violations of {rule_id} in this run.")
    return f


def show_figure(fig, alt: str | None = None) -> None:
    """Display a matplotlib figure with alternative text (its titles by default) and close it."""
    import matplotlib.pyplot as plt

    if alt is None:
        titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
        titles += [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
        alt = "; ".join(titles[:6]) or "Chart"
    _display_fig(fig, alt)
    plt.close(fig)


def _display_fig(fig, alt: str) -> None:
    from IPython.display import display
    display(fig, metadata={"image/png": {"alt": alt}})


def _month_bars(ax, trend, title: str, xlabel: str, color: str) -> None:
    ax.bar(range(len(trend)), trend.values, color=color)
    step = max(1, -(-len(trend) // 12))
    ax.set_xticks(range(0, len(trend), step))
    ax.set_xticklabels(list(trend.index)[::step], rotation=45, ha="right", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Findings")


def plot_timing(run: AuditRun, findings, rule_id: str) -> None:
    """Days-overdue histogram and onset trend (when the rule has due dates) and the trend by
    month of the record itself."""
    import matplotlib.pyplot as plt

    has_due = bool(findings["due_date"].notna().any())
    created = by_record_month(run, findings)
    panels = (2 if has_due else 0) + (1 if len(created) else 0)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(4.8 * panels + 0.6, 3.4), squeeze=False)
    axes = list(axes[0])
    if has_due:
        b = overdue_buckets(findings)
        ax = axes.pop(0)
        ax.bar(b.index, b.values, color="#c0392b")
        ax.set_title(f"{rule_id}: how long overdue")
        ax.set_xlabel("Days past the due date")
        ax.set_ylabel("Findings")
        ax.tick_params(axis="x", labelsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax = axes.pop(0)
        _month_bars(ax, onset_by_month(findings), f"{rule_id}: onset by month",
                    "Month of the due date (onset)", "#2c7fb8")
        ax.yaxis.get_major_locator().set_params(integer=True)
    if len(created):
        ax = axes.pop(0)
        _month_bars(ax, created, f"{rule_id}: by month of the record", record_label(findings),
                    "#5b7f95")
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    show_figure(fig)


def plot_counts(counts, title: str, xlabel: str = "Findings", ylabel: str = ""):
    """A horizontal bar chart of counts (a breakdown)."""
    import matplotlib.pyplot as plt

    if counts is None or len(counts) == 0:
        _md(f"*{title}: nothing to show.*")
        return
    counts = counts.sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(counts) + 1.2))
    ax.barh([str(i) for i in counts.index], counts.values, color="#5b7f95")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or (counts.index.name or ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    show_figure(fig)


def show_examples(run: AuditRun, rule_id: str, n: int = 10) -> None:
    """Up to ten masked examples as a table."""
    import pandas as pd

    ex = examples(run, rule_id, n)
    if ex.empty:
        _md(f"*No examples: {rule_id} has no findings in this run.*")
        return
    _md(f"**Examples** ({len(ex)} of {len(run.findings_of(rule_id))}, most overdue first; "
        f"{'REVEALED' if run.revealed else 'masked'} evidence)")
    with pd.option_context("display.max_colwidth", 400):
        _display(ex)


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
        folder = Path(out_dir) / "headline"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{notebook}.json").write_text(json.dumps(headline, indent=2, default=_plain) + "\n",
                                                 encoding="utf-8")
    return headline


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


# ---------------------------------------------------------------- the report

@dataclass
class NotebookResult:
    name: str
    status: str                       # ok | failed
    ipynb: Path
    html: Path | None = None
    seconds: float = 0.0
    error: str = ""                   # one line: the failing cell and the exception
    cell: int | None = None           # the failing cell's position (1-based) in the source notebook
    cell_id: str = ""                 # and its id (nbformat 4.5)
    execution_count: int | None = None
    section: str = ""                 # the heading above the failing cell
    headline: dict | None = None


@dataclass
class ReportResult:
    exit_code: int                    # 0 all notebooks ran, 1 at least one failed
    index: Path
    out_dir: Path
    run_id: str
    as_of_date: date
    revealed: bool
    notebooks: list[NotebookResult]
    rules: list[dict]                 # the per-rule table of the front page
    seconds: float = 0.0

    @property
    def failed(self) -> list[NotebookResult]:
        return [n for n in self.notebooks if n.status != "ok"]

    @property
    def statuses(self) -> dict[str, str]:
        return {n.name: n.status for n in self.notebooks}

    @property
    def headlines(self) -> dict[str, dict | None]:
        return {n.name: n.headline for n in self.notebooks}

    def messages(self) -> list[str]:
        return [n.error for n in self.failed]


def notebook_paths(notebooks: Iterable[str | Path] | None = None) -> list[Path]:
    """The notebooks to run: names from ``notebooks/`` or paths; default all, summary last."""
    if notebooks is None:
        notebooks = NOTEBOOKS
    paths = []
    for nb in notebooks:
        p = Path(nb)
        if p.suffix != ".ipynb":
            p = NOTEBOOK_DIR / f"{nb}.ipynb"
        if not p.is_file():
            raise UnusableInputError(f"{p}: notebook not found")
        paths.append(p)
    return paths


HTML_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
alt="{{ ((output | get_metadata('alt', 'image/png')) or 'Chart') | escape_html }}">
</div>
{%- endblock data_png %}
"""


def to_html(notebook: str | Path, html_path: str | Path, show_code: bool = False) -> Path:
    """An executed notebook as one self-contained HTML file (images inline, no CDN scripts)."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:          # glued values are data for read-back, not for readers
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if SCRAP_MIME not in o.get("data", {})]
    exporter = HTMLExporter(template_name="lab", template_file="privaudit.html.j2",
                            extra_loaders=[jinja2.DictLoader({"privaudit.html.j2": HTML_TEMPLATE})],
                            exclude_input=not show_code, exclude_input_prompt=not show_code,
                            exclude_output_prompt=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body, _ = exporter.from_notebook_node(nb)
    Path(html_path).write_text(body, encoding="utf-8")
    return Path(html_path)


def _failure(source_nb: Path, out_nb: Path, exc: BaseException | None = None) -> dict:
    """Where a notebook failed: the failing cell's 1-based position in the source notebook (as
    seen in JupyterLab), its id, execution count and first line, the section heading above it,
    and a one-line message naming all of that."""
    import nbformat

    name = source_nb.stem
    ename = getattr(exc, "ename", None) or (type(exc).__name__ if exc is not None else "")
    evalue = str(getattr(exc, "evalue", None) or exc or "")
    info = {"cell": None, "cell_id": "", "execution_count": getattr(exc, "exec_count", None),
            "section": "", "source_line": ""}
    try:
        executed = nbformat.read(str(out_nb), as_version=4) if out_nb.is_file() else None
        source = nbformat.read(str(source_nb), as_version=4)
    except Exception:  # noqa: BLE001 - the message stays useful without the cell
        executed = source = None
    failing = None
    if executed is not None:
        for i, c in enumerate(executed.cells):
            if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.outputs):
                failing = i
                break
    if failing is not None:
        cell = executed.cells[failing]
        err = next(o for o in cell.outputs if o.get("output_type") == "error")
        if exc is None:
            ename, evalue = err.get("ename", "Error"), err.get("evalue", "")
        info["cell_id"] = cell.get("id", "")
        info["execution_count"] = cell.get("execution_count") or info["execution_count"]
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        info["source_line"] = lines[0].strip()[:120] if lines else ""
        ids = [c.get("id") for c in source.cells]
        if info["cell_id"] in ids:
            info["cell"] = ids.index(info["cell_id"]) + 1
        for c in executed.cells[:failing][::-1]:
            m = re.search(r"^#+\s*(.+)$", c.source, re.M) if c.cell_type == "markdown" else None
            if m:
                info["section"] = re.sub(r"<[^>]+>", "", m.group(1)).strip()
                break
    evalue = re.sub(r"\x1b\[[0-9;]*m", "", evalue).strip()
    evalue = evalue.splitlines()[0][:300] if evalue else ""
    where = (f"cell {info['cell']} of {len(source.cells)}" if info["cell"] is not None
             else "a cell" if failing is not None else "start-up (no cell ran)")
    if info["execution_count"] is not None:
        where += f" (In [{info['execution_count']}])"
    if info["section"]:
        where += f", section '{info['section']}'"
    if info["source_line"]:
        where += f", `{info['source_line']}`"
    info["error"] = f"{name}.ipynb failed at {where}: {ename}: {evalue}"
    return info


def execute(notebook: Path, out_nb: Path, parameters: dict, kernel: str = "python3") -> NotebookResult:
    """Run one notebook with papermill; a failure is reported, never raised."""
    import papermill as pm

    name = notebook.stem
    t0 = time.perf_counter()
    res = NotebookResult(name, "ok", out_nb)
    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=parameters, kernel_name=kernel,
                            progress_bar=False, log_output=False, cwd=str(notebook.parent))
    except Exception as e:  # noqa: BLE001 - a cell, the kernel's start-up, a bad notebook...
        info = _failure(notebook, out_nb, e)
        res.status = "failed"
        res.error, res.cell, res.cell_id = info["error"], info["cell"], info["cell_id"]
        res.execution_count, res.section = info["execution_count"], info["section"]
    res.seconds = round(time.perf_counter() - t0, 2)
    if out_nb.is_file():
        try:
            res.headline = read_scraps(out_nb).get("headline")
        except Exception:  # noqa: BLE001
            res.headline = None
    return res


@contextmanager
def _venv_kernels_first():
    """Put this environment's kernel specs ahead of the user's (``~/.local/share/jupyter``), so
    ``python3`` is this venv's Python with this toolkit, whatever else is installed."""
    here = Path(sys.prefix) / "share" / "jupyter"
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "IPYTHONDIR")}
    if (here / "kernels").is_dir():
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(here)] + ([old["JUPYTER_PATH"]] if old["JUPYTER_PATH"] else []))
    with tempfile.TemporaryDirectory(prefix="privaudit-ipython-") as ipy:
        # a clean IPython profile for the kernels: no user start-up scripts, and no kernel
        # start-up chatter on the terminal ("Kernel is running over TCP ...")
        profile = Path(ipy) / "profile_default"
        profile.mkdir()
        (profile / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'ERROR'\n")
        os.environ["IPYTHONDIR"] = ipy
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def report(db: str | Path, as_of: str | date | datetime, out: str | Path,
           policy: str | Path | None = None, reveal: bool = False, run_id: str | None = None,
           notebooks: Iterable[str | Path] | None = None, kernel: str = "python3",
           show_code: bool = False, progress=None) -> ReportResult:
    """Execute the audit notebooks on one run and write ``out/index.html``.

    One audit run is used throughout: ``run_id`` when given, else ``toolkit.audit`` runs once
    (its outputs in ``out/audit/``) and its run id is passed to every notebook. With
    ``reveal=True`` the run is made unmasked, kept out of the database and handed to the
    notebooks through ``out/audit/``. Each notebook becomes ``out/<name>.ipynb`` and
    ``out/<name>.html``. A failing notebook sets ``exit_code`` 1 and is named with its cell; the
    others and the index are still written.
    """
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = resolve_db(db)
    if not db.exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    paths = notebook_paths(notebooks)
    pol = load_policy(policy)
    audit_dir = None
    if run_id is None:
        say("audit")
        res = audit(db, as_of, pol, out=out / "audit", reveal=reveal, store=not reveal)
        run_id = res.run_id
        if reveal:
            audit_dir = out / "audit"
    else:
        load_run(db, run_id)                    # a missing run is one clear error, before kernels
    run = open_run(db, as_of, policy_path=policy, run_id=None if audit_dir else run_id,
                   reveal=reveal, audit_dir=audit_dir)
    for nb in paths:                            # this execution's files, not a previous one's
        for stale in (out / "headline" / f"{nb.stem}.json", out / f"{nb.stem}.ipynb",
                      out / f"{nb.stem}.html"):
            stale.unlink(missing_ok=True)
    params = {"db_path": str(db.resolve()), "as_of": str(as_of), "out_dir": str(out.resolve()),
              "run_id": run.run_id if audit_dir is None else None, "reveal": bool(reveal),
              "policy_path": None if policy is None else str(Path(pol.source).resolve()),
              "audit_dir": None if audit_dir is None else str(audit_dir.resolve())}
    # The audit notebooks run side by side (each in its own kernel; most of a notebook's time is
    # its kernel starting), the summary after them: it reads their headline numbers.
    audits = [nb for nb in paths if nb.stem != "summary"]
    last = [nb for nb in paths if nb.stem == "summary"]
    workers = max(1, min(len(audits), os.cpu_count() or 1, 4))
    with _venv_kernels_first():
        say(f"notebooks {', '.join(nb.stem for nb in audits)}")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda nb: execute(nb, out / f"{nb.stem}.ipynb", params, kernel),
                                    audits))
        for nb in last:
            say(f"notebook {nb.stem}")
            results.append(execute(nb, out / f"{nb.stem}.ipynb", params, kernel))
    for r in results:
        if r.ipynb.is_file():
            say(f"html {r.name}")
            try:
                r.html = to_html(r.ipynb, out / f"{r.name}.html", show_code=show_code)
            except Exception as e:  # noqa: BLE001 - the others and the index are still written
                r.status = "failed"
                r.error = r.error or (f"{r.name}.ipynb: HTML conversion failed: "
                                      f"{type(e).__name__}: {e}")
    rules = [{**rule_headline(run, rid), "notebook": rule_notebook(rid)}
             for rid in run.rules["rule_id"]]
    result = ReportResult(1 if any(r.status != "ok" for r in results) else 0, out / "index.html",
                          out, run.run_id, run.as_of_date, run.revealed, results, rules)
    result.seconds = round(time.perf_counter() - started, 2)
    write_index(result, run)
    return result


def render(db: str | Path, out: str | Path, run_id: str | None = None,
           as_of: str | date | datetime | None = None, policy: str | Path | None = None,
           sources: str | Path | None = None, show_code: bool = False) -> ReportResult:
    """HTML and ``index.html`` for notebooks already executed into ``out`` by someone else
    (papermill on the command line, Airflow's PapermillOperator): the second half of
    :func:`report`. The run is ``run_id``, else the one the executed notebooks recorded, else the
    latest stored run at ``as_of``. A notebook that papermill marked as failed sets exit code 1;
    one that is missing is reported as failed too."""
    started = time.perf_counter()
    out = Path(out)
    src_dir = Path(sources) if sources is not None else NOTEBOOK_DIR
    results = []
    for name in NOTEBOOKS:
        nb_path = out / f"{name}.ipynb"
        r = NotebookResult(name, "ok", nb_path)
        if not nb_path.is_file():
            r.status, r.error = "failed", f"{name}.ipynb: not executed (no {nb_path})"
            results.append(r)
            continue
        import nbformat
        meta = nbformat.read(str(nb_path), as_version=4).metadata.get("papermill", {})
        r.seconds = round(float(meta.get("duration") or 0.0), 2)
        r.headline = read_scraps(nb_path).get("headline")
        if meta.get("exception"):
            src = src_dir / f"{name}.ipynb"
            info = _failure(src if src.is_file() else nb_path, nb_path)
            r.status, r.error, r.cell, r.cell_id = "failed", info["error"], info["cell"], info["cell_id"]
            r.execution_count, r.section = info["execution_count"], info["section"]
        if run_id is None and r.headline:
            run_id = r.headline.get("run_id")
        r.html = to_html(nb_path, out / f"{name}.html", show_code=show_code)
        results.append(r)
    run = open_run(db, as_of, policy_path=policy, run_id=run_id)
    rules = [{**rule_headline(run, rid), "notebook": rule_notebook(rid)}
             for rid in run.rules["rule_id"]]
    result = ReportResult(1 if any(r.status != "ok" for r in results) else 0, out / "index.html",
                          out, run.run_id, run.as_of_date, run.revealed, results, rules)
    result.seconds = round(time.perf_counter() - started, 2)
    write_index(result, run)
    return result


# ---------------------------------------------------------------- the front page

INDEX_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;color:#1d2330;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem}
.meta{color:#555;font-size:.9rem}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #dde;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
td:first-child{white-space:nowrap}
.sev{display:inline-block;min-width:2.4rem;text-align:center;border-radius:.25rem;color:#fff;
font-weight:600;padding:0 .3rem}.S1{background:#8e1b1b}.S2{background:#c0392b}
.S3{background:#d68910}.S4{background:#7f8c8d}.INFO{background:#95a5a6}
.ok{color:#1e7d32;font-weight:600}.failed{color:#b00020;font-weight:600}
.banner{background:#fdecea;border:1px solid #b00020;padding:.6rem 1rem;border-radius:.3rem}
.viol{font-weight:600;color:#b00020}.zero{color:#1e7d32}
"""


def _h(v) -> str:
    return html.escape("" if v is None else str(v))


def write_index(result: ReportResult, run: AuditRun) -> Path:
    """``index.html``: run identification, notebook status and links, severities, per-rule table.
    Self-contained: inline CSS, no scripts, no external URLs."""
    pol = run.policy
    nb_by_name = {n.name: n for n in result.notebooks}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>privaudit report {_h(result.as_of_date)}</title>",
        f"<style>{INDEX_CSS}</style></head><body>",
        f"<h1>Data-protection audit: {_h(pol.controller.name)}</h1>",
        f'<p class="meta">As of <b>{_h(result.as_of_date)}</b> · run <code>{_h(result.run_id)}</code>'
        f" · policy {_h(Path(pol.source).name)} (sha256 {_h(pol.sha256[:12])}) · statement of "
        f"{_h(pol.statement.date)} · privaudit {_h(__version__)} · generated "
        f"{_h(datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z'))}</p>",
    ]
    if result.revealed:
        parts.append('<p class="banner"><b>REVEALED</b>: this report shows unmasked personal data '
                     "for an authorised investigation. Do not distribute.</p>")
    if result.failed:
        parts.append('<p class="banner"><b>Incomplete</b>: '
                     + "<br>".join(_h(n.error) for n in result.failed) + "</p>")
    # notebooks
    parts.append("<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>rules</th>"
                 "<th>violations</th><th>files</th><th>seconds</th></tr>")
    for n in result.notebooks:
        title = NOTEBOOK_TITLES.get(n.name, n.name)
        link = (f'<a href="{_h(n.html.name)}">{_h(title)}</a>' if n.html else _h(title))
        status = ('<span class="ok">ok</span>' if n.status == "ok"
                  else f'<span class="failed">FAILED</span><br><small>{_h(n.error)}</small>')
        nrules = [r for r in result.rules if r["notebook"] == n.name]
        viol = sum(r["violations"] for r in nrules) if nrules else None
        files = f'<a href="{_h(n.ipynb.name)}">{_h(n.ipynb.name)}</a>' if n.ipynb.is_file() else ""
        parts.append(f"<tr><td>{link}</td><td>{status}</td>"
                     f"<td>{_h(', '.join(r['rule_id'] for r in nrules))}</td>"
                     f'<td class="n">{"" if viol is None else viol}</td><td>{files}</td>'
                     f'<td class="n">{n.seconds:.1f}</td></tr>')
    parts.append("</table>")
    # severities
    parts.append("<h2>Severities</h2><table><tr><th>severity</th><th>rules</th>"
                 "<th>rules violated</th><th>violations of these rules</th>"
                 "<th>findings at this severity</th></tr>")
    per_finding = run.findings["severity"].value_counts().to_dict()
    for sev in SEVERITIES:
        rs = [r for r in result.rules if r["severity"] == sev]
        if not rs and not per_finding.get(sev):
            continue
        parts.append(f'<tr><td><span class="sev {sev}">{sev}</span></td><td class="n">{len(rs)}</td>'
                     f'<td class="n">{sum(1 for r in rs if r["violations"])}</td>'
                     f'<td class="n">{sum(r["violations"] for r in rs)}</td>'
                     f'<td class="n">{int(per_finding.get(sev, 0))}</td></tr>')
    parts.append("</table><p class=\"meta\">S1 critical · S2 high · S3 medium · S4 low "
                 "(rule-catalogue.md 0.3); a finding may be escalated above its rule's "
                 "severity.</p>")
    # rules
    parts.append("<h2>Rules</h2><table><tr><th>rule</th><th>title</th><th>severity</th>"
                 "<th>status</th><th>population</th><th>violations</th><th>%</th>"
                 "<th>excluded</th><th>notebook</th></tr>")
    for r in result.rules:
        nb = nb_by_name.get(r["notebook"] or "")
        rid = _h(r["rule_id"])
        rule_cell = (f'<a href="{_h(nb.html.name)}#{rid}">{rid}</a>' if nb and nb.html else rid)
        nb_cell = (f'<a href="{_h(nb.html.name)}">{_h(NOTEBOOK_TITLES.get(nb.name, nb.name))}</a>'
                   if nb and nb.html else _h(r["notebook"] or ""))
        status = _h(r["status"]) + (f"<br><small>{_h(r['missing'] or r['error'])}</small>"
                                    if r["status"] in ("not_evaluable", "error") else "")
        vcls = "viol" if r["violations"] else "zero"
        pct = "" if r["percent"] is None else f"{r['percent']:.1f}"
        pop = "" if r["population"] is None else r["population"]
        parts.append(
            f"<tr><td>{rule_cell}</td><td>{_h(r['title'])}</td>"
            f'<td><span class="sev {_h(r["severity"])}">{_h(r["severity"])}</span></td>'
            f'<td>{status}</td><td class="n">{pop}</td>'
            f'<td class="n {vcls}">{r["violations"]}</td><td class="n">{pct}</td>'
            f'<td class="n">{r["excluded"]}</td><td>{nb_cell}</td></tr>')
    parts.append("</table>")
    audit_files = [p for p in ("findings.csv", "rules.csv", "manifest.json")
                   if (result.out_dir / "audit" / p).is_file()]
    if audit_files:
        parts.append("<p class=\"meta\">Audit outputs (contract section 6): "
                     + " · ".join(f'<a href="audit/{p}">{p}</a>' for p in audit_files) + "</p>")
    gate_page = result.out_dir / "gate" / "index.html"
    if gate_page.is_file():      # written by `privaudit run` (the gate's own sanitised page)
        parts.append('<p class="meta">Great Expectations gate: <a href="gate/index.html">'
                     "gate results</a>" + (' · <a href="gate/junit.xml">JUnit</a>'
                                           if (result.out_dir / "gate" / "junit.xml").is_file()
                                           else "") + "</p>")
    parts.append("</body></html>")
    result.index.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return result.index
