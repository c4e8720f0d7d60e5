"""The report's front page, ``index.html``, rendered from ``templates/report.html.j2``.

The page identifies the run, links every notebook with its status, and shows severities and the
per-rule table. It is self-contained: inline CSS (``templates/report.css``), no scripts, no
external URLs. Jinja2 escapes every value (autoescape).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .analysis import NOTEBOOK_TITLES, SEVERITIES, AuditRun

if TYPE_CHECKING:
    from .report import ReportResult

TEMPLATES = Path(__file__).parent / "templates"


def environment():
    """The Jinja2 environment of the package's templates (autoescaped)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


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
    rules = []
    for r in result.rules:
        nb = nb_by_name.get(r["notebook"] or "")
        linked = nb is not None and nb.html is not None
        rules.append({
            "rule_id": r["rule_id"], "title": r["title"], "severity": r["severity"],
            "status": r["status"],
            "note": (r["missing"] or r["error"]) if r["status"] in ("not_evaluable", "error") else "",
            "population": "" if r["population"] is None else r["population"],
            "violations": r["violations"],
            "percent": "" if r["percent"] is None else f"{r['percent']:.1f}",
            "excluded": r["excluded"],
            "href": f"{nb.html.name}#{r['rule_id']}" if linked else None,
            "notebook_href": nb.html.name if linked else None,
            "notebook_title": (NOTEBOOK_TITLES.get(nb.name, nb.name) if linked
                               else (r["notebook"] or ""))})
    gate_dir = result.out_dir / "gate"
    return {
        "as_of_date": result.as_of_date, "run_id": result.run_id,
        "controller": pol.controller.name, "policy_name": Path(pol.source).name,
        "policy_sha": pol.sha256[:12], "statement_date": pol.statement.date,
        "version": __version__,
        "generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "revealed": result.revealed, "failed": result.failed, "notebooks": notebooks,
        "severities": severities, "rules": rules,
        "audit_files": [p for p in ("findings.csv", "rules.csv", "manifest.json")
                        if (result.out_dir / "audit" / p).is_file()],
        # written by `privaudit run` (the gate's own sanitised page)
        "gate_page": (gate_dir / "index.html").is_file(),
        "gate_junit": (gate_dir / "junit.xml").is_file(),
    }


def write_index(result: "ReportResult", run: AuditRun) -> Path:
    """Write ``index.html`` into the report's folder; returns its path."""
    html = environment().get_template("report.html.j2").render(**page_data(result, run))
    result.index.write_text(html, encoding="utf-8")
    return result.index
