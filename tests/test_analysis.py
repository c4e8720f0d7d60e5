"""The notebook API (toolkit.analysis): which database and run a notebook opens, that it never
stores a run, the figures it computes, and the repository's notebooks run with their default
parameters from a JupyterLab started at the repository root (kernel in ``notebooks/``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import nbformat
import pandas as pd
import pytest

import toolkit
from toolkit import analysis as an
from toolkit import report as rp
from toolkit.exceptions import PrivauditError, UnusableInputError
from toolkit.generate import generate
from toolkit.policy import load_policy

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small shop with one stored run as of AS_OF, laid out as after `make demo`."""
    repo = tmp_path_factory.mktemp("repo")
    generate(repo / "demo" / "exports", customers=250, seed=3)
    db = repo / "demo" / "audit.duckdb"
    toolkit.load(repo / "demo" / "exports", db=db)
    run = toolkit.audit(db, AS_OF)
    return {"repo": repo, "db": db, "run_id": run.run_id}


def runs(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        con.close()


# ---------------------------------------------------------------- which database

def test_the_default_database_is_what_make_demo_wrote(shop, monkeypatch):
    monkeypatch.delenv(an.DB_ENV, raising=False)
    monkeypatch.chdir(shop["repo"])
    assert an.find_db() == shop["db"]
    (shop["repo"] / "notebooks").mkdir(exist_ok=True)
    monkeypatch.chdir(shop["repo"] / "notebooks")            # JupyterLab's kernel folder
    assert an.find_db() == shop["db"]
    assert an.find_db("demo/audit.duckdb") == shop["db"]
    monkeypatch.setenv(an.DB_ENV, str(shop["db"]))
    monkeypatch.chdir("/")
    assert an.find_db(None) == shop["db"] and an.find_db("") == shop["db"]


def test_not_found_names_every_path_tried(tmp_path, monkeypatch):
    monkeypatch.delenv(an.DB_ENV, raising=False)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    with pytest.raises(UnusableInputError) as e:
        an.find_db()
    msg = str(e.value)
    assert msg.startswith("db_path = None ($PRIVAUDIT_DB not set): no audit database found; tried ")
    for p in (tmp_path / "notebooks" / "demo" / "audit.duckdb", tmp_path / "demo" / "audit.duckdb",
              tmp_path / "data" / "audit.duckdb"):
        assert str(p) in msg
    with pytest.raises(UnusableInputError, match=re.escape("db_path = 'x.duckdb': no audit "
                                                           "database found; tried")):
        an.open_run("x.duckdb")


# ---------------------------------------------------------------- which run: a notebook only reads

def test_an_empty_as_of_shows_the_latest_stored_run_and_stores_nothing(shop):
    before = runs(shop["db"])
    run = an.open_run(shop["db"])
    assert run.run_id == shop["run_id"] and run.source == "stored run"
    assert str(run.as_of_date) == AS_OF
    at = an.open_run(shop["db"], AS_OF)
    assert at.run_id == shop["run_id"]
    # no stored run at that date: an ad-hoc run, not stored
    other = an.open_run(shop["db"], "2026-06-30")
    assert other.run_id != shop["run_id"] and "not stored" in other.source
    assert str(other.as_of_date) == "2026-06-30"
    assert runs(shop["db"]) == before


def test_no_stored_run_is_one_clear_error(shop, tmp_path):
    db = tmp_path / "fresh.duckdb"
    toolkit.load(shop["repo"] / "demo" / "exports", db=db)
    with pytest.raises(PrivauditError, match="no stored audit run; store one with 'privaudit audit"):
        an.open_run(db)
    with pytest.raises(PrivauditError, match=re.escape("as_of = '31-10-2026' is not a date")):
        an.open_run(db, "31-10-2026")


def test_errors_name_the_parameter_as_the_notebook_calls_it(shop):
    with pytest.raises(PrivauditError, match=re.escape("policy_path = 'nope.yaml': ")):
        an.open_run(shop["db"], policy_path="nope.yaml")
    with pytest.raises(PrivauditError, match=re.escape("run_id = 'r-1': ")):
        an.open_run(shop["db"], run_id="r-1")
    with pytest.raises(PrivauditError, match=re.escape("as_of = 'today' is not a date")):
        an.open_run(shop["db"], "today")


def test_reveal_is_never_stored_nor_shown_unasked(shop, tmp_path):
    db = shop["db"]
    before = runs(db)
    run = an.open_run(db, AS_OF, reveal=True)
    assert run.revealed and "not stored" in run.source
    sec = run.findings_of("SEC-001")["evidence"]
    assert len(sec) and not sec.str.contains(r"\*\*\*\*").any()        # card numbers unmasked
    assert runs(db) == before
    # a revealed audit folder (how report(reveal=True) hands the run over) needs reveal=True
    toolkit.audit(db, AS_OF, out=tmp_path / "audit", reveal=True, store=False)
    with pytest.raises(PrivauditError, match="reveal"):
        an.open_run(db, AS_OF, audit_dir=tmp_path / "audit")
    shown = an.open_run(db, AS_OF, audit_dir=tmp_path / "audit", reveal=True)
    assert shown.revealed and len(shown.findings) == len(run.findings)


# ---------------------------------------------------------------- figures

def test_overdue_buckets_follow_the_catalogue():
    f = pd.DataFrame({"days_overdue": pd.array([0, 30, 31, 90, 91, 365, 366, 730, 731, 1826, 1827,
                                                None], dtype="Int64")})
    b = an.overdue_buckets(f)
    assert list(b.index) == [label for label, _, _ in an.BUCKETS]
    assert list(b.values) == [2, 2, 2, 2, 2, 1]
    g = pd.DataFrame({"due_date": pd.to_datetime(["2026-01-15", "2026-03-02", None])})
    assert an.onset_by_month(g).to_dict() == {"2026-01": 1, "2026-02": 0, "2026-03": 1}


def test_breakdowns_spell_a_missing_value_one_way():
    f = pd.DataFrame({"details": [{"fields": ["email", "phone"]}, {"fields": []}, {}]})
    assert an.breakdown(f, "fields").to_dict() == {"email": 1, "phone": 1, an.MISSING: 2}
    m = an.matrix(pd.DataFrame({"details": [{"a": "x"}, {"b": "y"}]}), "a", "b")
    assert set(m.index) == {"x", an.MISSING} and set(m.columns) == {"y", an.MISSING}


def test_headline_table(shop):
    run = an.open_run(shop["db"])
    h = an.headline_table({"rules": {r: an.rule_headline(run, r) for r in ("RET-001", "SEC-001")}})
    assert list(h.columns) == ["rule", "severity", "status", "population", "violations", "%",
                               "excluded"]
    assert list(h["rule"]) == ["RET-001", "SEC-001"] and str(h["violations"].dtype) == "Int64"


# ---------------------------------------------------------------- the notebooks as an analyst opens them

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
        params = dict(re.findall(r"^(\w+)\s*=\s*(\S+)", tagged[0].source, re.M))
        assert {"db_path", "as_of", "policy_path", "out_dir", "run_id", "reveal"} <= set(params)
        assert params["db_path"] == "None" and params["as_of"] == "None", p.name
        assert nb.metadata.kernelspec.name == "python3"
        headings = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert re.match(r"# \S", nb.cells[0].source), p.name           # the page's title
        for rid in an.notebook_rules(p.stem, pol):
            assert re.search(rf"^##\s.*{rid}\b", headings, re.M), (p.name, rid)


def test_every_notebook_runs_with_its_defaults_after_make_demo(shop, monkeypatch):
    """The notebooks copied into the repository layout, each executed with no parameters at
    all in a kernel working in notebooks/ (as JupyterLab does): they find demo/audit.duckdb,
    show its latest run and store nothing."""
    from toolkit.kernels import WarmKernel

    monkeypatch.delenv(an.DB_ENV, raising=False)
    nbdir = shop["repo"] / "notebooks"
    nbdir.mkdir(exist_ok=True)
    for name in an.NOTEBOOKS:
        shutil.copy(an.NOTEBOOK_DIR / f"{name}.ipynb", nbdir)
    out = shop["repo"] / "executed"
    out.mkdir()
    before = runs(shop["db"])
    warm = WarmKernel().start()
    try:
        results = [rp.execute(nbdir / f"{name}.ipynb", out / f"{name}.ipynb", {}, warm)
                   for name in an.NOTEBOOKS]
    finally:
        warm.close()
    assert [r.error for r in results if r.status != "ok"] == []
    assert {r.headline["run_id"] for r in results} == {shop["run_id"]}
    assert runs(shop["db"]) == before
