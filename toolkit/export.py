"""The canonical tables of a loaded database as Parquet folders (``privaudit export --parquet``).

``export_parquet(db, out)`` writes one folder per canonical table the database has,
``out/<table>/part-0.parquet``, with every column as loaded (the schema's and the extra columns
kept from the exports), timestamps as UTC instants, lists as Parquet lists: the layout the Spark
engine reads (``privaudit audit --engine spark --source out``) and any lakehouse can hold. The
load log of each table's latest load goes to ``out/_load_log.json`` (file names, checksums and
row counts: the audit's manifest names the exports from it). Personal data: the folder is
private (owner-only), like every output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import outputs, schema
from .database import connect
from .exceptions import UnusableInputError
from .findings import load_files

LOAD_LOG = "_load_log.json"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path_literal(path: Path) -> str:
    # COPY ... TO takes no bound parameter: the path is quoted as a literal
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(db: str | Path, out: str | Path) -> dict[str, int]:
    """Write each canonical table of ``db`` to ``out/<table>/part-0.parquet``; return the rows
    written per table. A table folder that exists is replaced."""
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UnusableInputError(f"{out}: not a folder (the export folder)")
    outputs.private_dir(out)
    con = connect(db, read_only=True)      # an encrypted database with its key
    written: dict[str, int] = {}
    try:
        have = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database()").fetchall()}
        for t in schema.TABLES:
            if t.name not in have:
                continue
            folder = out / t.name
            if folder.exists():
                shutil.rmtree(folder)
            with outputs.private_umask():
                folder.mkdir()
                con.execute(f"COPY (SELECT * FROM {_quote(t.name)}) TO "
                            f"{_path_literal(folder / 'part-0.parquet')} (FORMAT parquet)")
            outputs.make_private(folder / "part-0.parquet")
            written[t.name] = con.execute(f"SELECT count(*) FROM {_quote(t.name)}").fetchone()[0]
    finally:
        con.close()
    _, files = load_files(db)
    outputs.write_text(out / LOAD_LOG, json.dumps({"files": [list(f) for f in files]}, indent=1) + "\n")
    return written
