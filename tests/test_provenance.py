"""Which software made an audit: ``privaudit --version``, manifest.json and the runs table."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata

import duckdb
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.provenance import versions

from .test_findings import shop

KEYS = ["privaudit", "duckdb", "great_expectations", "pandas", "python"]


def test_versions_are_the_installed_ones():
    v = toolkit.versions()
    assert list(v) == KEYS
    assert v["privaudit"] == toolkit.__version__
    assert v["duckdb"] == duckdb.__version__ == "1.5.5"
    assert v["great_expectations"] == metadata.version("great-expectations")
    assert v["pandas"] == metadata.version("pandas")
    assert v["python"] == platform.python_version()


def test_version_option_prints_every_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    v = versions()
    lines = res.output.splitlines()
    assert lines[:4] == [f"privaudit {v['privaudit']}", f"DuckDB {v['duckdb']}",
                         f"Great Expectations {v['great_expectations']}", f"pandas {v['pandas']}"]
    assert lines[4].startswith(f"Python {v['python']} (")


def test_version_does_not_import_the_heavy_libraries():
    code = ("import sys; from toolkit.cli import main; sys.argv = ['privaudit', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('great_expectations', 'pandas', 'duckdb', 'papermill') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "CI": "1"})
    assert out.stdout.splitlines()[-1] == "[]"


def test_manifest_and_runs_record_the_software(tmp_path):
    db = shop(tmp_path)
    res = toolkit.audit(db, "2025-03-02", out=tmp_path / "out")
    v = versions()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["software"] == v and manifest["toolkit_version"] == v["privaudit"]
    assert manifest["policy"]["sha256"] == res.policy.sha256
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute("SELECT toolkit_version, duckdb_version, great_expectations_version, "
                      "pandas_version, python_version, policy_sha256 FROM runs WHERE run_id = $1",
                      [res.run_id]).fetchone()
    con.close()
    assert row == (v["privaudit"], v["duckdb"], v["great_expectations"], v["pandas"], v["python"],
                   res.policy.sha256)


def test_a_database_from_before_gets_the_new_columns(tmp_path):
    db = shop(tmp_path)
    con = duckdb.connect(str(db))
    con.execute("""CREATE TABLE runs (
        run_id VARCHAR, started_at TIMESTAMPTZ, as_of TIMESTAMPTZ, as_of_date DATE,
        policy VARCHAR, policy_sha256 VARCHAR, toolkit_version VARCHAR, rules VARCHAR[],
        findings BIGINT, seconds DOUBLE, revealed BOOLEAN)""")
    con.execute("INSERT INTO runs VALUES ('old', now(), now(), current_date, 'p', 'h', '0.0.9', "
                "['RET-001'], 0, 1.0, false)")
    con.close()
    res = toolkit.audit(db, "2025-03-02")
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT run_id, toolkit_version, duckdb_version FROM runs ORDER BY run_id = 'old' "
                       "DESC").fetchall()
    con.close()
    assert rows == [("old", "0.0.9", None), (res.run_id, toolkit.__version__, "1.5.5")]
