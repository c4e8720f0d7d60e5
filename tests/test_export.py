"""privaudit export --parquet: the canonical tables of a loaded database as Parquet folders."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

import toolkit
from toolkit.cli import app
from toolkit.export import LOAD_LOG, export_parquet
from toolkit.findings import load_files
from toolkit.generate import generate


def test_export_writes_every_table_with_its_extra_columns_and_the_load_log(tmp_path):
    generate(tmp_path / "exports", customers=300, seed=3, violation_rate=0.02)
    db = tmp_path / "audit.duckdb"
    toolkit.load(tmp_path / "exports", db=db)
    written = export_parquet(db, tmp_path / "pq")
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table, n in written.items():
            t = pq.read_table(tmp_path / "pq" / table)
            assert t.num_rows == n == con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "ORDER BY ordinal_position", [table]).fetchall()]
            assert t.column_names == cols          # extra export columns included
        # timestamps stay instants, lists stay lists
        cust = pq.read_table(tmp_path / "pq" / "customers")
        assert str(cust.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
        got = cust.column("created_at").to_pylist()[0]
        want = con.execute("SELECT created_at FROM customers LIMIT 1").fetchone()[0]
        assert got == want
    finally:
        con.close()
    assert len(written) == 16
    log = json.loads((tmp_path / "pq" / LOAD_LOG).read_text())
    assert [tuple(r) for r in log["files"]] == load_files(db)[1]
    for p in (tmp_path / "pq").rglob("*"):
        assert p.stat().st_mode & 0o077 == 0, p     # personal data: owner-only


def test_export_cli(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["export", "--db", str(tmp_path / "none.duckdb"), "--parquet",
                              str(tmp_path / "pq")])
    assert res.exit_code == 2 and "database not found" in res.output
    generate(tmp_path / "exports", customers=200, seed=4, violation_rate=0)
    toolkit.load(tmp_path / "exports", db=tmp_path / "a.duckdb")
    res = runner.invoke(app, ["export", "--db", str(tmp_path / "a.duckdb"), "--parquet",
                              str(tmp_path / "pq")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pq" / "customers" / "part-0.parquet").exists()
