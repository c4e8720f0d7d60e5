"""Shared helpers: build small export folders, load them, and check that the counts reconcile."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

# The CLI prints through rich; piped (as under pytest) it is COLUMNS wide, 160 when unset. Under
# pytest-xdist every worker gets COLUMNS=80 from the controller's terminal, so tables wrapped
# differently than in a serial run. One width for every test, serial or parallel, set before the
# toolkit (and its module-level consoles) is imported; subprocesses inherit it.
os.environ["COLUMNS"] = "160"
os.environ.pop("LINES", None)

import duckdb
import pytest

import toolkit
from toolkit.ingest import LoadResult


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{name: content}`` into folder; str is UTF-8, names ending in .gz are gzipped."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        (folder / name).write_bytes(data)
    return folder


def assert_reconciles(result: LoadResult, db: Path) -> None:
    """Per file: read = loaded + rejected + skipped (rows a mapping leaves out on purpose, each
    counted with its reason); per table, the database holds exactly the rows loaded and rejected;
    load_log has every file's counts and checksum."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        per_table: dict[str, list] = {}
        for f in result.files:
            assert f.rows_read == f.rows_loaded + f.rows_rejected + f.rows_skipped, f
            assert f.rows_skipped == sum(f.notes.get("skipped_rows", {}).values()), f
            per_table.setdefault(f.table, []).append(f)
        for table, files in per_table.items():
            n = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            assert n == sum(f.rows_loaded for f in files), (table, n)
            r = con.execute("SELECT count(*) FROM rejected_rows WHERE table_name = $1",
                            [table]).fetchone()[0]
            assert r == sum(f.rows_rejected for f in files), (table, r)
            log = con.execute(
                "SELECT file, rows_read, rows_loaded, rows_rejected, rows_skipped, sha256 FROM "
                "load_log WHERE load_id = $1 AND table_name = $2 AND format <> 'absent' ORDER BY ALL",
                [result.load_id, table]).fetchall()
            assert log == sorted((f.file, f.rows_read, f.rows_loaded, f.rows_rejected,
                                  f.rows_skipped, f.sha256) for f in files)
    finally:
        con.close()


@pytest.fixture
def load_files(tmp_path):
    """load_files({'customers.csv': '...'}, mapping=None) -> (result, read-only connection)."""
    opened = []

    def run(files: dict[str, str | bytes], mapping=None, name: str = "export"):
        export = write_files(tmp_path / name, files)
        db = tmp_path / "audit.duckdb"
        result = toolkit.load(export, db=db, mapping=mapping)
        assert_reconciles(result, db)
        con = duckdb.connect(str(db), read_only=True)
        con.execute("SET TimeZone = 'Europe/Amsterdam'")
        opened.append(con)
        return result, con

    yield run
    for con in opened:
        con.close()
