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
from .mapping import ColumnSpec, Mapping, TableMapping, matches, read_mapping
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
    # rows a mapping deliberately leaves out of this table, each with its reason in
    # notes["skipped_rows"]: rows its only_rows filter does not take, and repeats of a key that
    # carry nothing new (Shopify's line-item rows of an order, whose lines order_items takes)
    rows_skipped: int = 0

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_rejected + self.rows_skipped


@dataclass
class LoadResult:
    """The outcome of :func:`load`: one :class:`FileResult` per loaded file."""

    db_path: Path
    load_id: str
    files: list[FileResult]
    skipped: list[str]
    seconds: float
    # tables of the mapping whose files were not in the folder: {table: the names looked for}
    absent: dict[str, str] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_skipped(self) -> int:
        return sum(f.rows_skipped for f in self.files)

    def by_table(self) -> dict[str, FileResult]:
        """The result of each table's first file (``files`` has them all)."""
        out: dict[str, FileResult] = {}
        for f in self.files:
            out.setdefault(f.table, f)
        return out

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


def _typed(col: schema.Column, x: str, tm: TableMapping, p: _Params,
           spec: ColumnSpec | None = None) -> tuple[str, str | None]:
    """(expression giving the typed value, expression true when the timestamp is naive).

    ``spec`` is the column's mapping specification: its clean-up, sentinels and value map are
    applied to the text first (:func:`_source_text`), epoch numbers and source time zones are
    read by :func:`_mapped_timestamp`."""
    spec = spec or tm.spec_for(col.name)
    x = _source_text(spec, x, p, col)
    if col.type in ("TIMESTAMPTZ", "DATE") and (spec.epoch or spec.timezone):
        return _mapped_timestamp(col, x, spec, p)
    if col.type == "VARCHAR":
        if col.free_text or not spec.trim:   # message text is kept as written
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
    fmts = spec.format
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


def _source_text(spec: ColumnSpec, x: str, p: _Params, col: schema.Column) -> str:
    """The mapping's clean-up of a source value, still text: strip a prefix (Shopify's leading
    ``'``), trim, lower-case, sentinels that mean "none" (``-1``, ``0``, a far-future day) to NULL,
    and the value map (unmapped values kept, or the map's default)."""
    if spec.strip_prefix:
        for prefix in spec.strip_prefix:
            x = f"CASE WHEN starts_with({x}, {p(prefix)}) THEN substr({x}, {p(len(prefix) + 1)}) " \
                f"ELSE {x} END"
    if spec.lower:
        x = f"lower({x})"
    if spec.null_values or spec.map or spec.has_default:
        t = f"trim({x})" if spec.trim else x
        if spec.exact_sentinels():
            x = f"CASE WHEN {t} IN (SELECT unnest({p(spec.exact_sentinels())}::VARCHAR[])) " \
                f"THEN NULL ELSE {x} END"
        for day in spec.day_sentinels():
            x = f"CASE WHEN starts_with({t}, {p(day)}) THEN NULL ELSE {x} END"
        if spec.map or spec.has_default:
            keys = list(spec.map)
            vals = [None if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                    for v in spec.map.values()]
            other = (p(None if spec.default is None else str(spec.default).lower()
                       if isinstance(spec.default, bool) else str(spec.default))
                     if spec.has_default else x)
            # map keys match case-insensitively after trimming; an empty or missing value is
            # mapped only by an empty key (YAML ~ or "")
            idx = f"list_position({p([k.lower() for k in keys])}::VARCHAR[], lower(trim({x})))"
            empty = (p(vals[keys.index("")]) if "" in keys else x)
            x = (f"CASE WHEN {x} IS NULL OR trim({x}) = '' THEN {empty} "
                 f"WHEN {idx} IS NOT NULL THEN (CAST({p(vals)} AS VARCHAR[]))[{idx}] ELSE {other} END")
    return x


def _mapped_timestamp(col: schema.Column, x: str, spec: ColumnSpec, p: _Params
                      ) -> tuple[str, str | None]:
    """Timestamps the mapping describes: epoch seconds or milliseconds (Puppeteer's cookie
    ``expires``), and naive text in a declared source zone (Mailchimp writes UTC without an
    offset). A value with its own offset keeps it; nothing is guessed: what does not parse is
    NULL and becomes a rejected row."""
    c = _clean(x)
    if spec.epoch:
        # exact to the microsecond: decimal arithmetic, no floating point
        micros = 1000 if spec.epoch == "ms" else 1000000
        num = f"TRY_CAST({c} AS DECIMAL(38,9))"
        ts = (f"CASE WHEN regexp_full_match({c}, '[-+]?[0-9]{{1,13}}(\\.[0-9]{{1,9}})?') THEN "
              f"timezone('UTC', make_timestamp(CAST(round({num} * {micros}) AS BIGINT))) END")
        return (f"CAST({ts} AS DATE)" if col.type == "DATE" else ts), None
    zone = p(spec.timezone)
    fmts = spec.format
    if isinstance(fmts, str):
        fmts = [fmts]
    if fmts:
        parsed = f"try_strptime({c}, {p(fmts)})"
        if any("%z" in f or "%Z" in f for f in fmts):
            # formats with an offset give TIMESTAMPTZ already; the others are local to the zone
            parsed = f"CAST({parsed} AS TIMESTAMPTZ)"
            return (f"CAST({parsed} AS DATE)" if col.type == "DATE" else parsed), None
        local = f"timezone({zone}, {parsed})"
    else:
        norm = (f"regexp_replace(regexp_replace({c}, '([0-9])\\s+(Z|z|[+-][0-9]{{2}}:?[0-9]{{2}})$', "
                f"'\\1\\2'), '\\s*(UTC|GMT)$', '+00:00')")
        with_offset = f"regexp_matches({c}, '{OFFSET_RE}')"
        local = (f"CASE WHEN {with_offset} THEN coalesce(TRY_CAST({c} AS TIMESTAMPTZ), "
                 f"TRY_CAST({norm} AS TIMESTAMPTZ)) "
                 f"ELSE timezone({zone}, TRY_CAST({c} AS TIMESTAMP)) END")
    if col.type == "DATE":
        return f"CAST({local} AS DATE)", None
    return local, None


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

def _norm(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


@dataclass
class _Resolution:
    """How a staged file's columns become a table's: see :func:`_resolve_columns`."""

    resolved: dict[str, str]                 # canonical column -> SQL expression over _stg
    used: dict[str, str]                     # canonical column -> what fills it (header, constant)
    extras: list[tuple[str, str]]            # (extra column name, stage column)
    dropped: list[str]                       # source columns not kept (extra_columns: drop)
    ignored: list[str]                       # source columns the mapping ignores
    absent: list[str]                        # mapped columns the file does not have
    headers: dict[str, str]                  # normalised header -> stage column
    specs: dict[str, ColumnSpec] = field(default_factory=dict)


def _resolve_columns(src: SourceFile, staged: Staged, t: schema.Table, tm: TableMapping,
                     p: _Params) -> _Resolution:
    """Match source columns to canonical ones.

    A canonical column is filled by, in this order: the file's constant (``files:``), the
    column's constant (``value``), the first of its mapped headers the file has (a dotted name
    reads a field inside a JSON object), the table's constant, or a header with the canonical
    name itself. Mapped columns the file lacks are absent, not an error; the key column alone
    must be there (or generated)."""
    headers: dict[str, list[str]] = {}
    for i, name in enumerate(staged.columns):
        headers.setdefault(_norm(name), []).append(f"s{i}")
    if src.format == "csv":
        dup = [h for h, cols in headers.items() if len(cols) > 1
               and (t.has(h) or any(h in map(_norm, s.from_) for s in tm.specs.values()))]
        if dup:
            raise UnusableInputError(f"{src.path}: header names column {dup[0]} more than once")

    def stage_expr(h: str) -> str | None:
        cols = headers.get(_norm(h))
        if cols:
            # JSON records may spell a key differently per record ("ID" and "id"): first present
            return cols[0] if len(cols) == 1 else "coalesce(" + ", ".join(cols) + ")"
        if "." in h and src.format in ("json", "jsonl"):
            # a field inside a JSON object: "thread.created_at" reads created_at of thread
            parts = h.split(".")
            for k in range(len(parts) - 1, 0, -1):
                head, rest = ".".join(parts[:k]), parts[k:]
                base = headers.get(_norm(head))
                if base:
                    path = "$." + ".".join('"' + k.replace('"', '\\"') + '"' for k in rest)
                    return f"json_extract_string({base[0]}, {p(path)})"
        return None

    resolved: dict[str, str] = {}
    used: dict[str, str] = {}
    absent: list[str] = []
    claimed: set[str] = set()
    for c in t.columns:
        spec = tm.specs.get(c.name)
        if c.name in src.constants:
            v = src.constants[c.name]
            resolved[c.name], used[c.name] = p(_const_text(v)), f"constant {v!r} of {src.name}"
            continue
        if spec is not None and spec.has_value:
            resolved[c.name], used[c.name] = p(_const_text(spec.value)), f"constant {spec.value!r}"
            continue
        if spec is not None:
            found = [(h, e) for h in spec.from_ if (e := stage_expr(h)) is not None]
            if found and spec.join is not None:
                resolved[c.name] = f"nullif(concat_ws({p(spec.join)}, " + ", ".join(
                    f"nullif(trim({e}), '')" for _, e in found) + "), '')"
                used[c.name] = " + ".join(h for h, _ in found)
                claimed.update(_norm(h) for h, _ in found)
                continue
            if found and spec.coalesce and len(found) > 1:
                resolved[c.name] = "coalesce(" + ", ".join(
                    f"nullif(trim({e}), '')" for _, e in found) + ")"
                used[c.name] = " or ".join(h for h, _ in found)
                claimed.add(_norm(found[0][0]))
                continue
            if found:
                h, e = found[0]
                resolved[c.name], used[c.name] = e, h
                claimed.add(_norm(h))
                continue
        if c.name in tm.constants:
            v = tm.constants[c.name]
            resolved[c.name], used[c.name] = p(_const_text(v)), f"constant {v!r}"
            continue
        if spec is not None:
            absent.append(c.name)
            continue
        own = headers.get(c.name)
        if own and c.name not in claimed:
            resolved[c.name] = own[0] if len(own) == 1 else "coalesce(" + ", ".join(own) + ")"
            used[c.name] = c.name
            claimed.add(c.name)
    if staged.rows and not resolved and src.format != "parquet" and not tm.columns:
        raise UnusableInputError(f"{src.path}: no header row: none of the first row's names is a "
                                 f"column of {t.name}")
    pk = t.primary_key
    if tm.generated_key is True or (tm.generated_key == "when_absent" and pk not in resolved):
        stem = src.name.split(".")[0] + (f":{tm._tag}" if tm._tag else "")
        resolved[pk] = f"({p(stem + ':')} || CAST(_row AS VARCHAR))"
        used[pk] = f"generated ({stem}:<row>)"
        if pk in absent:
            absent.remove(pk)
    elif pk not in resolved and pk in tm.specs:
        looked = ", ".join(repr(h) for h in tm.specs[pk].from_)
        raise UnusableInputError(f"{src.path}: no key column for {t.name}.{pk} (looked for {looked})")
    ignored = [name for name in staged.columns
               if _norm(name) not in claimed and any(matches(pat, name.strip())
                                                     for pat in tm.ignore_columns)]
    extras_src = [(name, f"s{i}") for i, name in enumerate(staged.columns)
                  if _norm(name) not in claimed and name not in ignored
                  and not (tm.records and name.startswith("parent."))]
    stage_of = {h: cols[0] for h, cols in headers.items()}
    specs = {c: tm.spec_for(c) for c in resolved}
    if tm.extra_columns == "drop":
        return _Resolution(resolved, used, [], [n for n, _ in extras_src], ignored, absent,
                           stage_of, specs)
    taken = set(t.column_names)
    extras = [(_safe_extra(name, taken), scol) for name, scol in extras_src]
    return _Resolution(resolved, used, extras, [], ignored, absent, stage_of, specs)


def _const_text(v) -> str | None:
    """A mapping constant as the text a file would hold (typed like any other value)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _only_rows_condition(tm: TableMapping, res: _Resolution, p: _Params) -> str | None:
    """SQL giving, for a row the mapping does not take (``only_rows``), the reason; else NULL."""
    if not tm.only_rows:
        return None
    whens = []
    for key, values in tm.only_rows.items():
        col = res.headers.get(_norm(key)) or res.resolved.get(key)
        want = [v.lower() for v in values]
        shown = " or ".join("empty" if v == "" else "filled" if v == "?*" else repr(v)
                            for v in values)
        # values are glob patterns ("?*": anything filled), compared lower-cased after trimming;
        # an empty pattern matches an empty or missing value
        cond = ("false" if col is None else
                f"len(list_filter({p(want)}::VARCHAR[], lambda w: "
                f"coalesce(lower(trim({col})), '') GLOB w)) > 0")
        reason = f"{key} is not {shown}" if col is not None else f"the file has no {key} column"
        whens.append(f"WHEN NOT ({cond}) THEN {p(reason)}")
    return "CASE " + " ".join(whens) + " END"


def _fold_condition(t: schema.Table, present: list[schema.Column], extras: list[tuple[str, str]],
                    extra_headers: dict[str, str], elsewhere: set[str]) -> str:
    """SQL over a repeated row ``t`` and the first row ``f`` of its key: true when the repeat
    carries nothing new for this table. Its columns are empty or equal to the first row's, except
    the source columns another table reads from the same file (Shopify's line-item columns, which
    ``order_items`` takes): those rows are folded into the first, not rejected."""
    conds = []
    for c in present:
        if c.name != t.primary_key:
            conds.append(f't."{c.name}" IS NULL OR t."{c.name}" IS NOT DISTINCT FROM f."{c.name}"')
    for name, scol in extras:
        if _norm(extra_headers.get(scol, "")) in elsewhere:
            continue
        conds.append(f"nullif(trim(t.\"{name}\"), '') IS NULL OR "
                     f"t.\"{name}\" IS NOT DISTINCT FROM f.\"{name}\"")
    return " AND ".join(f"({c})" for c in conds) or "true"


def _load_one(con: duckdb.DuckDBPyConnection, src: SourceFile, tm: TableMapping,
              now_utc: str, append: bool = False, elsewhere: frozenset[str] = frozenset()
              ) -> FileResult:
    """Load one file into its table. ``append``: an earlier file of this load already filled the
    table (a mapping with several files for one table); keys must not repeat across them.
    ``elsewhere``: source headers other tables read from this same file."""
    t = schema.table(src.table)
    staged = stage(con, src, tm.records)
    p = _Params()
    res = _resolve_columns(src, staged, t, tm, p)
    resolved, extras, dropped = res.resolved, res.extras, res.dropped
    present = [c for c in t.columns if c.name in resolved]
    inner, raws, errs, naive_flags = [], [], [], []
    # values the reader flagged: binary data that is not text (any column), an object or array
    # where a canonical column expects one value (extra columns keep it as JSON text)
    by_stage = {f"s{i}": name for i, name in enumerate(staged.columns)}
    flag_cols = []
    for i in sorted(staged.binary):
        flag_cols.append(f"b{i}")
        errs.append(f"CASE WHEN b{i} THEN 'invalid text in column ' || {p(by_stage[f's{i}'])} "
                    f"|| ' (binary data, not UTF-8)' END")
    for c in present:
        if c.type == schema.LIST_TYPE:
            continue
        for scol in re.findall(r"\bs(\d+)\b", resolved[c.name]):
            if int(scol) in staged.nested:
                flag_cols.append(f"n{scol}")
                errs.append(f"CASE WHEN n{scol} THEN 'invalid value in column {c.name} "
                            f"(an object or array, not one value)' END")
    for c in present:
        raw = resolved[c.name]
        value, naive = _typed(c, raw, tm, p, res.specs.get(c.name))
        inner.append(f"{value} AS \"{c.name}\"")
        if c.type != "VARCHAR":
            raws.append(f"{raw} AS \"_raw_{c.name}\"")
            errs.append(f"CASE WHEN \"_raw_{c.name}\" IS NOT NULL AND lower(trim(\"_raw_{c.name}\")) "
                        f"NOT IN {_sql_list(NULL_TOKENS)} AND \"{c.name}\" IS NULL "
                        f"AND NOT coalesce(\"_sentinel_{c.name}\", false) THEN "
                        f"'invalid {_kind(c)} in column {c.name}' END")
            # a value the mapping declares as "none" (-1, a far-future day) is not an error
            spec = res.specs.get(c.name)
            sentinel = "false"
            if spec is not None and spec.null_values:
                txt = f"trim({raw})"
                for prefix in spec.strip_prefix:
                    txt = f"trim(CASE WHEN starts_with({raw}, {p(prefix)}) THEN " \
                          f"substr({raw}, {p(len(prefix) + 1)}) ELSE {raw} END)"
                ors = []
                if spec.exact_sentinels():
                    ors.append(f"list_contains({p(spec.exact_sentinels())}::VARCHAR[], {txt})")
                ors += [f"starts_with({txt}, {p(d)})" for d in spec.day_sentinels()]
                sentinel = " OR ".join(ors)
            raws.append(f"({sentinel}) AS \"_sentinel_{c.name}\"")
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
    only = _only_rows_condition(tm, res, p)
    inner.append(f"{only} AS _skip" if only else "CAST(NULL AS VARCHAR) AS _skip")
    pk = t.primary_key
    errs_sql = "list_filter([" + ", ".join(errs) + "]::VARCHAR[], lambda e: e IS NOT NULL)"
    hidden = [f'"_raw_{c.name}"' for c in present if c.type != "VARCHAR"] + \
        [f'"_sentinel_{c.name}"' for c in present if c.type != "VARCHAR"] + flag_cols
    keep = "* EXCLUDE (" + ", ".join(hidden) + ")" if hidden else "*"
    # The typed copy keeps only typed values, error lists and flags: raw text stays in _stg and
    # is read back for the rejected rows alone.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _typed AS "
        f"WITH v AS (SELECT _row, {', '.join(inner + raws + flag_cols)} FROM _stg) "
        f"SELECT {keep}, {errs_sql} AS _errs FROM v",
        p.values)
    valid = "t._skip IS NULL AND len(t._errs) = 0"
    # duplicate keys: the (usually empty) list of keys seen twice, with the row that keeps them
    con.execute("CREATE OR REPLACE TEMP TABLE _dups (k VARCHAR, first_row BIGINT)")
    con.execute("CREATE OR REPLACE TEMP TABLE _fold (_row BIGINT)")
    con.execute("CREATE OR REPLACE TEMP TABLE _prev (k VARCHAR)")
    if pk in resolved:
        con.execute(f'INSERT INTO _dups SELECT "{pk}", min(_row) FROM _typed t WHERE {valid} '
                    f'GROUP BY "{pk}" HAVING count(*) > 1')
        if tm.fold_repeats:
            extra_headers = {f"s{i}": name for i, name in enumerate(staged.columns)}
            same = _fold_condition(t, present, extras, extra_headers, elsewhere)
            con.execute(f'INSERT INTO _fold SELECT t._row FROM _typed t JOIN _dups d ON '
                        f't."{pk}" = d.k AND t._row <> d.first_row JOIN _typed f ON '
                        f'f._row = d.first_row WHERE {valid} AND {same}')
        if append:
            con.execute(f'INSERT INTO _prev SELECT DISTINCT "{pk}" FROM "{t.name}" WHERE "{pk}" IN '
                        f'(SELECT "{pk}" FROM _typed)')
    prev = f't."{pk}" IN (SELECT k FROM _prev)' if pk in resolved and append else "false"
    if tm.fold_repeats and append and pk in resolved:
        # the same record described by two files of one table (a shop's Analytics download and
        # a plugin's export): the earlier file's row stands, the repeat is skipped and counted
        con.execute(f"UPDATE _typed t SET _skip = $1 WHERE {valid} AND {prev}",
                    [f"already loaded from an earlier file (same {pk})"])
        prev = "false"
    folded = "t._row IN (SELECT _row FROM _fold)"
    dup = (f'EXISTS (SELECT 1 FROM _dups d WHERE d.k = t."{pk}" AND d.first_row <> t._row)'
           if pk in resolved else "false")
    ok = f"{valid} AND NOT {dup} AND NOT {prev}"
    # rejects: parse failures from staging, then typing errors and duplicate keys with their raw
    # record (the original JSON line, or the CSV/Parquet values as a JSON object)
    names = _Params()
    if staged.raw_lines:
        raw_expr = "(SELECT l.line FROM _lines l WHERE l._row = t._row)"
    else:
        pairs = ", ".join(f"{names(name)}, s.s{i}" for i, name in enumerate(staged.columns))
        raw_expr = f"CAST(json_object({pairs}) AS VARCHAR)" if pairs else "NULL"
    reason = ("CASE WHEN len(t._errs) > 0 THEN array_to_string(t._errs, '; ') "
              + (f"WHEN {prev} THEN 'duplicate primary key {pk} (already loaded from an earlier "
                 f"file)' " if append and pk in resolved else "")
              + (f"ELSE 'duplicate primary key {pk} (first at row ' || (SELECT d.first_row FROM "
                 f"_dups d WHERE d.k = t.\"{pk}\") || ')' END" if pk in resolved else "END"))
    rejected_where = f"t._skip IS NULL AND NOT ({ok}) AND NOT {folded}"
    if con.execute(f"SELECT count(*) FROM _typed t WHERE {rejected_where}").fetchone()[0]:
        con.execute(f"INSERT INTO _stg_rej SELECT t._row, {reason}, {raw_expr} FROM _typed t "
                    f"JOIN _stg s USING (_row) WHERE {rejected_where}", names.values)
    drop_raw(con)
    ok = f"{ok} AND NOT {folded}"
    cols = [c.name for c in present] + [name for name, _ in extras]
    if append:
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE NOT internal AND table_name = $1 "
            "AND schema_name = 'main' AND database_name = current_database()", [t.name]).fetchall()}
        for c in present:
            if c.name not in have:
                con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {c.type}')
        for name, _ in extras:
            if name not in have:
                con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{name}" VARCHAR')
    else:
        con.execute(f'DROP TABLE IF EXISTS "{t.name}"')
        con.execute(schema.ddl(t, [c.name for c in present]))
        for name, _ in extras:
            con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{name}" VARCHAR')
        con.execute("DELETE FROM rejected_rows WHERE table_name = $1", [t.name])
    collist = ", ".join(f'"{c}"' for c in cols)
    # _typed is in row order already (every staging table is built in it)
    con.execute(f'INSERT INTO "{t.name}" ({collist}) SELECT {collist} FROM _typed t WHERE {ok}')
    con.execute("INSERT INTO rejected_rows SELECT $1, $2, _row, reason, raw FROM _stg_rej "
                "ORDER BY _row", [t.name, src.name])

    loaded = con.execute(f"SELECT count(*) FROM _typed t WHERE {ok}").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    notes: dict = {}
    skipped = dict(con.execute(
        f"SELECT coalesce(t._skip, $1), count(*) FROM _typed t WHERE t._skip IS NOT NULL OR "
        f"{folded} GROUP BY 1 ORDER BY 1",
        [f"repeats the {pk} of an earlier row with nothing new (folded into it)"]).fetchall())
    if skipped:
        notes["skipped_rows"] = {k: int(v) for k, v in skipped.items()}
    naive_total = future = 0
    if naive_flags:
        counts = con.execute("SELECT " + ", ".join(
            [f"coalesce(count_if(\"_naive_{n}\"), 0)" for n in naive_flags]
            + ["coalesce(count_if(" + " OR ".join(f"coalesce(\"_naive_{n}\", false)"
                                                  for n in naive_flags)
               + "), 0)"]) + f" FROM _typed t WHERE {ok}").fetchone()
        per_col = {n: int(k) for n, k in zip(naive_flags, counts) if k}
        if per_col:
            notes["naive_timestamps"] = per_col
        naive_total = counts[-1] or 0
    zones = {c: s.timezone for c, s in res.specs.items()
             if s.timezone and t.column(c).type == "TIMESTAMPTZ" and not s.epoch}
    if zones:
        notes["source_timezones"] = zones
    if t.event_time and t.event_time in resolved:
        future = con.execute(f'SELECT count(*) FROM _typed t WHERE {ok} AND "{t.event_time}" > $1',
                             [now_utc]).fetchone()[0]
        if future:
            notes["future_timestamps"] = {t.event_time: int(future)}
    unknown = {}
    for c in present:
        if c.values:
            k = con.execute(f'SELECT count(*) FROM _typed t WHERE {ok} AND "{c.name}" IS NOT NULL '
                            f'AND NOT list_contains($1, "{c.name}")', [list(c.values)]).fetchone()[0]
            if k:
                unknown[c.name] = int(k)
    if unknown:
        notes["unknown_values"] = unknown
    missing_optional = [c.name for c in t.columns if c.name not in resolved and c.core]
    if missing_optional:
        notes["missing_columns"] = missing_optional
    if res.absent:
        notes["absent_columns"] = res.absent
    if extras:
        notes["extra_columns"] = [name for name, _ in extras]
    if dropped:
        notes["dropped_columns"] = dropped
    if res.ignored:
        notes["ignored_columns"] = res.ignored
    if src.constants:
        notes["constants"] = {k: _const_text(v) for k, v in src.constants.items()}
    if src.matched_by_header:
        notes["matched_by_header"] = (f"the mapping looks for {src.matched_by_header}; this "
                                      f"file's header fits {t.name}")
    if src.fallback_lines:
        notes["cp1252_lines"] = src.fallback_lines
    notes.update(staged.notes)
    drop_stage(con)
    for tmp in ("_typed", "_dups", "_fold", "_prev"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    return FileResult(
        table=t.name, file=src.name, format=src.format + (".gz" if src.compressed else ""),
        encoding=src.encoding, delimiter=src.delimiter, sha256=src.sha256, bytes=src.size,
        rows_read=staged.rows + staged.rejected, rows_loaded=int(loaded), rows_rejected=int(rejected),
        naive_timestamps=int(naive_total), future_timestamps=int(future), notes=notes,
        rows_skipped=int(sum(skipped.values())))


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
    sources, skipped, absent = discover(export_dir, mp)
    if not sources:
        looked = (f"the mapping looks for {'; '.join(absent.values())}" if absent else
                  "expected files like customers.csv; see the README's export layout")
        if mapping is None:
            looked += _suggest_mapping(export_dir)
        raise UnusableInputError(f"{export_dir}: no table files found ({looked})")
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
            filled: set[str] = set()
            for i, src in enumerate(sources, 1):
                say(f"[{i}/{len(sources)}] loading {src.name} into {src.table}")
                try:
                    results.append(_load_one(con, src, mp.for_table(src.table).for_entry(src.entry),
                                             now_utc,
                                             append=src.table in filled,
                                             elsewhere=_read_elsewhere(src, sources, mp)))
                except duckdb.Error as e:
                    raise UnusableInputError(f"{src.path}: {str(e).splitlines()[0][:300]}") from None
                filled.add(src.table)
            try:
                _link_tables(con, mp, results)
            except duckdb.Error as e:
                raise UnusableInputError(f"linking by e-mail: {str(e).splitlines()[0][:300]}"
                                         ) from None
            mapping_name = str(mapping) if isinstance(mapping, (str, Path)) else None
            for r in results:
                assert r.reconciles, (f"{r.file}: read {r.rows_read} != loaded + rejected + "
                                      f"skipped")
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
            for tname, looked in absent.items():
                con.execute("INSERT INTO load_log (load_id, loaded_at, export_dir, mapping, "
                            "table_name, format, notes, toolkit_version) VALUES ($1, now(), $2, $3, "
                            "$4, 'absent', $5, $6)",
                            [load_id, str(export_dir.resolve()), mapping_name, tname,
                             json.dumps({"absent": f"no file matched {looked}"}), __version__])
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
    return LoadResult(Path(db), load_id, results, skipped, time.perf_counter() - started, absent)


def _suggest_mapping(export_dir: Path) -> str:
    """", these files fit the shipped mapping X: use --mapping X" when one does."""
    from .preview import inspect_export

    try:
        guess = inspect_export(export_dir).mapping
    except PrivauditError:
        return ""
    return (f"; these files fit the shipped mapping {guess!r}: use --mapping {guess} "
            f"('privaudit inspect' shows what would load)") if guess else ""


def _read_elsewhere(src: SourceFile, sources: list[SourceFile], mp: Mapping) -> frozenset[str]:
    """The source headers that other tables read from the same file as ``src``."""
    out: set[str] = set()
    for other in sources:
        if other.path == src.path and other.table != src.table:
            out.update(_norm(h) for h in mp.for_table(other.table).source_headers_all())
    return frozenset(out)


def _link_tables(con: duckdb.DuckDBPyConnection, mp: Mapping, results: list[FileResult]) -> None:
    """Fill columns the mapping links by e-mail (``link:``), after every table is loaded.

    ``orders.customer_id`` from ``customers`` where ``lower(trim(email_at_order))`` equals
    exactly one customer's normalised e-mail. Rows that already have a value keep it; an e-mail
    shared by several customers links to none of them (counted as ambiguous). The counts go to
    the load notes of the table's first file."""
    for tname, tm in mp.tables.items():
        files = [r for r in results if r.table == tname]
        if not tm.link or not files:
            continue
        t = schema.table(tname)
        have = _columns_of(con, tname)
        for col, ln in tm.link.items():
            note: dict = {"by": f"{ln.by_email} = {ln.table}.{ln.email}"}
            files[0].notes.setdefault("links", {})[col] = note
            if col not in have:
                con.execute(f'ALTER TABLE "{tname}" ADD COLUMN "{col}" {t.column(col).type}')
                have.add(col)
            for f in files:
                missing = f.notes.get("missing_columns", [])
                if col in missing:
                    missing.remove(col)
                    if not missing:
                        del f.notes["missing_columns"]
            if ln.by_email not in have:
                note["not_linked"] = f"the file has no {ln.by_email} column"
                continue
            email = f"lower(trim(x.\"{ln.by_email}\"))"
            other = _columns_of(con, ln.table)
            if {ln.email, ln.key} <= other:
                con.execute(
                    f'CREATE OR REPLACE TEMP TABLE _emails AS SELECT lower(trim("{ln.email}")) AS e, '
                    f'min("{ln.key}") AS k, count(DISTINCT "{ln.key}") AS n FROM "{ln.table}" '
                    f'WHERE nullif(trim("{ln.email}"), \'\') IS NOT NULL GROUP BY 1')
                note["linked"] = con.execute(
                    f'UPDATE "{tname}" x SET "{col}" = m.k FROM _emails m WHERE x."{col}" IS NULL '
                    f'AND {email} = m.e AND m.n = 1').fetchone()[0]
                note["ambiguous"] = con.execute(
                    f'SELECT count(*) FROM "{tname}" x JOIN _emails m ON {email} = m.e '
                    f'WHERE x."{col}" IS NULL AND m.n > 1').fetchone()[0]
                con.execute("DROP TABLE _emails")
            else:
                note["linked"] = 0
                note["not_linked"] = f"no {ln.table} table with {ln.email} and {ln.key}"
            note["unmatched"] = con.execute(
                f'SELECT count(*) FROM "{tname}" x WHERE x."{col}" IS NULL AND '
                f"nullif({email}, '') IS NOT NULL").fetchone()[0]
            if ln.unmatched == "email_hash" and note["unmatched"]:
                note["email_hash"] = con.execute(
                    f"UPDATE \"{tname}\" x SET \"{col}\" = 'email:' || md5({email}) "
                    f"WHERE x.\"{col}\" IS NULL AND nullif({email}, '') IS NOT NULL").fetchone()[0]


def _columns_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE NOT internal AND table_name = $1 AND "
        "schema_name = 'main' AND database_name = current_database()", [table]).fetchall()}
