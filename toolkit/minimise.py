"""A minimised load (``privaudit load --minimise``, issue 22, Art. 5(1)(c)): the audit database
keeps, of each personal column, only what the rules need.

WORK IN PROGRESS (branch ``auditor``, not landed): the column plan and the presence / keyed-hash
transform below are real and tested (tests/test_minimise.py), but not every rule gives the same
findings on a minimised database yet; see ``docs/minimise.md`` for the rule-by-rule state.

- **presence**: a value that is filled becomes a fixed placeholder of the column's type, an
  empty one stays NULL: retention and erasure rules only ask *whether* a field is filled.
- **match**: values used to join or match people (e-mail, phone, person and visitor keys) become
  ``HMAC-SHA256(database key, normalised value)`` in hex: equal values stay equal, nobody without
  the key can test a guess.
- **text**: free text; to be scanned at load time, keeping only the masked findings of the
  free-text rules (not done yet: kept as presence).
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from . import schema
from .exceptions import PrivauditError

PRESENCE, MATCH, TEXT = "presence", "match", "text"
# values that join or match a person across tables and exports
MATCH_PII = {schema.EMAIL, schema.PHONE}
MATCH_COLUMNS = {"person_key", "visitor_id", "requester_email_hash"}
PLACEHOLDER_TEXT = "filled"
# the key of a minimised load's notes in load_log (every file of the load has it)
NOTE = "minimised"
RAW_REFUSED = ("a minimised database (loaded with --minimise) cannot show raw values: it holds "
               "none; load the exports without --minimise into another database for that")


def is_minimised(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database of ``con`` holds a minimised load (``load_log`` notes say so)."""
    try:
        return bool(con.execute(
            f"SELECT count(*) FROM load_log WHERE json_exists(notes, '$.{NOTE}')").fetchone()[0])
    except duckdb.CatalogException:        # not a database made by 'privaudit load'
        return False


def holds_full_load(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database of ``con`` holds loaded tables of a load that was not minimised."""
    try:
        purged = ("AND purged_at IS NULL " if con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
            "table_name = 'load_log' AND column_name = 'purged_at'").fetchone()[0] else "")
        return bool(con.execute(
            "SELECT count(*) FROM load_log WHERE file IS NOT NULL AND table_name IS NOT NULL "
            f"AND format NOT IN ('skipped', 'absent', 'purged') {purged}"
            f"AND NOT json_exists(notes, '$.{NOTE}')").fetchone()[0])
    except duckdb.CatalogException:
        return False


def refuse_raw(con: duckdb.DuckDBPyConnection, db, what: str) -> None:
    """One line (:class:`PrivauditError`) when ``what`` (``--reveal``, the access package)
    would show raw values of a minimised database."""
    if is_minimised(con):
        raise PrivauditError(f"{db}: {what}: {RAW_REFUSED}")


def plan() -> dict[str, dict[str, str]]:
    """table -> {column: presence | match | text} for every personal or matching column."""
    out: dict[str, dict[str, str]] = {}
    for t in schema.TABLES:
        cols = {}
        for c in t.columns:
            if c.name in MATCH_COLUMNS or c.pii in MATCH_PII:
                cols[c.name] = MATCH
            elif c.free_text:
                cols[c.name] = TEXT
            elif c.personal:
                cols[c.name] = PRESENCE
        if cols:
            out[t.name] = cols
    return out


def keyed_hash(key: str, value: str | None) -> str | None:
    """HMAC-SHA256 of a normalised value (trimmed, lower case) under the database key."""
    if value is None:
        return None
    return hmac.new(key.encode("utf-8"), value.strip().lower().encode("utf-8"),
                    hashlib.sha256).hexdigest()


def _placeholder(col: str, type_: str) -> str:
    t = type_.upper()
    if t.startswith("VARCHAR"):
        return f"CASE WHEN {col} IS NOT NULL THEN '{PLACEHOLDER_TEXT}' END"
    if t == "DATE":
        return f"CASE WHEN {col} IS NOT NULL THEN DATE '1900-01-01' END"
    if t.startswith("TIMESTAMP"):
        return f"CASE WHEN {col} IS NOT NULL THEN CAST('1900-01-01 00:00:00+00' AS {t}) END"
    if t == "BOOLEAN":
        return f"CASE WHEN {col} IS NOT NULL THEN true END"
    return f"CASE WHEN {col} IS NOT NULL THEN CAST(0 AS {t}) END"


def apply(con, key: str) -> dict[str, dict[str, str]]:
    """Rewrite the loaded tables of ``con`` (in its transaction) by the plan; the raw records
    of ``rejected_rows`` keep their reason, length and sha256 only. Returns what was done."""
    con.create_function("privaudit_keyed_hash", lambda v: keyed_hash(key, v), ["VARCHAR"],
                        "VARCHAR", null_handling="special", side_effects=False)
    done: dict[str, dict[str, str]] = {}
    present = {}
    for t, c, ty in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE "
            "database_name = current_database() AND schema_name = 'main'").fetchall():
        present.setdefault(t, {})[c] = ty
    for table, cols in plan().items():
        have = present.get(table)
        if not have:
            continue
        repl = []
        for col, how in cols.items():
            if col not in have:
                continue
            q = f'"{col}"'
            if how == MATCH:
                expr = f"privaudit_keyed_hash(CAST({q} AS VARCHAR))"
                if not have[col].upper().startswith("VARCHAR"):
                    expr = f"CAST({expr} AS VARCHAR)"
            else:
                expr = _placeholder(q, have[col])
            repl.append(f"{expr} AS {q}")
            done.setdefault(table, {})[col] = how
        if repl:
            con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * REPLACE ({", ".join(repl)}) '
                        f'FROM "{table}"')
    if "rejected_rows" in present:
        con.execute("UPDATE rejected_rows SET raw = NULL")
    con.remove_function("privaudit_keyed_hash")
    return done
