"""The copy expires: the audit database keeps a shop's personal data no longer than needed
(GDPR Art. 5(1)(e)).

The policy's ``auditor.retention_days`` (default 90) says how long loaded exports may stay.
Every command that opens a database warns (:class:`RetentionWarning`, one line) when it holds
exports loaded longer ago than that and not purged since. :func:`purge` (``privaudit purge --db
F``) then deletes the loaded tables and the raw records of ``rejected_rows``, keeps the masked run
history (``runs``, ``rule_results``, ``findings``, ``access_packages``) and ``load_log`` (which
records when each load was purged), rewrites the file so that no freed page still holds a
personal value (DuckDB reuses freed pages but does not clear them), overwrites the old file's
bytes, and removes the toolkit's temporary and spill files of the database.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from . import __version__, outputs
from .exceptions import PrivauditError, RetentionWarning, UnusableInputError  # noqa: F401

DEFAULT_RETENTION_DAYS = 90
# what a purge keeps: masked results and the logs of what was loaded and handed out
KEPT_TABLES = ("load_log", "runs", "rule_results", "findings", "access_packages")
PURGED_DDL = "ALTER TABLE load_log ADD COLUMN IF NOT EXISTS purged_at TIMESTAMPTZ"


@dataclass
class Expired:
    """Tables whose (latest, unpurged) load is older than the retention period."""
    db: Path
    retention_days: int
    tables: dict[str, datetime] = field(default_factory=dict)   # table -> loaded_at

    def message(self) -> str:
        oldest = min(self.tables.values())
        age = (datetime.now(oldest.tzinfo) - oldest).days
        names = ", ".join(sorted(self.tables)[:5]) + (", ..." if len(self.tables) > 5 else "")
        return (f"{self.db}: holds exports loaded {age} days ago ({names}), beyond "
                f"auditor.retention_days {self.retention_days}: run 'privaudit purge --db "
                f"{self.db}' when the audit is done")


def _has_column(con, table: str, column: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
        "schema_name = 'main' AND table_name = $1 AND column_name = $2", [table, column]
    ).fetchone()[0])


def expired(con: duckdb.DuckDBPyConnection, db: Path, retention_days: int) -> Expired | None:
    """The loaded tables of ``con`` whose data was loaded more than ``retention_days`` ago (the
    table's latest load, not purged since); None when there are none (or no load_log)."""
    if not _has_column(con, "load_log", "loaded_at"):
        return None
    unpurged = "AND purged_at IS NULL " if _has_column(con, "load_log", "purged_at") else ""
    rows = con.execute(
        "SELECT table_name, max(loaded_at) FROM load_log WHERE table_name IS NOT NULL AND "
        f"file IS NOT NULL {unpurged}GROUP BY table_name "
        "HAVING max(loaded_at) < now() - to_days(CAST($1 AS INTEGER)) ORDER BY table_name",
        [int(retention_days)]).fetchall()
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND "
        "schema_name = 'main'").fetchall()}
    tables = {t: at for t, at in rows if t in present}
    return Expired(db, int(retention_days), tables) if tables else None


_WARNED: set[str] = set()


def warn_if_expired(con: duckdb.DuckDBPyConnection, db: Path,
                    retention_days: int | None = None) -> None:
    """Warn (once per database and process) when ``db`` holds expired loads. ``retention_days``
    None: the default (90); 0: no check (the purge itself)."""
    days = DEFAULT_RETENTION_DAYS if retention_days is None else retention_days
    if days == 0:
        return
    key = f"{Path(db).resolve()}:{days}"
    if key in _WARNED:
        return
    try:
        found = expired(con, Path(db), days)
    except duckdb.Error:          # a database the loader did not make: nothing to say
        return
    if found is not None:
        _WARNED.add(key)
        warnings.warn(found.message(), RetentionWarning, stacklevel=3)


@dataclass
class PurgeResult:
    db: Path
    purge_id: str
    tables_dropped: list[str]
    rejected_deleted: int
    loads_purged: int
    bytes_before: int
    bytes_after: int
    removed: list[str]          # temporary and spill files or folders removed
    seconds: float

    def summary(self) -> str:
        return (f"purged {self.db}: {len(self.tables_dropped)} loaded tables dropped, "
                f"{self.rejected_deleted:,} rejected records deleted, {self.loads_purged} loads "
                f"marked purged in load_log; the run history is kept "
                f"({self.bytes_before:,} -> {self.bytes_after:,} bytes)")


def _zero(handle) -> None:
    """Overwrite an (unlinked) file's bytes with zeros through an open handle."""
    size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    block = b"\0" * (1 << 20)
    left = size
    while left > 0:
        n = min(left, len(block))
        handle.write(block[:n])
        left -= n
    handle.flush()
    os.fsync(handle.fileno())


def _remove_private_files(db: Path) -> list[str]:
    """The toolkit's temporary and spill files of ``db`` (no process has the database open:
    the purge held its write lock): the spill folder, loads' leftovers."""
    from .ingest import _remove_leftovers

    removed = []
    before = {str(p) for p in db.parent.glob(f".{db.name}.loading-*")} | {
        str(p) for p in db.parent.glob(".privaudit-load-*")}
    _remove_leftovers(db)
    removed += sorted(p for p in before if not Path(p).exists())
    spill = db.parent / ".privaudit-tmp" / db.name
    if spill.is_dir():
        shutil.rmtree(spill, ignore_errors=True)
        removed.append(str(spill))
        try:
            spill.parent.rmdir()        # only when no other database's folder is left
        except OSError:
            pass
    for wal in (Path(f"{db}.wal"),):
        if wal.exists():
            wal.unlink()
            removed.append(str(wal))
    return removed


def rewrite(db: Path, key: str | None = None) -> None:
    """Copy everything ``db`` holds into a fresh file of the same kind (an encrypted database
    stays encrypted with its key), which replaces it; the old file's bytes are overwritten.

    DuckDB reuses the pages it freed but leaves their bytes: after a purge, or after a minimised
    load (``toolkit.minimise``) whose raw values were written before they were replaced, the
    file still holds them. Nobody else may have the database open (the caller held it)."""
    from .database import connect, key_for, sql_literal
    from .ingest import _fsync_dir

    found = key_for(db, False, key)
    fresh = db.parent / f".{db.name}.rewriting-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    con = connect(db, key=key, retention_days=0)
    try:
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        opts = f" (ENCRYPTION_KEY {sql_literal(found[0])})" if found is not None else ""
        con.execute(f"ATTACH {sql_literal(str(fresh))} AS _rewritten{opts}")
        src = catalog.replace('"', '""')
        con.execute(f'COPY FROM DATABASE "{src}" TO _rewritten')
        con.execute("DETACH _rewritten")
    except duckdb.Error as e:
        fresh.unlink(missing_ok=True)
        Path(f"{fresh}.wal").unlink(missing_ok=True)
        raise PrivauditError(f"{db}: rewriting the file failed ({str(e).splitlines()[0][:300]})"
                             ) from None
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    finally:
        con.close()
        outputs.release_temp_directory(db)
    os.chmod(fresh, 0o600)
    with open(db, "r+b") as old:
        os.replace(fresh, db)
        _fsync_dir(db.parent)
        _zero(old)                       # the replaced file's bytes, through its open handle


def purge(db: str | Path, key: str | None = None) -> PurgeResult:
    """Delete the loaded exports from ``db``: drop the loaded tables, delete ``rejected_rows``,
    keep the masked run history and ``load_log`` (with ``purged_at`` set and a ``purged`` row),
    rewrite the file without the freed pages (an encrypted database stays encrypted with its
    key), overwrite the old file's bytes, and remove the temporary and spill files."""
    from .database import connect, database_path

    started = time.perf_counter()
    db = database_path(db)
    if not db.exists():
        raise UnusableInputError(f"{db}: database not found")
    bytes_before = db.stat().st_size
    purge_id = uuid.uuid4().hex[:12]
    con = connect(db, key=key, retention_days=0)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND "
            "schema_name = 'main' ORDER BY table_name").fetchall()]
        if "load_log" not in tables:
            raise UnusableInputError(f"{db}: no load_log (not a database made by 'privaudit load')")
        dropped = [t for t in tables if t not in KEPT_TABLES and t != "rejected_rows"]
        con.execute("BEGIN TRANSACTION")
        con.execute(PURGED_DDL)
        for t in dropped:
            con.execute(f'DROP TABLE main."{t.replace(chr(34), chr(34) * 2)}"')
        rejected = 0
        if "rejected_rows" in tables:
            rejected = con.execute("SELECT count(*) FROM rejected_rows").fetchone()[0]
            con.execute("DELETE FROM rejected_rows")
        loads = con.execute("SELECT count(DISTINCT load_id) FROM load_log WHERE purged_at IS NULL "
                            "AND format IS DISTINCT FROM 'purged'").fetchone()[0]
        con.execute("UPDATE load_log SET purged_at = now() WHERE purged_at IS NULL")
        con.execute("INSERT INTO load_log (load_id, loaded_at, format, notes, toolkit_version, "
                    "purged_at) VALUES ($1, now(), 'purged', $2, $3, now())",
                    [purge_id, json.dumps({"tables_dropped": dropped, "rejected_deleted": rejected},
                                          sort_keys=True), __version__])
        con.execute("COMMIT")
    except duckdb.Error as e:
        raise PrivauditError(f"{db}: purge failed ({str(e).splitlines()[0][:300]})") from None
    finally:
        con.close()
        outputs.release_temp_directory(db)
    rewrite(db, key)
    removed = _remove_private_files(db)
    return PurgeResult(db, purge_id, dropped, int(rejected), int(loads), bytes_before,
                       db.stat().st_size, removed, round(time.perf_counter() - started, 3))
