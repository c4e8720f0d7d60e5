"""The scheduled job: load, audit, gate, report in one call, with the gate's exit code."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.exceptions import PrivauditError
from toolkit.generate import generate
from toolkit.pipeline import run


def test_run_writes_everything_and_exits_as_the_gate(tmp_path):
    exports = tmp_path / "exports"
    generate(exports, customers=300, seed=4)
    res = CliRunner().invoke(app, ["run", str(exports), "--as-of", "2026-10-31",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output           # planted violations fail the gate at S2
    out = tmp_path / "out"
    for p in ("audit.duckdb", "audit/findings.csv", "audit/manifest.json", "gate/index.html",
              "gate/junit.xml", "index.html", "retention.html", "summary.html"):
        assert (out / p).exists(), p
    index = (out / "index.html").read_text()
    assert 'href="gate/index.html"' in index and "RET-001" in index
    assert "Report: " in res.output and "Traceback" not in res.output


def test_run_refuses_bad_options_before_doing_anything(tmp_path):
    with pytest.raises(PrivauditError, match="--fail-on"):
        run(tmp_path, "2026-10-31", tmp_path / "out", fail_on="S7")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "missing"), "--as-of", "2026-10-31",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.startswith("error:")
