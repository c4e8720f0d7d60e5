"""Loading an export folder into DuckDB, losing nothing.

``load(export_dir, db)`` finds each table's file (:mod:`toolkit.readers`), stages it as text, types
every column by the canonical schema (:mod:`toolkit.schema`), and writes the canonical table.
A record that cannot be read or typed, lacks its primary key, or repeats one, goes to
``rejected_rows`` with its row number, the reason and the raw record; ``load_log`` keeps per file
``rows_read = rows_loaded + rows_rejected``, the file's sha256, and data-quality counts (naive
timestamps for DQ-001, future timestamps, unknown code values).

The load is one transaction: it either replaces every table of the export or leaves the database
as it was. Loading the same files twice gives the same tables.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from . import __version__, schema
from .exceptions import PrivauditError, UnusableInputError
from .mapping import Mapping, TableMapping, read_mapping
from .readers import (SourceFile, Staged, discover, drop_raw, drop_stage, inspect, read_header,
                      stage)

DEFAULT_DB = Path("data/audit.duckdb")
DEFAULT_TIMEZONE = "Europe/Amsterdam"

# Text that means "no value" in a typed (non-text) column; compared lower-cased after trimming.
NULL_TOKENS = ("", "nan", "null", "none", "nat", "n/a", "\\n")
TRUE_WORDS = ("true", "1", "yes", "y", "ja", "j", "t", "waar")
FALSE_WORDS = ("false", "0", "no", "n", "nee", "f", "onwaar")
# a time of day followed by an offset or Z: the timestamp is not naive
OFFSET_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*(Z|z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?)$"

META_DDL = (
    """CREATE TABLE IF NOT EXISTS load_log (
        load_id VARCHAR, loaded_at TIMESTAMPTZ, export_dir VARCHAR, mapping VARCHAR,
        table_name VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT, format VARCHAR,
        encoding VARCHAR, delimiter VARCHAR, rows_read BIGINT, rows_loaded BIGINT,
        rows_rejected BIGINT, naive_timestamps BIGINT, future_timestamps BIGINT, notes JSON,
        toolkit_version VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS rejected_rows (
        table_name VARCHAR, file VARCHAR, row_number BIGINT, reason VARCHAR, raw VARCHAR)""",
)


@dataclass
class FileResult:
    """What happened to one export file."""

    table: str
    file: str
    format: str
    encoding: str
    delimiter: str | None
    sha256: str
    bytes: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    naive_timestamps: int = 0
    future_timestamps: int = 0
    notes: dict = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_rejected


@dataclass
class LoadResult:
    """The outcome of :func:`load`: one :class:`FileResult` per loaded file."""

    db_path: Path
    load_id: str
    files: list[FileResult]
    skipped: list[str]
    seconds: float

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def by_table(self) -> dict[str, FileResult]:
        return {f.table: f for f in self.files}

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame([asdict(f) for f in self.files])


# --------------------------------------------------------------------------------------------
# SQL building: every value from a file or mapping is a bound parameter

class _Params:
    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, value) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _sql_list(words: tuple[str, ...]) -> str:
    # constants of this module, never user data
    return "(" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + ")"


def _clean(x: str) -> str:
    # every null token is short: the length test spares the lower/trim of ordinary values
    return (f"CASE WHEN length({x}) <= 8 AND lower(trim({x})) IN {_sql_list(NULL_TOKENS)} "
            f"THEN NULL ELSE trim({x}) END")


def _number(c: str, decimal: str | None) -> str:
    n = f"regexp_replace({c}, '[\\s\u00a0€]|EUR', '', 'g')"
    dutch = f"replace(replace({n}, '.', ''), ',', '.')"
    english = f"replace({n}, ',', '')"
    if decimal == ",":
        return dutch
    if decimal == ".":
        return english
    # a comma after the last dot (or without dots) is a decimal comma: 1.234,50 and 12,50
    return (f"CASE WHEN regexp_full_match({n}, '[-+]?[0-9.]*,[0-9]*') THEN {dutch} "
            f"ELSE {english} END")


def _typed(col: schema.Column, x: str, tm: TableMapping, p: _Params) -> tuple[str, str | None]:
    """(expression giving the typed value, expression true when the timestamp is naive)."""
    if col.type == "VARCHAR":
        if col.free_text:   # message text is kept as written; only blank means no value
            return f"CASE WHEN trim({x}) = '' THEN NULL ELSE {x} END", None
        return f"nullif(trim({x}), '')", None
    c = _clean(x)
    if col.type == "BOOLEAN":
        lc = f"lower({c})"
        return (f"CASE WHEN {lc} IN {_sql_list(TRUE_WORDS)} THEN true "
                f"WHEN {lc} IN {_sql_list(FALSE_WORDS)} THEN false END"), None
    if col.type in ("INTEGER", "BIGINT"):
        n = _number(c, tm.decimal)
        # whole numbers only ("12" or pandas' "12.0"): DuckDB would round "1.5" to 2
        return (f"CASE WHEN regexp_full_match({n}, '[-+]?[0-9]+(\\.0*)?') THEN "
                f"TRY_CAST(split_part({n}, '.', 1) AS {col.type}) END"), None
    if col.type.startswith("DECIMAL"):
        slow = f"TRY_CAST({_number(c, tm.decimal)} AS {col.type})"
        if tm.decimal == ",":
            return slow, None
        # plain "12.50" casts directly; only the rest goes through the separator rewriting
        return f"coalesce(TRY_CAST({c} AS {col.type}), {slow})", None
    if col.type == schema.LIST_TYPE:
        return (f"CASE WHEN {c} IS NULL THEN NULL "
                f"WHEN left({c}, 1) IN ('[', '{{') THEN CASE WHEN json_valid({c}) AND "
                f"json_type(CASE WHEN json_valid({c}) THEN {c} END) = 'ARRAY' "
                f"THEN from_json(CASE WHEN json_valid({c}) THEN {c} END, '[\"VARCHAR\"]') END "
                f"ELSE list_filter(list_transform(string_split({c}, '|'), lambda e: trim(e)), "
                f"lambda e: e <> '') END"), None
    fmts = tm.column_formats.get(col.name, tm.date_format)
    if isinstance(fmts, str):
        fmts = [fmts]
    if col.type == "DATE":
        if fmts:
            return f"CAST(try_strptime({c}, {p(fmts)}) AS DATE)", None
        return (f"coalesce(TRY_CAST({c} AS DATE), "
                f"CAST(TRY_CAST({c} AS TIMESTAMPTZ) AS DATE))"), None
    if col.type == "TIMESTAMPTZ":
        if fmts:
            naive = "true" if not any("%z" in f or "%Z" in f for f in fmts) else "false"
            return (f"CAST(try_strptime({c}, {p(fmts)}) AS TIMESTAMPTZ)",
                    f"({c} IS NOT NULL AND {naive})")
        norm = (f"regexp_replace(regexp_replace({c}, '([0-9])\\s+(Z|z|[+-][0-9]{{2}}:?[0-9]{{2}})$', "
                f"'\\1\\2'), '\\s*(UTC|GMT)$', '+00:00')")
        # ISO-8601 casts directly; the rewriting (a space before the offset, UTC/GMT) is only
        # tried on what does not
        return (f"coalesce(TRY_CAST({c} AS TIMESTAMPTZ), TRY_CAST({norm} AS TIMESTAMPTZ))",
                f"({c} IS NOT NULL AND NOT regexp_matches({c}, '{OFFSET_RE}'))")
    raise AssertionError(col.type)


def _kind(col: schema.Column) -> str:
    return {"BOOLEAN": "boolean", "INTEGER": "integer", "BIGINT": "integer", "DATE": "date",
            "TIMESTAMPTZ": "timestamp", schema.LIST_TYPE: "list"}.get(
        col.type, "number" if col.type.startswith("DECIMAL") else "value")


def _safe_extra(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_") or "column"
    if base[0].isdigit():
        base = "c_" + base
    out, i = base, 2
    while out in taken or out.startswith("_"):
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


# --------------------------------------------------------------------------------------------

def _resolve_columns(src: SourceFile, staged: Staged, t: schema.Table, tm: TableMapping,
                     p: _Params) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
    """Match source columns to canonical ones.

    Returns {canonical: stage expression}, [(extra column, stage column)] and the names of
    source columns dropped by the mapping."""
    lower_map = {k.strip().lower(): v for k, v in tm.columns.items()}
    canonical: dict[str, list[str]] = {}
    extras_src: list[tuple[str, str]] = []
    for i, name in enumerate(staged.columns):
        key = name.strip().lstrip("\ufeff").strip().lower()
        target = lower_map.get(key) or (key if t.has(key) else None)
        if target is None:
            extras_src.append((name, f"s{i}"))
        else:
            canonical.setdefault(target, []).append(f"s{i}")
    header = {c.strip().lstrip("\ufeff").strip().lower() for c in staged.columns}
    for src_name in tm.columns:
        if src_name.strip().lower() not in header:
            raise UnusableInputError(f"{src.path}: mapping names column {src_name!r}, "
                                     f"which the file does not have")
    if src.format == "csv":
        dup = [c for c, cols in canonical.items() if len(cols) > 1]
        if dup:
            raise UnusableInputError(f"{src.path}: header names column {dup[0]} more than once")
    if staged.rows and not canonical and src.format != "parquet" and not tm.columns:
        raise UnusableInputError(f"{src.path}: no header row: none of the first row's names is a "
                                 f"column of {t.name}")
    # JSON records may spell a key differently per record ("ID" and "id"): take the first present
    resolved = {c: (cols[0] if len(cols) == 1 else "coalesce(" + ", ".join(cols) + ")")
                for c, cols in canonical.items()}
    if tm.generated_key:
        stem = src.name.split(".")[0]
        resolved[t.primary_key] = f"({p(stem + ':')} || CAST(_row AS VARCHAR))"
    if tm.extra_columns == "drop":
        return resolved, [], [name for name, _ in extras_src]
    taken = set(t.column_names)
    extras = [(_safe_extra(name, taken), scol) for name, scol in extras_src]
    return resolved, extras, []


def _load_one(con: duckdb.DuckDBPyConnection, src: SourceFile, tm: TableMapping,
              now_utc: str) -> FileResult:
    t = schema.table(src.table)
    staged = stage(con, src)
    p = _Params()
    resolved, extras, dropped = _resolve_columns(src, staged, t, tm, p)
    present = [c for c in t.columns if c.name in resolved]
    inner, raws, errs, naive_flags = [], [], [], []
    for c in present:
        raw = resolved[c.name]
        value, naive = _typed(c, raw, tm, p)
        inner.append(f"{value} AS \"{c.name}\"")
        if c.type != "VARCHAR":
            raws.append(f"{raw} AS \"_raw_{c.name}\"")
            errs.append(f"CASE WHEN \"_raw_{c.name}\" IS NOT NULL AND lower(trim(\"_raw_{c.name}\")) "
                        f"NOT IN {_sql_list(NULL_TOKENS)} AND \"{c.name}\" IS NULL THEN "
                        f"'invalid {_kind(c)} in column {c.name}' END")
        if naive is not None:
            inner.append(f"{naive} AS \"_naive_{c.name}\"")
            naive_flags.append(c.name)
    for name, scol in extras:
        inner.append(f"{scol} AS \"{name}\"")
    for req in t.required_columns:
        if req not in resolved:
            errs.append(f"'missing required column {req} (not in the file)'")
        else:
            errs.append(f"CASE WHEN \"{req}\" IS NULL THEN 'missing "
                        f"{'primary key' if req == t.primary_key else 'required value'} {req}' END")
    pk = t.primary_key
    errs_sql = "list_filter([" + ", ".join(errs) + "]::VARCHAR[], lambda e: e IS NOT NULL)"
    keep = "* EXCLUDE (" + ", ".join(f'"_raw_{c.name}"' for c in present if c.type != "VARCHAR") \
        + ")" if raws else "*"
    # The typed copy keeps only typed values, error lists and flags: raw text stays in _stg and
    # is read back for the rejected rows alone.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _typed AS "
        f"WITH v AS (SELECT _row, {', '.join(inner + raws)} FROM _stg) "
        f"SELECT {keep}, {errs_sql} AS _errs FROM v",
        p.values)
    # duplicate keys: the (usually empty) list of keys seen twice, with the row that keeps them
    con.execute("CREATE OR REPLACE TEMP TABLE _dups (k VARCHAR, first_row BIGINT)")
    if pk in resolved:
        con.execute(f'INSERT INTO _dups SELECT "{pk}", min(_row) FROM _typed WHERE len(_errs) = 0 '
                    f'GROUP BY "{pk}" HAVING count(*) > 1')
    dup = (f'EXISTS (SELECT 1 FROM _dups d WHERE d.k = t."{pk}" AND d.first_row <> t._row)'
           if pk in resolved else "false")
    ok = f"len(t._errs) = 0 AND NOT {dup}"
    # rejects: parse failures from staging, then typing errors and duplicate keys with their raw
    # record (the original JSON line, or the CSV/Parquet values as a JSON object)
    names = _Params()
    if staged.raw_lines:
        raw_expr = "(SELECT l.line FROM _lines l WHERE l._row = t._row)"
    else:
        pairs = ", ".join(f"{names(name)}, s.s{i}" for i, name in enumerate(staged.columns))
        raw_expr = f"CAST(json_object({pairs}) AS VARCHAR)" if pairs else "NULL"
    reject_sql = (
        "INSERT INTO _stg_rej SELECT t._row, CASE WHEN len(t._errs) > 0 THEN "
        f"array_to_string(t._errs, '; ') ELSE 'duplicate primary key {pk} (first at row ' "
        f"|| (SELECT d.first_row FROM _dups d WHERE d.k = t.\"{pk}\") || ')' END, {raw_expr} "
        f"FROM _typed t JOIN _stg s USING (_row) WHERE NOT ({ok})" if pk in resolved else
        f"INSERT INTO _stg_rej SELECT t._row, array_to_string(t._errs, '; '), {raw_expr} "
        f"FROM _typed t JOIN _stg s USING (_row) WHERE len(t._errs) > 0")
    if con.execute(f"SELECT count(*) FROM _typed t WHERE NOT ({ok})").fetchone()[0]:
        con.execute(reject_sql, names.values)
    drop_raw(con)
    cols = [c.name for c in present] + [name for name, _ in extras]
    con.execute(f'DROP TABLE IF EXISTS "{t.name}"')
    con.execute(schema.ddl(t, [c.name for c in present]))
    for name, _ in extras:
        con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{name}" VARCHAR')
    collist = ", ".join(f'"{c}"' for c in cols)
    # _typed is in row order already (every staging table is built in it)
    con.execute(f'INSERT INTO "{t.name}" ({collist}) SELECT {collist} FROM _typed t WHERE {ok}')
    con.execute("DELETE FROM rejected_rows WHERE table_name = $1", [t.name])
    con.execute("INSERT INTO rejected_rows SELECT $1, $2, _row, reason, raw FROM _stg_rej "
                "ORDER BY _row", [t.name, src.name])

    loaded = con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    notes: dict = {}
    naive_total = future = 0
    if naive_flags:
        counts = con.execute("SELECT " + ", ".join(
            [f"count_if(\"_naive_{n}\")" for n in naive_flags]
            + ["count_if(" + " OR ".join(f"coalesce(\"_naive_{n}\", false)" for n in naive_flags)
               + ")"]) + f" FROM _typed t WHERE {ok}").fetchone()
        per_col = {n: int(k) for n, k in zip(naive_flags, counts) if k}
        if per_col:
            notes["naive_timestamps"] = per_col
        naive_total = counts[-1]
    if t.event_time and t.event_time in resolved:
        future = con.execute(f'SELECT count(*) FROM "{t.name}" WHERE "{t.event_time}" > $1',
                             [now_utc]).fetchone()[0]
        if future:
            notes["future_timestamps"] = {t.event_time: int(future)}
    unknown = {}
    for c in present:
        if c.values:
            k = con.execute(f'SELECT count(*) FROM "{t.name}" WHERE "{c.name}" IS NOT NULL AND '
                            f'NOT list_contains($1, "{c.name}")', [list(c.values)]).fetchone()[0]
            if k:
                unknown[c.name] = int(k)
    if unknown:
        notes["unknown_values"] = unknown
    missing_optional = [c.name for c in t.columns if c.name not in resolved and c.core]
    if missing_optional:
        notes["missing_columns"] = missing_optional
    if extras:
        notes["extra_columns"] = [name for name, _ in extras]
    if dropped:
        notes["dropped_columns"] = dropped
    if src.fallback_lines:
        notes["cp1252_lines"] = src.fallback_lines
    drop_stage(con)
    con.execute("DROP TABLE IF EXISTS _typed")
    con.execute("DROP TABLE IF EXISTS _dups")
    return FileResult(
        table=t.name, file=src.name, format=src.format + (".gz" if src.compressed else ""),
        encoding=src.encoding, delimiter=src.delimiter, sha256=src.sha256, bytes=src.size,
        rows_read=staged.rows + staged.rejected, rows_loaded=int(loaded), rows_rejected=int(rejected),
        naive_timestamps=int(naive_total), future_timestamps=int(future), notes=notes)


def connect(db: str | Path, read_only: bool = False, timezone: str = DEFAULT_TIMEZONE
            ) -> duckdb.DuckDBPyConnection:
    """Open the audit database (created readable by its owner only) with the civil time zone set."""
    db = Path(db)
    if read_only and not db.exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    db.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as e:
        raise UnusableInputError(f"{db}: cannot open database ({str(e).splitlines()[0]})") from None
    finally:
        os.umask(old)
    if not read_only:
        os.chmod(db, 0o600)
    # SET takes no bound parameters: the values are checked against strict patterns instead
    con.execute(f"SET TimeZone = '{_tz_name(timezone)}'")
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    return con


def memory_limit() -> str:
    """DuckDB's memory limit for our connections: PRIVAUDIT_MEMORY_LIMIT (e.g. ``4GB``), default
    1GB. Work beyond it spills to a temporary folder next to the database, which keeps a load or
    an audit of a million-customer shop within a laptop's means (see docs/benchmarks.md)."""
    v = os.environ.get("PRIVAUDIT_MEMORY_LIMIT", "1GB").strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", v, re.IGNORECASE):
        raise PrivauditError(f"PRIVAUDIT_MEMORY_LIMIT: {v!r} is not a size like 1GB or 512MB")
    return v


def _tz_name(tz: str) -> str:
    if not re.fullmatch(r"[A-Za-z_+\-/0-9]+", tz):
        raise PrivauditError(f"invalid time zone name {tz!r}")
    return tz


def load(export_dir: str | Path, db: str | Path = DEFAULT_DB, mapping: str | Path | Mapping |
         None = None, timezone: str = DEFAULT_TIMEZONE,
         progress: Callable[[str], None] | None = None) -> LoadResult:
    """Load every table file of ``export_dir`` into the DuckDB database ``db``.

    Atomic: on any error the database is left exactly as it was, and the error is raised
    (:class:`~toolkit.exceptions.UnusableInputError` names the file and the problem).
    """
    started = time.perf_counter()
    export_dir = Path(export_dir)
    mp = mapping if isinstance(mapping, Mapping) else read_mapping(mapping)
    sources, skipped = discover(export_dir, mp)
    if not sources:
        raise UnusableInputError(f"{export_dir}: no table files found (expected files like "
                                 f"customers.csv; see the README's export layout)")
    say = progress or (lambda _msg: None)
    load_id = uuid.uuid4().hex[:12]
    now_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="privaudit-load-") as tmp:
        # First look at every file (checksums, encodings, headers), before touching the database.
        for i, src in enumerate(sources, 1):
            say(f"[{i}/{len(sources)}] checking {src.name}")
            tm = mp.for_table(src.table)
            inspect(src, Path(tmp), tm.encoding)
            if src.format == "csv":
                read_header(src, tm.delimiter)
        existed = Path(db).exists()
        con = connect(db, timezone=timezone)
        try:
            con.execute("BEGIN TRANSACTION")
            for ddl in META_DDL:
                con.execute(ddl)
            for i, src in enumerate(sources, 1):
                say(f"[{i}/{len(sources)}] loading {src.name} into {src.table}")
                try:
                    results.append(_load_one(con, src, mp.for_table(src.table), now_utc))
                except duckdb.Error as e:
                    raise UnusableInputError(f"{src.path}: {str(e).splitlines()[0][:300]}") from None
            mapping_name = str(mapping) if isinstance(mapping, (str, Path)) else None
            for r in results:
                assert r.reconciles, f"{r.file}: read {r.rows_read} != loaded + rejected"
                con.execute(
                    "INSERT INTO load_log VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                    "$11, $12, $13, $14, $15, $16, $17)",
                    [load_id, str(export_dir.resolve()), mapping_name, r.table, r.file, r.sha256,
                     r.bytes, r.format, r.encoding, r.delimiter, r.rows_read, r.rows_loaded,
                     r.rows_rejected, r.naive_timestamps, r.future_timestamps,
                     json.dumps(r.notes, sort_keys=True), __version__])
            for name in skipped:
                con.execute("INSERT INTO load_log (load_id, loaded_at, export_dir, file, format, "
                            "notes, toolkit_version) VALUES ($1, now(), $2, $3, 'skipped', $4, $5)",
                            [load_id, str(export_dir.resolve()), name,
                             json.dumps({"skipped": "not a table file"}), __version__])
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            con.close()
            if not existed:   # leave no empty database behind
                for leftover in (Path(db), Path(f"{db}.wal")):
                    leftover.unlink(missing_ok=True)
            raise
        con.close()
    return LoadResult(Path(db), load_id, results, skipped, time.perf_counter() - started)
