"""The report's front page, ``index.html``, rendered from ``templates/report.html.j2``.

What a DPO reads first: for each clause of the privacy statement (with its Dutch quote) a
verdict (complies, violated, not evaluable) from the rules that check it; the CI gate's result
and coverage when it ran into ``OUT/gate`` (``gate.json``); then the notebooks with their status,
the severities and the per-rule table. The page is self-contained: inline CSS
(``templates/report.css``), no scripts, no external URLs; Jinja2 escapes every value.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, outputs
from .analysis import NOTEBOOK_TITLES, SEVERITIES, AuditRun

if TYPE_CHECKING:
    from .report import ReportResult

TEMPLATES = Path(__file__).parent / "templates"

#: verdict of a clause -> CSS class
VERDICTS = {"complies": "complies", "violated": "violated", "not evaluable": "not-evaluable",
            "not checked": "not-checked"}


def environment():
    """The Jinja2 environment of the package's templates (autoescaped)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _clause_key(clause: str):
    """Natural order of clause ids: 1.2 < 1.10 < 2 < 2(a) < 3.1."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[a-z]+", clause)]


def verdict(rules: list[dict]) -> str:
    """A clause's verdict from its rules: violated when one has violations, not evaluable when
    one could not be evaluated (missing data, an error), not checked when all are disabled,
    else complies."""
    if any(r["violations"] for r in rules):
        return "violated"
    if any(r["status"] in ("not_evaluable", "error", "not in this run") for r in rules):
        return "not evaluable"
    if all(r["status"] == "disabled" for r in rules):
        return "not checked"
    return "complies"


def promises(result: "ReportResult", run: AuditRun, hrefs: dict[str, str]) -> list[dict]:
    """One row per statement clause checked by a rule: its title and quote (the policy's
    ``clauses``), its verdict and its rules."""
    pol = run.policy
    by_clause: dict[str, list[dict]] = {}
    for r in result.rules:
        for clause in pol.rule_clauses(r["rule_id"]) if r["rule_id"] in pol.rules else []:
            by_clause.setdefault(clause, []).append(r)
    rows = []
    for clause in sorted(by_clause, key=_clause_key):
        rules = by_clause[clause]
        info = pol.clauses.get(clause)
        v = verdict(rules)
        rows.append({
            "clause": clause, "title": info.title if info else f"Clause {clause}",
            "quote": info.quote if info else "", "verdict": v, "css": VERDICTS[v],
            "rules": [{"rule_id": r["rule_id"], "title": r["title"],
                       "href": hrefs.get(r["rule_id"]), "summary": _rule_summary(r)}
                      for r in rules]})
    return rows


def _rule_summary(r: dict) -> str:
    if r["status"] == "evaluated":
        if not r["violations"]:
            return " kept"
        pop = f" of {r['population']:,}" if r["population"] else ""
        return f" {r['violations']:,}{pop} violate"
    if r["status"] == "not_evaluable":
        return f" not evaluable: missing {r['missing']}" if r["missing"] else " not evaluable"
    return f" {r['status'].replace('_', ' ')}"


def gate_box(out_dir: Path, as_of_date, limit: int = 8) -> dict | None:
    """The gate's result from ``OUT/gate/gate.json`` (written by ``privaudit run`` or
    ``privaudit gate --docs OUT/gate``), or None when the gate did not run into this folder."""
    path = out_dir / "gate" / "gate.json"
    if not path.is_file():
        return None
    try:
        g = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    code = g.get("exit_code")
    lines = [ln for ln in g.get("lines") or [] if not ln.startswith(("warn ", "N/A "))]
    return {"exit_code": code, "fail_on": g.get("fail_on"), "summary": g.get("summary", ""),
            "verdict": {0: "Passed", 1: "Failed: the policy is violated"}.get(
                code, "Could not decide: something could not be evaluated or run"),
            "problems": lines[:limit], "more": max(0, len(lines) - limit),
            "as_of_date": g.get("as_of_date"), "stale": g.get("as_of_date") != str(as_of_date),
            "junit": (out_dir / "gate" / "junit.xml").is_file()}


def page_data(result: "ReportResult", run: AuditRun) -> dict:
    """What the front page shows, as plain values for the template."""
    pol = run.policy
    nb_by_name = {n.name: n for n in result.notebooks}
    notebooks = []
    for n in result.notebooks:
        nrules = [r for r in result.rules if r["notebook"] == n.name]
        notebooks.append({
            "title": NOTEBOOK_TITLES.get(n.name, n.name),
            "html": n.html.name if n.html else None, "ok": n.status == "ok", "error": n.error,
            "rules": [r["rule_id"] for r in nrules],
            "violations": sum(r["violations"] for r in nrules) if nrules else None,
            "ipynb": n.ipynb.name if n.ipynb.is_file() else None, "seconds": n.seconds})
    per_finding = run.findings["severity"].value_counts().to_dict()
    severities = []
    for sev in SEVERITIES:
        rs = [r for r in result.rules if r["severity"] == sev]
        if not rs and not per_finding.get(sev):
            continue
        severities.append({"severity": sev, "rules": len(rs),
                           "violated": sum(1 for r in rs if r["violations"]),
                           "violations": sum(r["violations"] for r in rs),
                           "findings": int(per_finding.get(sev, 0))})
    rules, hrefs = [], {}
    for r in result.rules:
        nb = nb_by_name.get(r["notebook"] or "")
        linked = nb is not None and nb.html is not None
        if linked:
            hrefs[r["rule_id"]] = f"{nb.html.name}#{r['rule_id']}"
        rules.append({
            "rule_id": r["rule_id"], "title": r["title"], "severity": r["severity"],
            "status": r["status"].replace("_", " "),
            "note": (r["missing"] or r["error"]) if r["status"] in ("not_evaluable", "error") else "",
            "population": "–" if r["population"] is None else f"{r['population']:,}",
            "violations": r["violations"],
            "percent": "–" if r["percent"] is None else f"{r['percent']:.1f}",
            "excluded": r["excluded"],
            "href": hrefs.get(r["rule_id"]),
            "notebook_href": nb.html.name if linked else None,
            "notebook_title": (NOTEBOOK_TITLES.get(nb.name, nb.name) if linked
                               else (r["notebook"] or ""))})
    rows = promises(result, run, hrefs)
    tally = {"promises": len(rows)}
    for v in VERDICTS:
        tally[v.replace(" ", "_")] = sum(1 for p in rows if p["verdict"] == v)
    return {
        "as_of_date": result.as_of_date, "run_id": result.run_id,
        "controller": pol.controller.name, "policy_name": Path(pol.source).name,
        "policy_sha": pol.sha256[:12], "statement_date": pol.statement.date.strftime("%d-%m-%Y"),
        "version": __version__,
        "generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "revealed": result.revealed, "failed": result.failed, "notebooks": notebooks,
        "notebook_tally": result.tally(), "severities": severities, "rules": rules,
        "promises": rows, "tally": tally, "gate": gate_box(result.out_dir, result.as_of_date),
        "audit_files": [p for p in ("findings.csv", "rules.csv", "manifest.json")
                        if (result.out_dir / "audit" / p).is_file()],
        "requests": open_access(run),
    }


def open_access(run: AuditRun) -> list[dict]:
    """Open access requests at the run's as_of: deadline and whether a package can be produced
    (``toolkit.subject.open_requests``; ids and dates only)."""
    from .subject import open_requests

    df = open_requests(run.db_path, run.as_of, policy=run.policy)
    return [{k: ("" if v is None else v) for k, v in r.items()} for r in df.to_dict("records")]


def write_index(result: "ReportResult", run: AuditRun) -> Path:
    """Write ``index.html`` into the report's folder; returns its path."""
    html = environment().get_template("report.html.j2").render(**page_data(result, run))
    outputs.write_text(result.index, html)
    return result.index
