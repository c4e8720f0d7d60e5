"""The report (toolkit.report): every notebook executed on a small generated shop into a relative
``out`` from another working directory, with the process never changing its own; recorded
numbers against the audit's findings; no personal data in any output; finished pages; a failing
notebook; papermill directly; ``render`` for notebooks executed elsewhere.

One report run (module fixture) is shared by most tests.
"""

from __future__ import annotations

import html as htmlmod
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import nbformat
import pandas as pd
import pytest

import toolkit
from toolkit import analysis as an
from toolkit import report as rp
from toolkit import schema
from toolkit.exceptions import PrivauditError
from toolkit.findings import load_run
from toolkit.generate import generate
from toolkit.policy import load_policy
from toolkit.rules import catalogue

AS_OF = "2026-10-31"
AUDIT_NOTEBOOKS = an.NOTEBOOKS[:-1]


def _no_chdir(path):
    raise AssertionError(f"os.chdir({path!r}) in the reporting process")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    generate(base / "export", customers=250, seed=0)
    db = base / "audit.duckdb"
    toolkit.load(base / "export", db=db)
    (base / "elsewhere").mkdir()
    # relative paths from another working directory, which nothing may change (papermill's cwd
    # would, for every thread at once)
    said: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base / "elsewhere")
        mp.setattr(os, "chdir", _no_chdir)
        result = rp.report(Path("..") / "audit.duckdb", AS_OF, Path("reports") / "2026-10",
                           progress=said.append)
    return {"base": base, "db": db, "out": base / "elsewhere" / "reports" / "2026-10",
            "result": result, "export": base / "export", "progress": said}


def findings_per_rule(db, run_id) -> dict[str, int]:
    _, rules, findings = load_run(db, run_id)
    counts = Counter(findings["rule_id"])
    return {r: counts.get(r, 0) for r in rules["rule_id"]}


# ---------------------------------------------------------------- the report ran

def test_every_notebook_ran_into_out(shop):
    res, out = shop["result"], shop["out"]
    assert res.exit_code == 0, res.messages()
    assert res.out_dir == out and res.index == out / "index.html"
    assert re.fullmatch(r"8 notebooks: 8 ok in \d+\.\d s", res.tally())
    assert [n.name for n in res.notebooks] == list(an.NOTEBOOKS)
    for n in res.notebooks:
        assert n.status == "ok", n.error
        assert (out / f"{n.name}.ipynb").is_file()
        assert (out / f"{n.name}.html").is_file()
    # the one audit run of the report is stored, and its contract outputs are in out/audit
    assert (out / "audit" / "findings.csv").is_file()
    run, _, _ = load_run(shop["db"], res.run_id)
    assert not bool(run.iloc[0]["revealed"])
    # every notebook showed that run (papermill keeps the parameters in the metadata)
    for name in an.NOTEBOOKS:
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        assert nb.metadata.papermill.parameters["run_id"] == res.run_id
    # the status line counts notebooks done out of all of them
    n = len(an.NOTEBOOKS)
    counts = [m for m in shop["progress"] if m.startswith("notebooks ")]
    assert counts == [f"notebooks {i}/{n} done" for i in range(n + 1)], shop["progress"]


def test_recorded_numbers_equal_the_audits_findings(shop):
    res, out, db = shop["result"], shop["out"], shop["db"]
    counts = findings_per_rule(db, res.run_id)
    csv = pd.read_csv(out / "audit" / "findings.csv")
    assert dict(Counter(csv["rule_id"])) == {r: n for r, n in counts.items() if n}
    seen = {}
    for name in AUDIT_NOTEBOOKS:
        glued = an.read_scraps(out / f"{name}.ipynb")["headline"]
        sidecar = json.loads((out / "headline" / f"{name}.json").read_text(encoding="utf-8"))
        assert glued == sidecar
        assert glued == res.headlines[name]
        assert glued["run_id"] == res.run_id
        for rid, h in glued["rules"].items():
            assert h["violations"] == counts[rid], (name, rid)
            assert h["findings"] == counts[rid], (name, rid)
            seen[rid] = name
    # every rule of the run is presented by exactly the notebook of its family
    assert set(seen) == set(counts)
    assert all(an.rule_notebook(r) == nb for r, nb in seen.items())
    # the summary read the six notebooks' numbers back
    summary = an.read_scraps(out / "summary.ipynb")["headline"]
    assert sorted(summary["notebooks_recorded"]) == sorted(AUDIT_NOTEBOOKS)
    assert summary["notebooks_missing"] == []
    assert summary["totals"]["violations"] == sum(counts.values())
    assert summary["history_dates"] == [AS_OF]


def test_notebooks_show_the_reporting_standard(shop):
    out = shop["out"]
    nb = nbformat.read(out / "retention.ipynb", as_version=4)
    text = json.dumps(nb)
    for needle in ("RET-001", "excluded (hold / fiscal)", "Residue by table", "Examples (",
                   "Questions for the controller", "bewaart persoonsgegevens", "GDPR Art. 5(1)(e)"):
        assert needle in text, needle
    assert text.count('"image/png"') >= 8           # age, onset and record trends, breakdowns
    ft = json.dumps(nbformat.read(out / "free_text_pii.ipynb", as_version=4))
    assert "Contact data in free text" in ft and "texts with an e-mail address" in ft
    glued = an.read_scraps(out / "free_text_pii.ipynb")["headline"]
    assert {c["table"] for c in glued["contact_counts"]} >= {"chat_messages"}


# ---------------------------------------------------------------- no personal data

def personal_values(db: Path) -> dict[str, set[str]]:
    """Raw personal values in the database, by kind (names, e-mails, phones, IBANs, cards, text)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns").fetchall()}
        out: dict[str, set[str]] = {k: set() for k in ("name", "email", "phone", "iban", "card", "text")}
        for t in schema.TABLES:
            for c in t.columns:
                if c.pii in out and (t.name, c.name) in present and not c.is_list:
                    vals = con.execute(f'SELECT DISTINCT CAST("{c.name}" AS VARCHAR) FROM "{t.name}" '
                                       f'WHERE "{c.name}" IS NOT NULL').fetchall()
                    out[c.pii].update(v for (v,) in vals if v and v.strip())
        full = con.execute("SELECT DISTINCT first_name || ' ' || last_name FROM customers "
                           "WHERE first_name IS NOT NULL AND last_name IS NOT NULL").fetchall()
        out["name"].update(v for (v,) in full)
    finally:
        con.close()
    return out


def needles(values: dict[str, set[str]]) -> list[tuple[str, str, bool]]:
    """(kind, literal, whole word?) for every personal value worth looking for."""
    out = []
    for kind, vals in values.items():
        for v in vals:
            v = v.strip()
            if kind == "name":
                if " " in v or len(v) >= 5:   # full names and surnames; not short first names
                    out.append((kind, v, True))
            elif kind == "email":
                out.append((kind, v.lower(), False))
            elif kind in ("phone", "card", "iban"):
                digits = re.sub(r"\s", "", v) if kind == "iban" else re.sub(r"\D", "", v)
                if len(re.sub(r"\D", "", v)) < 8:   # a CVV, an expiry: not identifying alone
                    continue
                out.append((kind, v, False))
                if digits != v:
                    out.append((kind, digits, True))
            elif kind == "text" and len(v) >= 20:
                out.extend((kind, piece, False) for piece in {v[:40], v[-40:]})
    return out


def readable_text(path: Path) -> str:
    """What a reader (or a leak) can see in an output file, without inline images and CSS."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        nb = json.loads(raw)
        parts = []

        def walk(x):
            if isinstance(x, dict):
                for k, v in x.items():
                    if k.startswith("image/"):
                        continue
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
            elif isinstance(x, str):
                parts.append(x)
        walk(nb)
        return "\n".join(parts)
    if path.suffix == ".html":
        raw = re.sub(r"<style[^>]*>.*?</style>", " ", raw, flags=re.S)
        raw = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=\s]+", " ", raw)
        return htmlmod.unescape(raw)
    return raw


def leaks(files: list[Path], pats) -> list[str]:
    found = []
    for f in files:
        text = readable_text(f)
        lower = text.lower()
        for kind, lit, whole in pats:
            hay = lower if kind == "email" else text
            if lit not in hay:
                continue
            if whole and not re.search(r"(?<!\w)" + re.escape(lit) + r"(?!\w)", hay):
                continue
            found.append(f"{f.name}: {kind} {lit!r}")
    return found


def test_no_personal_data_in_any_output(shop):
    pats = needles(personal_values(shop["db"]))
    assert len(pats) > 500          # the shop has names, e-mails, phones, IBANs and texts
    files = [p for p in shop["out"].rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert len(files) >= 2 * len(an.NOTEBOOKS) + 1
    assert leaks(files, pats) == []


def test_the_scan_finds_personal_data_where_it_is(shop):
    """The scan is not blind: the raw exports and an unmasked HTML page are caught."""
    pats = needles(personal_values(shop["db"]))
    exports = [p for p in shop["export"].iterdir() if p.name.startswith(("customers.", "chat_messages."))]
    assert leaks(exports, pats)
    con = duckdb.connect(str(shop["db"]), read_only=True)
    email, name = con.execute("SELECT email, last_name FROM customers WHERE email IS NOT NULL "
                              "AND length(last_name) >= 5 LIMIT 1").fetchone()
    con.close()
    page = shop["base"] / "leak.html"
    page.write_text(f"<html><body><p>{htmlmod.escape(email)} {htmlmod.escape(name)}</p></body></html>")
    assert len(leaks([page], pats)) >= 2


# ---------------------------------------------------------------- the front page and HTML

def test_index_links_every_notebook_and_lists_every_rule(shop):
    index = (shop["out"] / "index.html").read_text(encoding="utf-8")
    hrefs = set(re.findall(r'href="([^"]+)"', index))
    for name in an.NOTEBOOKS:
        assert f"{name}.html" in hrefs
    pol = load_policy()
    for c in catalogue(pol):
        assert f">{c['rule_id']}<" in index
        assert f"{an.rule_notebook(c['rule_id'])}.html#{c['rule_id']}" in hrefs
        assert c["title"] in htmlmod.unescape(index)
    for sev in ("S1", "S2", "S3", "S4"):
        assert f'class="sev {sev}"' in index
    # the statement's quotes name its web site as text; nothing is loaded or linked outside
    assert not re.search(r'(href|src)="https?:', index) and "<script" not in index
    assert "8 notebooks: 8 ok in" in index


def test_the_front_page_gives_a_verdict_per_promise(shop):
    index = (shop["out"] / "index.html").read_text(encoding="utf-8")
    text = htmlmod.unescape(index)
    pol = load_policy()
    checked = {c for rid in pol.rules for c in pol.rule_clauses(rid)}
    assert checked == set(re.findall(r'<tr id="clause-([^"]+)">', index))
    for clause in checked:
        row = index[index.index(f'<tr id="clause-{clause}">'):]
        row = row[:row.index("</tr>")]
        assert pol.clauses[clause].quote in htmlmod.unescape(row)
        assert re.search(r'class="verdict (complies|violated|not-evaluable)"', row), clause
        for rid in pol.rules:
            if clause in pol.rule_clauses(rid):
                assert f">{rid}<" in row, (clause, rid)
    # the planted shop breaks every promise; the gate did not run into this folder
    assert "15 promises: 0 kept, 15 violated, 0 not evaluable." in text
    assert "did not run with this report" in text


def test_notebook_pages_look_finished(shop):
    for name in an.NOTEBOOKS:
        page = (shop["out"] / f"{name}.html").read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        heading = re.search(r'<h1 id="[^"]*">(.*?)<a', page).group(1)
        assert title == heading, (name, title, heading)
        assert '<a href="index.html">← Audit report (front page)</a>' in page, name
        text = readable_text(shop["out"] / f"{name}.html")
        for word in ("contract section", "catalogue (", "rule-catalogue", "toolkit.", "DQ-003",
                     "dtype", "<out_dir>", "scrapbook", "NaN", "<NA>", "None", "Warning"):
            assert word not in text, (name, word)
        # tables: no 0-based row numbers, the styled ones only
        assert 'class="row_heading' not in page and "dataframe" not in page, name
        if name != "summary":
            assert "white-space: nowrap" in page and "text-align: right" in page, name
    summary = readable_text(shop["out"] / "summary.html")
    assert "The history appears from the second audit date on" in summary   # one run: no chart
    assert "Violations per rule:" not in summary
    assert history_images(shop["out"] / "summary.ipynb") == 0


def history_images(executed: Path) -> int:
    """Charts in the summary's history section (from its heading to the next one)."""
    nb = nbformat.read(executed, as_version=4)
    start = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "markdown" and c.source.startswith("## History"))
    end = next(i for i, c in enumerate(nb.cells)
               if i > start and c.cell_type == "markdown" and c.source.startswith("## "))
    return sum("image/png" in o.get("data", {}) for c in nb.cells[start:end]
               if c.cell_type == "code" for o in c.outputs)


def test_the_history_appears_from_the_second_audit_date_on(shop, tmp_path):
    import shutil

    db = tmp_path / "two_dates.duckdb"
    shutil.copy(shop["db"], db)
    toolkit.audit(db, "2026-09-30")                 # a second stored run, a month earlier
    r = rp.execute(an.NOTEBOOK_DIR / "summary.ipynb", tmp_path / "summary.ipynb",
                   {"db_path": str(db), "as_of": AS_OF})
    assert r.status == "ok", r.error
    assert r.headline["history_dates"] == ["2026-09-30", AS_OF]
    assert r.headline["run_id"] == shop["result"].run_id      # the latest run of that date
    assert history_images(tmp_path / "summary.ipynb") == 1
    text = readable_text(rp.to_html(tmp_path / "summary.ipynb", tmp_path / "summary.html"))
    assert f"2 audit dates: 2026-09-30, {AS_OF}" in text
    assert f"Violations per rule: 2026-09-30 and {AS_OF}" in text
    assert "The history appears from the second audit date on" not in text


def test_notebook_html_loads_nothing_from_the_network(shop):
    for name in an.NOTEBOOKS:
        page = (shop["out"] / f"{name}.html").read_text(encoding="utf-8")
        assert not re.search(r'<script[^>]+src="https?:', page), name
        assert not re.search(r'<link[^>]+href="https?:', page), name
        assert not re.search(r"@import\s+url\(\s*['\"]?https?:", page), name
        for rid in an.notebook_rules(name) if name != "summary" else []:
            assert f'id="{rid}"' in page, (name, rid)


# ---------------------------------------------------------------- a failing notebook

def test_a_failing_notebook_is_named_and_the_others_are_written(shop, tmp_path):
    nb = nbformat.read(an.NOTEBOOK_DIR / "retention.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell('import os\nprint("cwd:", os.getcwd())\n'
                                                 'raise RuntimeError("planted failure")'))
    (tmp_path / "mine").mkdir()
    broken = tmp_path / "mine" / "broken.ipynb"
    nbformat.write(nb, broken)
    out = tmp_path / "out"
    # one kernel: requests runs after the failure, in a fresh kernel
    res = rp.report(shop["db"], AS_OF, out, run_id=shop["result"].run_id,
                    notebooks=[broken, "requests"], kernels=1)
    assert res.exit_code == 1
    assert res.statuses == {"broken": "failed", "requests": "ok"}
    failed = res.failed[0]
    assert "broken.ipynb" in failed.error and "RuntimeError" in failed.error
    assert "planted failure" in failed.error
    assert failed.cell == 5 and "cell 5 of" in failed.error     # as seen in JupyterLab
    assert failed.cell_id == nb.cells[4].id
    assert failed.section.startswith("RET-001")          # the heading above the cell
    # the failing line is quoted, not the cell's first line
    assert failed.line == 'raise RuntimeError("planted failure")'
    assert 'line `raise RuntimeError("planted failure")`' in failed.error
    assert (out / "requests.html").is_file() and (out / "broken.html").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and "broken.ipynb failed at cell 5" in index
    assert 'href="requests.html"' in index
    # the given run was reused, not a new one made
    assert res.run_id == shop["result"].run_id
    # the kernel worked in the notebook's own folder
    executed = json.dumps(nbformat.read(out / "broken.ipynb", as_version=4).dict())
    assert f"cwd: {tmp_path / 'mine'}" in executed


def test_a_bad_parameter_is_named_as_the_notebook_calls_it(shop, tmp_path):
    res = rp.execute(an.NOTEBOOK_DIR / "requests.ipynb", tmp_path / "requests.ipynb",
                     {"db_path": str(shop["db"]), "as_of": "2026-13-45"})
    assert res.status == "failed"
    assert "PrivauditError: as_of = '2026-13-45' is not a date" in res.error
    assert res.line.startswith("run = an.open_run(db_path, as_of")
    assert "--as-of" not in res.error


# ---------------------------------------------------------------- papermill directly

def test_a_notebook_runs_directly_with_papermill(shop, tmp_path):
    papermill = Path(sys.executable).parent / "papermill"
    con = duckdb.connect(str(shop["db"]), read_only=True)
    runs_before = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    con.close()
    out_nb = tmp_path / "requests.ipynb"
    proc = subprocess.run([str(papermill), str(an.NOTEBOOK_DIR / "requests.ipynb"), str(out_nb),
                           "-p", "db_path", str(shop["db"]), "-p", "as_of", AS_OF, "-k", "python3",
                           "--no-progress-bar"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    headline = an.read_scraps(out_nb)["headline"]
    # no run_id given: the stored run at that as_of is shown, no new audit is made
    assert headline["run_id"] == shop["result"].run_id
    con = duckdb.connect(str(shop["db"]), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == runs_before
    con.close()


def test_render_turns_notebooks_executed_elsewhere_into_the_report(shop, tmp_path):
    """The second half of report() for schedulers that run papermill themselves (Airflow)."""
    import shutil
    from typer.testing import CliRunner

    from toolkit.cli import app

    out = tmp_path / "out"
    out.mkdir()
    for name in an.NOTEBOOKS:
        if name != "cookies":
            shutil.copy(shop["out"] / f"{name}.ipynb", out)
    res = rp.render(out)                                  # the database the notebooks used
    assert res.run_id == shop["result"].run_id            # the run the notebooks recorded
    assert res.exit_code == 1 and [n.name for n in res.failed] == ["cookies"]
    assert "not executed" in res.failed[0].error
    for name in an.NOTEBOOKS:
        assert (out / f"{name}.html").is_file() == (name != "cookies")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and 'href="retention.html"' in index
    # the command line twin
    shutil.copy(shop["out"] / "cookies.ipynb", out)
    cli = CliRunner().invoke(app, ["render", "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert "report: 8 notebooks: 8 ok" in cli.output and len(re.findall(r"^  ok ", cli.output, re.M)) == 8
    with pytest.raises(PrivauditError, match="no such folder"):
        rp.render(tmp_path / "missing")
