"""The command line: a thin layer over the library, with honest exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit import __version__
from toolkit.cli import app

from .conftest import write_files

runner = CliRunner()


def test_load_prints_per_table_counts(tmp_path):
    export = write_files(tmp_path / "x", {
        "customers.csv": "customer_id,first_name,created_at\nc1,Jan,2024-01-01 10:00\nc1,Dup,\n",
        "visits.jsonl": '{"visit_id": "v1"}\n', "readme.txt": "hi"})
    db = tmp_path / "a.duckdb"
    res = runner.invoke(app, ["load", str(export), "--db", str(db)])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "customers.csv" in ln)
    assert [c.strip() for c in line.split("│")][1:8] == [
        "customers", "customers.csv", "csv", "utf-8", "2", "1", "1"]
    assert "1 naive timestamps (DQ-001)" in line
    assert "skipped (not a table file): readme.txt" in res.output
    assert "2 rows loaded, 1 rejected" in res.output
    assert db.exists()


def test_load_errors_are_one_line_with_exit_2(tmp_path):
    res = runner.invoke(app, ["load", str(tmp_path / "missing"), "--db", str(tmp_path / "a.duckdb")])
    assert res.exit_code == 2
    assert res.output.strip() == f"error: {tmp_path / 'missing'}: export folder not found"


def test_version_and_schema():
    assert runner.invoke(app, ["--version"]).output.splitlines()[0] == f"privaudit {__version__}"
    res = runner.invoke(app, ["schema", "payments"])
    assert res.exit_code == 0 and "card_pan" in res.output and "customers" not in res.output
    res = runner.invoke(app, ["schema", "klanten"])
    assert res.exit_code == 2 and "unknown table 'klanten'" in res.output


def test_python_dash_m_and_console_script_work(tmp_path):
    env = {**os.environ, "CI": "1"}
    out = subprocess.run([sys.executable, "-m", "toolkit", "--version"], capture_output=True,
                         text=True, env=env, check=True)
    assert out.stdout.splitlines()[0] == f"privaudit {__version__}"
    script = Path(sys.executable).parent / "privaudit"
    out = subprocess.run([str(script), "load", str(tmp_path / "nope")], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr


def test_cli_start_up_does_not_import_heavy_libraries():
    code = ("import sys, toolkit.cli; heavy = [m for m in ('great_expectations', 'papermill', "
            "'pandas', 'faker') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_rule_table_is_the_rules_command_output():
    from toolkit.policy import load_policy
    from toolkit.rules import markdown
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules:begin -->")[1].split("<!-- rules:end -->")[0].strip()
    assert table == markdown(load_policy())
    res = runner.invoke(app, ["rules", "--markdown"])
    assert res.exit_code == 0 and res.output.strip() == table


def test_generate_and_demo_commands(tmp_path):
    res = runner.invoke(app, ["generate", str(tmp_path / "g"), "--customers", "300", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g" / "_truth" / "findings.csv").exists() and "wrote" in res.output
    res = runner.invoke(app, ["generate", str(tmp_path / "g2"), "--as-of", "31-10-2026"])
    assert res.exit_code == 2 and "--as-of" in res.output
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--customers", "300"])
    assert res.exit_code == 0, res.output
    assert "3. audited 29 rules" in res.output and "5. report: 8 notebooks: 8 ok" in res.output
    assert f"Report: {(tmp_path / 'demo' / 'index.html').resolve()}" in res.output
    assert (tmp_path / "demo" / "audit" / "findings.csv").exists()


def test_gate_and_suites_commands(tmp_path):
    from toolkit.generate import generate
    import toolkit
    generate(tmp_path / "exports", customers=300, seed=5)
    db = tmp_path / "d" / "audit.duckdb"
    toolkit.load(tmp_path / "exports", db=db)
    res = runner.invoke(app, ["gate", "--db", str(db), "--as-of", "2026-10-31",
                              "--junit", str(tmp_path / "j.xml"), "--docs", str(tmp_path / "docs")])
    assert res.exit_code == 1, res.output
    assert "FAIL RET-001 S2" in res.output and "-> exit 1" in res.output
    import xml.etree.ElementTree as ET
    assert ET.parse(tmp_path / "j.xml").getroot() is not None
    assert (tmp_path / "docs" / "index.html").exists()
    res = runner.invoke(app, ["gate", "--db", str(db), "--as-of", "2026-10-31", "--fail-on", "S9"])
    assert res.exit_code == 2 and res.output.startswith("error:")
    res = runner.invoke(app, ["suites", "--check"])
    assert res.exit_code == 0 and "up to date" in res.output
    res = runner.invoke(app, ["suites", "--out", str(tmp_path / "sx")])
    assert res.exit_code == 0 and (tmp_path / "sx" / "retention.json").exists()


def test_messages_with_square_brackets_are_printed_as_they_are(tmp_path):
    odd = tmp_path / "export [2026]"
    res = runner.invoke(app, ["load", str(odd), "--db", str(tmp_path / "a.duckdb")])
    assert res.exit_code == 2 and f"{odd}: export folder not found" in res.output
    write_files(odd, {"customers.csv": "customer_id\nc1\n"})
    res = runner.invoke(app, ["load", str(odd), "--db", str(tmp_path / "a.duckdb")])
    assert res.exit_code == 0 and "export [2026]" in res.output


def test_an_unexpected_error_is_one_line_unless_debugging(tmp_path, monkeypatch, capsys):
    import toolkit.cli as cli

    def boom(*a, **k):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr("toolkit.ingest.load", boom)
    monkeypatch.setattr(sys, "argv", ["privaudit", "load", str(tmp_path)])
    monkeypatch.delenv("PRIVAUDIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: internal error: RuntimeError: something broke "
                           "(run with PRIVAUDIT_DEBUG=1 for the traceback)")
    monkeypatch.setenv("PRIVAUDIT_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main()


# ------------------------------------------------------------------ small usage errors (issue 20)

def _main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the console script's main() in-process: (exit code, stderr)."""
    import toolkit.cli as cli

    monkeypatch.setattr(sys, "argv", ["privaudit", *args])
    monkeypatch.delenv("PRIVAUDIT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main()
    return e.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from .test_findings import shop

    return shop(tmp_path_factory.mktemp("usage"))


USAGE_ERRORS = {
    "too few customers": (["generate", "{tmp}/g", "--customers", "200"],
                          "error: --customers 200: too few for the planted scenarios (168 scenario "
                          "accounts); use at least 241, or --violation-rate 0 for a shop without "
                          "violations"),
    "demo, too few customers": (["demo", "--out", "{tmp}/d", "--customers", "100"],
                                "error: --customers 100: too few"),
    "demo, bad --as-of": (["demo", "--out", "{tmp}/d", "--as-of", "2026-13-01"],
                          "error: --as-of: '2026-13-01' is not a date (YYYY-MM-DD)"),
    "generate, bad --as-of": (["generate", "{tmp}/g", "--as-of", "31-10-2026"],
                              "error: --as-of: '31-10-2026' is not a date (YYYY-MM-DD)"),
    "audit, bad --as-of": (["audit", "--db", "{db}", "--as-of", "2026-02-30"],
                           "error: --as-of: '2026-02-30' is not a date (YYYY-MM-DD) or ISO timestamp"),
    "audit, bad --rules": (["audit", "--db", "{db}", "--as-of", "2025-03-02", "--rules", "XYZ-*"],
                           "error: --rules XYZ-*: matches no rule of the policy"),
    "audit, --out under a file": (["audit", "--db", "{db}", "--as-of", "2025-03-02", "--out",
                                   "{db}/out"], "error: {db}/out: Not a directory"),
    "audit, missing database": (["audit", "--db", "{tmp}/none.duckdb", "--as-of", "2025-03-02"],
                                "error: {tmp}/none.duckdb: database not found"),
    "audit, missing policy": (["audit", "--db", "{db}", "--as-of", "2025-03-02", "--policy",
                               "{tmp}/none.yaml"], "error: {tmp}/none.yaml: policy file not found"),
    "gate, bad --fail-on": (["gate", "--db", "{db}", "--as-of", "2025-03-02", "--fail-on", "S9"],
                            "error: --fail-on S9: use one of S1, S2, S3, S4, INFO"),
    "run, bad --fail-on": (["run", "{tmp}", "--as-of", "2025-03-02", "--out", "{tmp}/r",
                            "--fail-on", "high"], "error: --fail-on high: use one of"),
    "run, missing export folder": (["run", "{tmp}/none", "--as-of", "2025-03-02", "--out",
                                    "{tmp}/r"], "error: {tmp}/none: export folder not found"),
    "load, missing mapping": (["load", "{tmp}", "--db", "{tmp}/a.duckdb", "--mapping",
                               "{tmp}/none.yaml"], "error: {tmp}/none.yaml: mapping file not found"),
    "report, missing database": (["report", "--db", "{tmp}/none.duckdb", "--as-of", "2025-03-02",
                                  "--out", "{tmp}/rep"], "error: {tmp}/none.duckdb: database not found"),
    "rules, missing policy": (["rules", "--policy", "{tmp}/none.yaml"],
                              "error: {tmp}/none.yaml: policy file not found"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_a_bad_argument_is_one_line_with_exit_2(case, small_db, tmp_path, monkeypatch, capsys):
    args, expected = USAGE_ERRORS[case]
    fill = {"tmp": str(tmp_path), "db": str(small_db)}
    code, err = _main(monkeypatch, capsys, *(a.format(**fill) for a in args))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(expected.format(**fill)), err
    assert "internal error" not in err and "Traceback" not in err


def test_too_few_customers_writes_nothing(tmp_path, monkeypatch, capsys):
    code, err = _main(monkeypatch, capsys, "generate", str(tmp_path / "g"), "--customers", "200")
    assert code == 2 and not (tmp_path / "g").exists()


def test_progress_ticks_on_a_terminal_and_is_silent_in_ci(monkeypatch):
    """On a terminal a status line shows the last message and the seconds elapsed, ticking
    without new messages; in CI (or piped) there is no status line at all."""
    import io
    import time

    from rich.console import Console

    import toolkit.cli as cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=True, width=100))
    monkeypatch.delenv("CI", raising=False)
    with cli.progress_reporter() as say:
        say("notebooks 3/7 done")
        deadline = time.monotonic() + 20            # a busy machine may tick late, never early
        while "done · 2 s" not in buf.getvalue() and time.monotonic() < deadline:
            time.sleep(0.1)
    shown = buf.getvalue()
    assert "notebooks 3/7 done · 0 s" in shown and "notebooks 3/7 done · 2 s" in shown, shown
    monkeypatch.setenv("CI", "true")
    with cli.progress_reporter() as say:
        assert say is None
    monkeypatch.delenv("CI")
    monkeypatch.setattr(cli, "err", Console(file=io.StringIO()))      # piped
    with cli.progress_reporter() as say:
        assert say is None
