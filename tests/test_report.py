"""The audit notebooks and the HTML report (issue 7): every notebook executed with papermill on a
small generated shop; recorded numbers against the audit's findings; no personal data in any
output; the front page; a failing notebook; the notebooks in the repository.

One report run (module fixture) is shared by most tests: papermill starts a kernel per notebook.
"""

from __future__ import annotations

import html as htmlmod
import json
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


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    generate(base / "export", customers=250, seed=0)
    db = base / "audit.duckdb"
    toolkit.load(base / "export", db=db)
    result = rp.report(db, AS_OF, base / "out")
    return {"base": base, "db": db, "out": base / "out", "result": result,
            "export": base / "export"}


def findings_per_rule(db, run_id) -> dict[str, int]:
    _, rules, findings = load_run(db, run_id)
    counts = Counter(findings["rule_id"])
    return {r: counts.get(r, 0) for r in rules["rule_id"]}


# ---------------------------------------------------------------- the report ran

def test_every_notebook_ran_into_out(shop):
    res, out = shop["result"], shop["out"]
    assert res.exit_code == 0, res.messages()
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
    for needle in ("RET-001", "excluded (hold / fiscal)", "Residue by table", "**Examples**",
                   "Questions for the controller", "bewaart persoonsgegevens", "GDPR Art. 5(1)(e)"):
        assert needle in text, needle
    assert text.count('"image/png"') >= 8           # age, onset and record trends, breakdowns
    ft = json.dumps(nbformat.read(out / "free_text_pii.ipynb", as_version=4))
    assert "Contact data in free text" in ft and "with_email" in ft
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
    assert "http://" not in index and "https://" not in index and "<script" not in index


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
    nb.cells.insert(4, nbformat.v4.new_code_cell('raise RuntimeError("planted failure")'))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    out = tmp_path / "out"
    res = rp.report(shop["db"], AS_OF, out, run_id=shop["result"].run_id,
                    notebooks=[broken, "requests"])
    assert res.exit_code == 1
    assert res.statuses == {"broken": "failed", "requests": "ok"}
    failed = res.failed[0]
    assert "broken.ipynb" in failed.error and "RuntimeError" in failed.error
    assert "planted failure" in failed.error
    assert failed.cell == 5 and "cell 5 of" in failed.error     # as seen in JupyterLab
    assert failed.cell_id == nb.cells[4].id
    assert failed.section.startswith("RET-001")          # the heading above the cell
    assert (out / "requests.html").is_file() and (out / "broken.html").is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and "broken.ipynb failed at cell 5" in index
    assert 'href="requests.html"' in index
    # the given run was reused, not a new one made
    assert res.run_id == shop["result"].run_id


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


# ---------------------------------------------------------------- reveal and helpers (no kernel)

def test_reveal_is_never_stored_nor_shown_unasked(shop, tmp_path):
    db = shop["db"]
    con = duckdb.connect(str(db), read_only=True)
    runs_before = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    con.close()
    run = an.open_run(db, AS_OF, reveal=True)
    assert run.revealed and "not stored" in run.source
    sec = run.findings_of("SEC-001")["evidence"]
    assert len(sec) and not sec.str.contains(r"\*\*\*\*").any()        # card numbers unmasked
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == runs_before
    con.close()
    # a revealed audit folder (how report(reveal=True) hands the run over) needs reveal=True
    toolkit.audit(db, AS_OF, out=tmp_path / "audit", reveal=True, store=False)
    with pytest.raises(PrivauditError, match="reveal"):
        an.open_run(db, AS_OF, audit_dir=tmp_path / "audit")
    shown = an.open_run(db, AS_OF, audit_dir=tmp_path / "audit", reveal=True)
    assert shown.revealed and len(shown.findings) == len(run.findings)


def test_overdue_buckets_follow_the_catalogue():
    f = pd.DataFrame({"days_overdue": pd.array([0, 30, 31, 90, 91, 365, 366, 730, 731, 1826, 1827,
                                                None], dtype="Int64")})
    b = an.overdue_buckets(f)
    assert list(b.index) == [label for label, _, _ in an.BUCKETS]
    assert list(b.values) == [2, 2, 2, 2, 2, 1]
    g = pd.DataFrame({"due_date": pd.to_datetime(["2026-01-15", "2026-03-02", None])})
    assert an.onset_by_month(g).to_dict() == {"2026-01": 1, "2026-02": 0, "2026-03": 1}


# ---------------------------------------------------------------- the notebooks in the repository

def test_repository_notebooks_are_clean_and_parameterised():
    files = sorted(an.NOTEBOOK_DIR.glob("*.ipynb"))
    assert {p.stem for p in files} == set(an.NOTEBOOKS)
    pol = load_policy()
    for p in files:
        nb = nbformat.read(p, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{p.name}: outputs"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{p.name}: {len(tagged)} parameters cells"
        names = set(re.findall(r"^(\w+)\s*=", tagged[0].source, re.M))
        assert {"db_path", "as_of", "policy_path", "out_dir", "run_id", "reveal"} <= names, p.name
        assert nb.metadata.kernelspec.name == "python3"
        headings = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for rid in an.notebook_rules(p.stem, pol):
            assert re.search(rf"^##\s.*{rid}\b", headings, re.M), (p.name, rid)


def test_render_turns_notebooks_executed_elsewhere_into_the_report(shop, tmp_path):
    """The second half of report() for schedulers that run papermill themselves (Airflow)."""
    import shutil
    out = tmp_path / "out"
    out.mkdir()
    for name in an.NOTEBOOKS:
        if name != "cookies":
            shutil.copy(shop["out"] / f"{name}.ipynb", out)
    res = rp.render(shop["db"], out)
    assert res.run_id == shop["result"].run_id            # the run the notebooks recorded
    assert res.exit_code == 1 and [n.name for n in res.failed] == ["cookies"]
    assert "not executed" in res.failed[0].error
    for name in an.NOTEBOOKS:
        assert (out / f"{name}.html").is_file() == (name != "cookies")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and 'href="retention.html"' in index
