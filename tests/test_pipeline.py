"""The scheduled job (toolkit.pipeline): load, audit, gate, report in one call, with the gate's
exit code; run as a user runs it, with relative paths, in a real process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.exceptions import PrivauditError
from toolkit.generate import generate
from toolkit.pipeline import run

NOISE = ("IPKernelApp", "KeyboardInterrupt", "without encryption", "Traceback", "Warning")


def test_run_with_relative_paths_writes_everything_and_exits_as_the_gate(tmp_path):
    generate(tmp_path / "exports", customers=300, seed=4)
    privaudit = Path(sys.executable).parent / "privaudit"
    proc = subprocess.run([str(privaudit), "run", "exports", "--as-of", "2026-10-31",
                           "--out", "reports/2026-10"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr   # planted violations fail at S2
    out = tmp_path / "reports" / "2026-10"
    for p in ("audit.duckdb", "audit/findings.csv", "audit/manifest.json", "gate/index.html",
              "gate/junit.xml", "gate/gate.json", "index.html", "retention.html", "summary.html"):
        assert (out / p).exists(), p
    # piped: one line per notebook, the tally, and nothing from the kernels
    assert len(re.findall(r"^  ok     \w+ \(\d+\.\d s, \d/8\)$", proc.stdout, re.M)) == 8
    assert re.search(r"^4\. report: 8 notebooks: 8 ok in \d+\.\d s$", proc.stdout, re.M)
    assert re.search(r"^3\. gate: gate as of 2026-10-31: 29 rules: \d+ passed, \d+ failed",
                     proc.stdout, re.M)
    assert not [n for n in NOISE if n in proc.stderr], proc.stderr
    index = (out / "index.html").read_text()
    assert 'href="gate/index.html"' in index and "RET-001" in index
    assert "Failed: the policy is violated" in index and "29 rules:" in index
    assert f"Report: {out / 'index.html'}" in proc.stdout


def test_run_refuses_bad_options_before_doing_anything(tmp_path):
    with pytest.raises(PrivauditError, match="--fail-on"):
        run(tmp_path, "2026-10-31", tmp_path / "out", fail_on="S7")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "missing"), "--as-of", "2026-10-31",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.startswith("error:")


def test_an_out_that_is_a_file_is_one_line_before_anything_is_written(tmp_path):
    victim = tmp_path / "report.csv"
    victim.write_text("kept\n")
    export = tmp_path / "x"
    export.mkdir()
    (export / "customers.csv").write_text("customer_id\nc1\n")
    with pytest.raises(PrivauditError, match="not a folder"):
        run(export, "2026-10-31", victim)
    for args in (["run", str(export), "--as-of", "2026-10-31", "--out", str(victim)],
                 ["demo", "--out", str(victim), "--customers", "5"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "internal error" not in res.output, res.output
        assert res.output.strip() == f"error: {victim}: not a folder (the output folder)"
    # a folder that cannot be made (its parent is that file): one line naming it
    res = CliRunner().invoke(app, ["run", str(export), "--as-of", "2026-10-31", "--out",
                                   str(victim / "sub")])
    assert res.exit_code == 2 and res.output.strip() == f"error: {victim / 'sub'}: Not a directory"
    assert victim.read_text() == "kept\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "report.csv", "x"]
