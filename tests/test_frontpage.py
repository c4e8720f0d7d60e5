"""The front page (toolkit.frontpage): a verdict per statement clause, the gate's result and
coverage, rendered from the package's Jinja2 template without a kernel."""

from __future__ import annotations

import html as htmlmod
import json
import re
import time

import pytest

import toolkit
from toolkit import analysis as an
from toolkit import frontpage
from toolkit.generate import generate
from toolkit.report import NotebookResult, _finish

AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("front")
    generate(base / "x", customers=250, seed=2)
    toolkit.load(base / "x", db=base / "audit.duckdb")
    toolkit.audit(base / "audit.duckdb", AS_OF)
    return an.open_run(base / "audit.duckdb")


def _rule(rid, status="evaluated", violations=0):
    return {"rule_id": rid, "title": rid, "status": status, "violations": violations,
            "population": 10, "missing": "visits" if status == "not_evaluable" else ""}


def test_a_clause_is_violated_by_one_rule_and_unknown_when_one_is_not_evaluable():
    assert frontpage.verdict([_rule("A"), _rule("B")]) == "complies"
    assert frontpage.verdict([_rule("A"), _rule("B", violations=3)]) == "violated"
    assert frontpage.verdict([_rule("A"), _rule("B", "not_evaluable")]) == "not evaluable"
    assert frontpage.verdict([_rule("A", "not_evaluable"), _rule("B", violations=1)]) == "violated"
    assert frontpage.verdict([_rule("A", "disabled")]) == "not checked"


def test_the_page_shows_each_promise_the_gate_and_failures(run, tmp_path):
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate" / "gate.json").write_text(json.dumps({
        "exit_code": 2, "fail_on": "S2", "as_of_date": AS_OF,
        "summary": "gate as of 2026-10-31: 25 rules: 19 passed, 4 failed, 2 not evaluable; ...",
        "lines": ["FAIL RET-001 S2 3 failing rows in customers: x",
                  "ERROR DSR-001 S2 must be evaluated but is not evaluable: missing dsr_requests",
                  "warn CKE-002 S3 1 failing row in cookie_observations: y"]}))
    nb = NotebookResult("retention", "failed", tmp_path / "retention.ipynb",
                        error="retention.ipynb failed at cell 5 of 30: <b>boom</b>")
    res = _finish([nb], tmp_path, run, time.perf_counter())
    page = res.index.read_text(encoding="utf-8")
    text = htmlmod.unescape(re.sub(r"<[^>]+>", " ", page))
    pol = run.policy
    for clause, info in pol.clauses.items():
        assert f'id="clause-{clause}"' in page and info.quote in htmlmod.unescape(page)
    assert "25 rules: 19 passed, 4 failed, 2 not evaluable" in text
    assert "Could not decide" in text and "exit 2" in text
    box = text[text.index("The gate"):text.index("Notebooks")]
    assert "must be evaluated but is not evaluable" in box and "FAIL RET-001" in box
    assert "warn CKE-002" not in box                       # warnings stay on the gate's page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom</b>" not in page      # escaped
    assert "1 notebook: 0 ok, 1 failed (retention)" in text
    assert '<a href="gate/index.html">' in page
    # promises appear before the gate, the gate before the notebooks
    assert page.index("Does practice match") < page.index("<h2>The gate") < page.index("<h2>Notebooks")
