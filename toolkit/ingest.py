"""Loading an export folder into DuckDB, losing nothing.

``load(export_dir, db)`` finds each table's file (:mod:`toolkit.readers`), stages it as text, types
every column by the canonical schema (:mod:`toolkit.schema`), and writes the canonical table.
A record that cannot be read or typed, lacks its primary key, or repeats one, goes to
``rejected_rows`` with its row number, the reason and the raw record; a row a mapping leaves out
on purpose is skipped, counted with its reason. ``load_log`` keeps per file
``rows_read = rows_loaded + rows_rejected + rows_skipped``, the file's sha256, and data-quality
counts (naive timestamps for DQ-001, future timestamps, unknown code values).

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
from datetime import date, datetime, timedelta, timezone as dt_timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import duckdb

from . import __version__, outputs, schema
from .database import (DEFAULT_TIMEZONE, _tz_name, check_database_file, connect,  # noqa: F401
                       database_path, key_for, memory_limit)
from .exceptions import PrivauditError, UnusableInputError, check_stop
from .mapping import (DEFAULT_EARLIEST, ColumnSpec, Mapping, TableMapping, TimestampWindow, matches,
                      read_mapping)
from .readers import (SourceFile, Staged, check_unchanged, discover, drop_raw, drop_stage, inspect,
                      stage)

DEFAULT_DB = Path("data/audit.duckdb")

# Text that means "no value" in a typed (non-text) column; compared lower-cased after trimming.
NULL_TOKENS = ("", "nan", "null", "none", "nat", "n/a", "\\n")
TRUE_WORDS = ("true", "1", "yes", "y", "ja", "j", "t", "waar")
FALSE_WORDS = ("false", "0", "no", "n", "nee", "f", "onwaar")
# Timestamp columns that hold planned or expiry times, in the future by nature: the plausible
# window bounds them from below only.
OPEN_ENDED = {("cookie_observations", "expires_at"), ("legal_holds", "review_due_at")}
# Dates (birth dates, agreement dates) are bounded from below only: 9999-12-31 is a common
# "no end" in agreement exports.
EARLIEST_DATE = date(1900, 1, 1)

META_DDL = (
    """CREATE TABLE IF NOT EXISTS load_log (
        load_id VARCHAR, loaded_at TIMESTAMPTZ, export_dir VARCHAR, mapping VARCHAR,
        table_name VARCHAR, file VARCHAR, sha256 VARCHAR, bytes BIGINT, format VARCHAR,
        encoding VARCHAR, delimiter VARCHAR, rows_read BIGINT, rows_loaded BIGINT,
        rows_rejected BIGINT, naive_timestamps BIGINT, future_timestamps BIGINT, notes JSON,
        toolkit_version VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS rejected_rows (
        table_name VARCHAR, file VARCHAR, row_number BIGINT, reason VARCHAR, raw VARCHAR)""",
    # the length and sha256 of the whole raw record (raw keeps at most 64 KiB of a longer one)
    "ALTER TABLE rejected_rows ADD COLUMN IF NOT EXISTS raw_bytes BIGINT",
    "ALTER TABLE rejected_rows ADD COLUMN IF NOT EXISTS raw_sha256 VARCHAR",
    # rows a mapping leaves out on purpose (rows_read = rows_loaded + rows_rejected + rows_skipped);
    # added to databases made before it
    "ALTER TABLE load_log ADD COLUMN IF NOT EXISTS rows_skipped BIGINT",
    # when 'privaudit purge' deleted the load's data (toolkit.purge)
    "ALTER TABLE load_log ADD COLUMN IF NOT EXISTS purged_at TIMESTAMPTZ",
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


# --------------------------------------------------------------------------------------------
# Typing: one function per kind of value builds its SQL over the cleaned text of a column. Each
# returns a Typed: helper columns computed in steps (a step may use the columns of the steps
# before it), the typed value, the reasons a present value is rejected, and flags to count.

@dataclass
class Typed:
    steps: list[list[tuple[str, str]]]   # per step: (alias, SQL) helper columns
    value: str                           # SQL of the typed value (may use every helper)
    errors: list[str] = field(default_factory=list)  # SQL giving a reason or NULL (may use it)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (alias, SQL) kept on _typed


# ISO-8601 as the loader reads it (README, "Timestamps"): a date, or a date and a time of day
# (hours 00-23, minutes, optional seconds, optional fraction of up to 9 digits, kept to the
# microsecond), with an optional offset Z, UTC, GMT, +hh, +hhmm or +hh:mm (at most 14 hours).
TS_RE = (r"^([0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
         r"(?:[T ]((?:[01][0-9]|2[0-3]):[0-5][0-9])(?::([0-5][0-9])(?:[.,]([0-9]{1,9}))?)?"
         r"(?:[ ]*(Z|z|UTC|GMT|[+-](?:0[0-9]|1[0-4])(?::?[0-5][0-9])?))?)?$")


def timestamp_sql(c: str, key: str, spec: ColumnSpec, p: _Params) -> Typed:
    """The SQL reading the text ``c`` of timestamp column ``key``: the one place for its rules.

    By default the text must follow the ISO rules of ``TS_RE``: the common shapes
    (``2024-03-01T10:00:00Z``, ``...+01:00``, naive ``2024-03-01 10:00:00``, a date alone) are
    recognised by cheap LIKE patterns and cast directly, anything else goes through the regular
    expression and is rewritten to a form DuckDB casts exactly. The mapping may declare instead
    ``strptime`` formats (only those are tried) or epoch seconds/milliseconds (exact to the
    microsecond, no floating point), and the zone of naive times (``timezone``; default the
    session's, Europe/Amsterdam). Never a lenient cast: DuckDB's TRY_CAST alone reads
    ``07-05-19`` as the year 7 and ``epoch`` as 1970.

    Helper columns: ``_w_<key>``, the wall-clock time of a value without an offset, and
    ``_nv_<key>``, true for such a value. The window and DST checks are added by
    :func:`_timestamp_checks`."""
    w, nv, k, m = f'"_w_{key}"', f'"_nv_{key}"', f'"_k_{key}"', f'"_m_{key}"'
    zone = p(spec.timezone) if spec.timezone else None

    def local(wall: str) -> str:       # a wall-clock TIMESTAMP read in the source zone
        return f"timezone({zone}, {wall})" if zone else f"CAST({wall} AS TIMESTAMPTZ)"

    if spec.epoch:
        micros = 1000 if spec.epoch == "ms" else 1000000
        num = f"TRY_CAST({c} AS DECIMAL(38,9))"
        value = (f"CASE WHEN regexp_full_match({c}, '[-+]?[0-9]{{1,13}}(\\.[0-9]{{1,9}})?') THEN "
                 f"timezone('UTC', make_timestamp(CAST(round({num} * {micros}) AS BIGINT))) END")
        return Typed([[(w, "CAST(NULL AS TIMESTAMP)"), (nv, "false")]], value)
    fmts = [spec.format] if isinstance(spec.format, str) else spec.format
    if fmts:
        plain = [f for f in fmts if "%z" not in f and "%Z" not in f]
        zoned = [f for f in fmts if f not in plain]
        wall = f"try_strptime({c}, {p(plain)})" if plain else "CAST(NULL AS TIMESTAMP)"
        value = (f"CASE WHEN {w} IS NOT NULL THEN {local(w)} "
                 + (f"ELSE try_strptime({c}, {p(zoned)}) " if zoned else "") + "END")
        return Typed([[(w, wall)], [(nv, f"{w} IS NOT NULL")]], value)
    hour_ok = f"{c}[12:13] <= '23'"
    shape = (
        f"CASE WHEN {c} IS NULL THEN NULL "
        f"WHEN length({c}) = 20 AND {c} LIKE '____-__-__T__:__:__Z' AND {hour_ok} THEN 1 "
        f"WHEN length({c}) = 25 AND {c}[20] IN ('+', '-') AND {c} LIKE '____-__-__T__:__:__%__:__' "
        f"AND {hour_ok} AND {c}[21:22] <= '14' THEN 2 "
        f"WHEN length({c}) = 19 AND ({c} LIKE '____-__-__T__:__:__' OR {c} LIKE '____-__-__ __:__:__') "
        f"AND {hour_ok} THEN 3 "
        f"WHEN length({c}) = 10 AND {c} LIKE '____-__-__' THEN 4 ELSE 0 END")
    groups = f"CASE WHEN {k} = 0 THEN regexp_extract({c}, '{TS_RE}', ['d', 'hm', 's', 'f', 'o']) END"
    text = (f"{m}.d || CASE WHEN {m}.hm = '' THEN '' ELSE ' ' || {m}.hm || ':' || "
            f"CASE WHEN {m}.s = '' THEN '00' ELSE {m}.s END || "
            f"CASE WHEN {m}.f = '' THEN '' ELSE '.' || left({m}.f, 6) END END")
    offset = (f"CASE WHEN {m}.o IN ('Z', 'z', 'UTC', 'GMT') THEN '+00:00' "
              f"WHEN length({m}.o) = 3 THEN {m}.o || ':00' "
              f"WHEN length({m}.o) = 5 THEN left({m}.o, 3) || ':' || right({m}.o, 2) ELSE {m}.o END")
    naive = (f"CASE WHEN {k} IN (1, 2) THEN false WHEN {k} IN (3, 4) THEN true "
             f"WHEN {k} = 0 THEN {m}.d <> '' AND {m}.o = '' END")
    wall = (f"CASE WHEN {k} IN (3, 4) THEN TRY_CAST({c} AS TIMESTAMP) "
            f"WHEN {k} = 0 AND {m}.d <> '' AND {m}.o = '' THEN TRY_CAST({text} AS TIMESTAMP) END")
    value = (f"CASE WHEN {k} IN (1, 2) THEN TRY_CAST({c} AS TIMESTAMPTZ) "
             f"WHEN {nv} THEN {local(w)} "
             f"WHEN {k} = 0 AND {m}.d <> '' THEN TRY_CAST({text} || {offset} AS TIMESTAMPTZ) END")
    return Typed([[(k, shape)], [(m, groups)], [(nv, naive), (w, wall)]], value)


@dataclass(frozen=True)
class Window:
    """The plausible window of timestamps: [earliest 00:00, day after latest 00:00) local time."""

    earliest: date
    latest: date

    def text(self) -> str:
        return f"{self.earliest.isoformat()} .. {self.latest.isoformat()}"


@lru_cache(maxsize=8)
def dst_hours(tz: str) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """The local hours (as naive wall-clock datetimes truncated to the hour) that do not exist
    (clocks moved forward) and that occur twice (clocks moved back) in ``tz``, 1970-2100."""
    zone = ZoneInfo(tz)
    utc = dt_timezone.utc
    gaps: list[datetime] = []
    overlaps: list[datetime] = []
    day = datetime(1970, 1, 1, 12, tzinfo=utc)
    prev = day.astimezone(zone).utcoffset()
    while day.year < 2101:
        nxt = day + timedelta(days=1)
        off = nxt.astimezone(zone).utcoffset()
        if off != prev:     # a change in the last 24 hours: find its minute
            lo, hi = 0, 24 * 60          # minutes after `day`: offset prev at lo, off at hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if (day + timedelta(minutes=mid)).astimezone(zone).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            at = (day + timedelta(minutes=hi)).replace(tzinfo=None)
            before, after = at + prev, at + off
            start, end, into = (before, after, gaps) if off > prev else (after, before, overlaps)
            h = start.replace(minute=0, second=0, microsecond=0)
            while h < end:
                into.append(h)
                h += timedelta(hours=1)
            prev = off
        day = nxt
    return tuple(gaps), tuple(overlaps)


def _timestamp_checks(col: schema.Column, key: str, ts: Typed, window: Window, open_ended: bool,
                      zone: str, counted_naive: bool, p: _Params) -> None:
    """Add the checks every timestamp gets, however it was parsed: a wall-clock time (no
    offset) in the spring-forward gap of its zone does not exist (rejected); one in the autumn
    overlap is read as standard time, the later of its two instants, and counted (both fall on
    the same civil date); every value must lie in the plausible window (expiry and planned
    times only after its start). ``counted_naive``: wall-clock times count as naive (DQ-001),
    unless the mapping declared their zone."""
    v, w, nv = f'"{key}"', f'"_w_{key}"', f'"_nv_{key}"'
    gaps, overlaps = dst_hours(zone)
    if gaps:
        back = f"timezone({p(zone)}, {v})"      # the instant as a wall-clock time again
        ts.errors.append(
            f"CASE WHEN {nv} AND {v} IS NOT NULL AND list_contains({p(list(gaps))}::TIMESTAMP[], "
            f"date_trunc('hour', {w})) AND {back} <> {w} THEN "
            f"'nonexistent local time in column {col.name} (clocks moved forward)' END")
    if overlaps:
        ts.flags.append((f"_amb_{key}", f"coalesce({nv} AND list_contains("
                         f"{p(list(overlaps))}::TIMESTAMP[], date_trunc('hour', {w})), false)"))
    lo = p(f"{window.earliest.isoformat()} 00:00:00")
    cond = f"{v} < CAST({lo} AS TIMESTAMP)::TIMESTAMPTZ"
    if not open_ended:
        hi = p(f"{(window.latest + timedelta(days=1)).isoformat()} 00:00:00")
        cond += f" OR {v} >= CAST({hi} AS TIMESTAMP)::TIMESTAMPTZ"
        text = window.text()
    else:
        text = f"from {window.earliest.isoformat()}"
    ts.errors.append(f"CASE WHEN {cond} THEN 'timestamp outside the plausible window in column "
                     f"{col.name} ({text})' END")
    ts.flags.append((f"_naive_{key}", f"coalesce({nv}, false)" if counted_naive else "false"))


def date_sql(c: str, key: str, spec: ColumnSpec, p: _Params) -> Typed:
    """A date: ``YYYY-MM-DD``, or that followed by a time of exactly midnight (as pandas writes
    dates), or a declared ``strptime`` format, or epoch seconds/milliseconds (their UTC date);
    from 1900-01-01 on (9999-12-31, a common "no end", is a date)."""
    k = f'"_k_{key}"'
    fmts = [spec.format] if isinstance(spec.format, str) else spec.format
    if spec.epoch:
        ts = timestamp_sql(c, key, spec, p)
        t = Typed(ts.steps, f"CAST({ts.value} AS DATE)")
    elif fmts:
        t = Typed([], f"CAST(try_strptime({c}, {p(fmts)}) AS DATE)")
    else:
        shape = (f"CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) = 10 AND {c} LIKE '____-__-__' "
                 f"THEN 1 WHEN regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[T ]00:00"
                 f"(:00([.,]0+)?)?') THEN 2 ELSE 0 END")
        t = Typed([[(k, shape)]], f"CASE {k} WHEN 1 THEN TRY_CAST({c} AS DATE) "
                                  f"WHEN 2 THEN TRY_CAST(left({c}, 10) AS DATE) END")
    t.errors.append(f"CASE WHEN {c} IS NOT NULL AND \"{key}\" IS NULL THEN "
                    f"'invalid date in column {key}' END")
    t.errors.append(f"CASE WHEN \"{key}\" < DATE '{EARLIEST_DATE.isoformat()}' THEN "
                    f"'date outside the plausible window in column {key} "
                    f"(from {EARLIEST_DATE.isoformat()})' END")
    return t


_SP = r"[ \x{00a0}\x{202f}]"      # spaces that group digits: space, no-break, narrow no-break


def _number_parts(c: str) -> str:
    """SQL splitting a number's text into struct(sg, b): its sign and its digits with their
    separators, without a currency sign (``€`` or ``EUR``, before or after) and spaces."""
    return (f"regexp_extract({c}, '^(?:€|EUR)?{_SP}*([-+]?){_SP}*(?:€|EUR)?{_SP}*"
            f"([0-9](?:[0-9.,]|{_SP})*?){_SP}*(?:€|EUR)?$', ['sg', 'b'])")


def _number_text(parts: str, decimal: str | None) -> tuple[str, str]:
    """SQL giving the number as plain text (``-1234.50``) from :func:`_number_parts`, and the
    SQL of why it is not one. Thousands may be grouped by dots, commas or spaces in groups of
    three. Without a declared decimal separator a single ``.`` or ``,`` followed by exactly three
    digits (``1.234``, ``12,500``) is ambiguous and rejected."""
    b = f"{parts}.b"
    spaced = f"[0-9]{{1,3}}(?:{_SP}[0-9]{{3}})+"

    def grouped(g: str, d: str) -> str:
        return f"[0-9]{{1,3}}(?:\\{g}[0-9]{{3}})+(?:\\{d}[0-9]+)?"

    strip_spaces = f"regexp_replace({b}, '{_SP}', '', 'g')"
    if decimal in (",", "."):
        g = "." if decimal == "," else ","

        def to_dot(x: str) -> str:
            return f"replace(replace({x}, '.', ''), ',', '.')" if decimal == "," else \
                f"replace({x}, ',', '')"

        body = (f"CASE WHEN regexp_full_match({b}, '[0-9]+(?:\\{decimal}[0-9]+)?') OR "
                f"regexp_full_match({b}, '{grouped(g, decimal)}') THEN {to_dot(b)} "
                f"WHEN regexp_full_match({b}, '{spaced}(?:\\{decimal}[0-9]+)?') THEN "
                f"{to_dot(strip_spaces)} END")
        problem = "CAST(NULL AS VARCHAR)"
    else:
        ambiguous = f"regexp_full_match({b}, '[1-9][0-9]{{0,2}}[.,][0-9]{{3}}')"
        body = (
            f"CASE WHEN regexp_full_match({b}, '[0-9]+') THEN {b} "
            f"WHEN regexp_full_match({b}, '{grouped('.', ',')}') AND contains({b}, ',') "
            f"THEN replace(replace({b}, '.', ''), ',', '.') "
            f"WHEN regexp_full_match({b}, '{grouped(',', '.')}') AND contains({b}, '.') "
            f"THEN replace({b}, ',', '') "
            f"WHEN regexp_full_match({b}, '{spaced}(?:[.,][0-9]+)?') "
            f"THEN replace({strip_spaces}, ',', '.') "
            f"WHEN {ambiguous} THEN NULL "
            f"WHEN regexp_full_match({b}, '[0-9]+[.,][0-9]+') THEN replace({b}, ',', '.') "
            f"WHEN regexp_full_match({b}, '[0-9]{{1,3}}(?:\\.[0-9]{{3}}){{2,}}') "
            f"THEN replace({b}, '.', '') "
            f"WHEN regexp_full_match({b}, '[0-9]{{1,3}}(?:,[0-9]{{3}}){{2,}}') "
            f"THEN replace({b}, ',', '') END")
        problem = f"CASE WHEN {ambiguous} THEN 'ambiguous thousands separator' END"
    return f"CASE WHEN {parts}.sg = '-' THEN '-' ELSE '' END || ({body})", problem


def number_sql(c: str, key: str, col_type: str, decimal: str | None) -> Typed:
    """A number for an INTEGER, BIGINT or DECIMAL(p,s) column: plain ``-12.50`` is cast
    directly; grouped, comma-decimal or currency forms are rewritten by :func:`_number_text`.
    Exponents (``1e5``), more decimals than the column holds (never rounded) and ambiguous
    grouping are rejected; ``-0`` is 0 and negative amounts are kept."""
    f, np_, nn, nq = f'"_f_{key}"', f'"_np_{key}"', f'"_nn_{key}"', f'"_nq_{key}"'
    if col_type.startswith("DECIMAL"):
        prec, scale = (int(x) for x in re.findall(r"\d+", col_type))
        fast = f"-?[0-9]{{1,{prec - scale}}}(\\.[0-9]{{1,{scale}}})?"
        slow_cast = f"TRY_CAST({nn} AS {col_type})"
    else:
        scale = 0
        fast = "-?[0-9]{1,18}"
        slow_cast = f"TRY_CAST(split_part({nn}, '.', 1) AS {col_type})"
    text, problem = _number_text(np_, decimal)
    frac = f"length(rtrim(split_part({nn}, '.', 2), '0'))"
    steps = [[(f, f"regexp_full_match({c}, '{fast}')")],
             [(np_, f"CASE WHEN {c} IS NOT NULL AND NOT {f} THEN {_number_parts(c)} END")],
             [(nn, f"CASE WHEN {np_} IS NOT NULL THEN {text} END"),
              (nq, f"CASE WHEN {np_} IS NOT NULL THEN {problem} END")]]
    value = (f"CASE WHEN {f} THEN TRY_CAST({c} AS {col_type}) "
             f"WHEN {nq} IS NULL AND {frac} <= {scale} THEN {slow_cast} END")
    kind = "number" if col_type.startswith("DECIMAL") else "integer"
    too_many = "not a whole number" if scale == 0 else "more decimals than the column holds"
    t = Typed(steps, value)
    t.errors.append(
        f"CASE WHEN {c} IS NOT NULL AND \"{key}\" IS NULL THEN 'invalid {kind} in column {key}' "
        f"|| coalesce(' (' || coalesce({nq}, CASE WHEN {frac} > {scale} THEN "
        f"'{too_many}' END) || ')', '') END")
    return t


def boolean_sql(c: str, key: str) -> Typed:
    lc = f"lower({c})"
    t = Typed([], f"CASE WHEN {lc} IN {_sql_list(TRUE_WORDS)} THEN true "
                  f"WHEN {lc} IN {_sql_list(FALSE_WORDS)} THEN false END")
    t.errors.append(f"CASE WHEN {c} IS NOT NULL AND \"{key}\" IS NULL THEN "
                    f"'invalid boolean in column {key}' END")
    return t


def list_sql(c: str, key: str) -> Typed:
    """A list of names: a JSON array of strings, or ``|``-separated text."""
    j = f'"_j_{key}"'
    arr = (f"CASE WHEN left({c}, 1) IN ('[', '{{') THEN CASE WHEN json_valid({c}) THEN "
           f"json_type({c}) = 'ARRAY' AND coalesce(list_bool_and(list_transform("
           f"json_type({c}, '$[*]'), e -> e = 'VARCHAR')), true) ELSE false END END")
    value = (f"CASE WHEN {c} IS NULL THEN NULL WHEN {j} IS NULL THEN "
             f"list_filter(list_transform(string_split({c}, '|'), lambda e: trim(e)), "
             f"lambda e: e <> '') WHEN {j} THEN from_json({c}, '[\"VARCHAR\"]') END")
    t = Typed([[(j, arr)]], value)
    t.errors.append(f"CASE WHEN {c} IS NOT NULL AND \"{key}\" IS NULL THEN "
                    f"'invalid list in column {key}' END")
    return t


def _typed_column(col: schema.Column, table: str, c: str, tm: TableMapping, spec: ColumnSpec,
                  window: Window, tz: str, p: _Params, decimal: str | None = None) -> Typed:
    """The Typed of a canonical non-text column whose cleaned text is ``c`` (numbers with the
    decimal separator ``decimal``, if known)."""
    key = col.name
    if col.type == "BOOLEAN":
        return boolean_sql(c, key)
    if col.type in ("INTEGER", "BIGINT") or col.type.startswith("DECIMAL"):
        return number_sql(c, key, col.type, decimal)
    if col.type == schema.LIST_TYPE:
        return list_sql(c, key)
    if col.type == "DATE":
        return date_sql(c, key, spec, p)
    if col.type == "TIMESTAMPTZ":
        t = timestamp_sql(c, key, spec, p)
        t.errors.insert(0, f"CASE WHEN {c} IS NOT NULL AND \"{key}\" IS NULL THEN "
                           f"'invalid timestamp in column {key}' END")
        _timestamp_checks(col, key, t, window, (table, key) in OPEN_ENDED,
                          spec.timezone or tz, not spec.timezone, p)
        return t
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
    if src.format in ("csv", "parquet"):
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


WIDE_EXTRAS = 64          # more extra columns than this: read from the staged text at insert

SINGLE_LINE_PII = (schema.NAME, schema.EMAIL, schema.PHONE, schema.IP, schema.CARD, schema.IBAN,
                   schema.IDENT, schema.CREDENTIAL)


def _single_line(t: schema.Table, c: schema.Column) -> bool:
    """Columns whose values never span lines: keys and ids, codes, names, e-mail addresses,
    phone numbers and other identifiers. A line break in one means a stray quote joined records
    (``c2,"Piet`` ... ``c4,Els"``): the joined record is rejected, not loaded with the others
    inside a name."""
    return (c.name == t.primary_key or c.name.endswith(("_id", "_code", "_country", "country",
                                                         "postcode", "currency"))
            or bool(c.values) or c.pii in SINGLE_LINE_PII)


def _typed_select(staged: Staged, t: schema.Table, tm: TableMapping, res: _Resolution,
                  extras: list[tuple[str, str]], window: Window, tz: str, p: _Params
                  ) -> tuple[str, list[str], list[str]]:
    """The SELECT over ``_stg`` giving ``_row``, the typed columns, the extras, ``_skip`` (why the
    mapping leaves the row out, or NULL), ``_errs`` (the reasons the row is rejected) and the
    flags counted in the notes (``_naive_<col>``, ``_amb_<col>``). Typed columns are built in
    steps of helper columns (:class:`Typed`). Returns (sql, naive columns, ambiguous columns)."""
    resolved = res.resolved
    present = [c for c in t.columns if c.name in resolved]
    first: list[str] = ["_row"]       # step 0 over _stg: cleaned text, text values, reader flags
    errs: list[str] = []
    by_stage = {f"s{i}": name for i, name in enumerate(staged.columns)}
    for i in sorted(staged.binary):
        first.append(f"b{i}")
        errs.append(f"CASE WHEN b{i} THEN 'invalid text in column ' || {p(by_stage[f's{i}'])} "
                    f"|| ' (binary data, not UTF-8)' END")
    typed: dict[str, Typed] = {}
    nested_seen: set[int] = set()
    for c in present:
        raw = resolved[c.name]
        spec = res.specs.get(c.name) or tm.spec_for(c.name)
        # an object or array where one value belongs (a value read from inside one, such as
        # Zendesk's via.channel, is a field of it, not it)
        if c.type != schema.LIST_TYPE and "json_extract" not in raw:
            for i in sorted({int(x) for x in re.findall(r"\bs(\d+)\b", raw)} & staged.nested):
                if i not in nested_seen:
                    first.append(f"n{i}")
                    nested_seen.add(i)
                errs.append(f"CASE WHEN n{i} THEN 'invalid value in column {c.name} "
                            f"(an object or array, not one value)' END")
        x = _source_text(spec, raw, p, c)
        if c.type == "VARCHAR":
            first.append((f"CASE WHEN trim({x}) = '' THEN NULL ELSE {x} END"
                          if c.free_text or not spec.trim else f"nullif(trim({x}), '')")
                         + f' AS "{c.name}"')
            if staged.line_breaks and _single_line(t, c):
                errs.append(f"CASE WHEN contains(\"{c.name}\", chr(10)) THEN 'line break inside "
                            f"column {c.name} (a stray quote may have joined lines)' END")
            continue
        # a value the mapping declares as "none" (-1, a far-future day) is NULL here already
        first.append(f'{_clean(x)} AS "_c_{c.name}"')
        # a native number (Parquet) is written with '.' as its decimal point: 1.500 is 1.5
        native = {int(x) for x in re.findall(r"\bs(\d+)\b", raw)}
        decimal = "." if native and native <= staged.numeric else tm.decimal
        typed[c.name] = _typed_column(c, t.name, f'"_c_{c.name}"', tm, spec, window, tz, p,
                                      decimal)
    for name, scol in extras:
        first.append(f'{scol} AS "{name}"')
    only = _only_rows_condition(tm, res, p)
    first.append(f"{only} AS _skip" if only else "CAST(NULL AS VARCHAR) AS _skip")
    # checks of the whole record, over its text (step 0 sees the staged columns)
    scols = [f"s{i}" for i in range(len(staged.columns))]
    checks = []
    if staged.repeat_header and scols:
        # the header again as a record (files joined together): not a record of data
        same = " AND ".join(f"lower(trim({sc})) = {p(name.strip().lower())}"
                            for sc, name in list(zip(scols, staged.repeat_header))[:8])
        checks.append(f"CASE WHEN {same} THEN 'repeated header row (files joined together?)' END")
    if staged.check_bom and scols:
        checks.append("CASE WHEN " + " OR ".join(f"contains({sc}, chr(65279))" for sc in scols)
                      + " THEN 'byte-order mark inside the record (files joined together?)' END")
    if staged.check_nul and scols:
        checks.append("CASE WHEN " + " OR ".join(f"contains({sc}, chr(0))" for sc in scols)
                      + " THEN 'NUL byte in the record' END")
    for i, check in enumerate(checks):
        first.append(f"{check} AS _rec_err{i}")
        errs.append(f"_rec_err{i}")
    for req in t.required_columns:
        if req not in resolved:
            errs.append(f"'missing required column {req} (not in the file)'")
        else:
            errs.append(f"CASE WHEN \"{req}\" IS NULL THEN 'missing "
                        f"{'primary key' if req == t.primary_key else 'required value'} {req}' END")
    sql = f"SELECT {', '.join(first)} FROM _stg"
    depth = max((len(x.steps) for x in typed.values()), default=0)
    for level in range(depth):
        cols = [f"{expr} AS {alias}" for x in typed.values() if level < len(x.steps)
                for alias, expr in x.steps[level]]
        if cols:
            sql = f"SELECT *, {', '.join(cols)} FROM ({sql})"
    if typed:
        values = ", ".join(f'{x.value} AS "{k}"' for k, x in typed.items())
        sql = f"SELECT *, {values} FROM ({sql})"
    errs = [e for x in typed.values() for e in x.errors] + errs
    flags = [(alias, expr) for x in typed.values() for alias, expr in x.flags]
    out = ["_row"] + [f'"{c.name}"' for c in present] + [f'"{n}"' for n, _ in extras] + ["_skip"]
    out += [f'{expr} AS "{alias}"' for alias, expr in flags]
    errs_sql = "list_filter([" + ", ".join(errs) + "]::VARCHAR[], lambda e: e IS NOT NULL)"
    sql = f"SELECT {', '.join(out)}, {errs_sql} AS _errs FROM ({sql})"
    naive = [a[len("_naive_"):] for a, _ in flags if a.startswith("_naive_")]
    amb = [a[len("_amb_"):] for a, _ in flags if a.startswith("_amb_")]
    return sql, naive, amb


def _load_one(con: duckdb.DuckDBPyConnection, src: SourceFile, tm: TableMapping,
              now_utc: str, append: bool = False, elsewhere: frozenset[str] = frozenset(),
              window: Window | None = None, tz: str = DEFAULT_TIMEZONE) -> FileResult:
    """Load one file into its table. ``append``: an earlier file of this load already filled the
    table (a mapping with several files for one table); keys must not repeat across them.
    ``elsewhere``: source headers other tables read from this same file. ``window``: the
    plausible timestamps (default: 1990-01-01 .. tomorrow)."""
    window = window or Window(DEFAULT_EARLIEST, date.today() + timedelta(days=1))
    t = schema.table(src.table)
    staged = stage(con, src, tm.records)
    check_unchanged(src)
    p = _Params()
    res = _resolve_columns(src, staged, t, tm, p)
    resolved, extras, dropped = res.resolved, res.extras, res.dropped
    present = [c for c in t.columns if c.name in resolved]
    # A wide file's extra columns are not copied into _typed: the insert reads them from the
    # staged text (one copy of a 5,000-column file fits the memory limit, two do not)
    wide = len(extras) > WIDE_EXTRAS and not tm.fold_repeats
    select, naive_flags, amb_flags = _typed_select(staged, t, tm, res, [] if wide else extras,
                                                   window, tz, p)
    pk = t.primary_key
    # The typed copy keeps only typed values, error lists and flags: raw text stays in _stg and
    # is read back for the rejected rows alone.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS {select}", p.values)
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
    has_fold = tm.fold_repeats and con.execute("SELECT count(*) FROM _fold").fetchone()[0] > 0
    folded = "t._row IN (SELECT _row FROM _fold)" if has_fold else "false"
    has_dups = pk in resolved and con.execute("SELECT count(*) FROM _dups").fetchone()[0] > 0
    dup = (f'EXISTS (SELECT 1 FROM _dups d WHERE d.k = t."{pk}" AND d.first_row <> t._row)'
           if has_dups else "false")
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
        con.execute(f"INSERT INTO _stg_rej SELECT _row, reason, raw, strlen(raw), sha256(raw) "
                    f"FROM (SELECT t._row, {reason} AS reason, {raw_expr} AS raw FROM _typed t "
                    f"JOIN _stg s USING (_row) WHERE {rejected_where})", names.values)
    if not wide:
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
        # a file with none of the table's columns still makes the table (its key column)
        ddl = schema.ddl(t, [c.name for c in present] or ([] if extras else [t.primary_key]))
        if extras:   # one statement: an ALTER per extra column costs a table version each
            ddl = ddl[:-2] + "".join(f',\n  "{name}" VARCHAR' for name, _ in extras) + "\n)"
        con.execute(ddl)
        con.execute("DELETE FROM rejected_rows WHERE table_name = $1", [t.name])
    collist = ", ".join(f'"{c}"' for c in cols)
    # _typed is in row order already (every staging table is built in it)
    if wide:
        typed_cols = ", ".join(f't."{c.name}"' for c in present)
        extra_cols = ", ".join(f's.{scol}' for _, scol in extras)
        con.execute(f'INSERT INTO "{t.name}" ({collist}) SELECT {typed_cols}, {extra_cols} '
                    f'FROM _typed t JOIN _stg s USING (_row) WHERE {ok} ORDER BY t._row')
        drop_raw(con)
    elif cols:     # (no column at all: every row lacks the key and is rejected)
        con.execute(f'INSERT INTO "{t.name}" ({collist}) SELECT {collist} FROM _typed t WHERE {ok}')
    con.execute("INSERT INTO rejected_rows (table_name, file, row_number, reason, raw, raw_bytes, "
                "raw_sha256) SELECT $1, $2, _row, reason, raw, raw_bytes, raw_sha256 FROM _stg_rej "
                "ORDER BY _row", [t.name, src.name])

    notes: dict = {}
    skipped = dict(con.execute(
        f"SELECT coalesce(t._skip, $1), count(*) FROM _typed t WHERE t._skip IS NOT NULL OR "
        f"{folded} GROUP BY 1 ORDER BY 1",
        [f"repeats the {pk} of an earlier row with nothing new (folded into it)"]).fetchall())
    if skipped:
        notes["skipped_rows"] = {k: int(v) for k, v in skipped.items()}
    # every count of the notes in one pass over the loaded rows
    q = _Params()
    future_col = t.event_time if t.event_time in resolved else None
    coded = [c for c in present if c.values]
    measures = (["count(*)"] + [f'count_if("_naive_{n}")' for n in naive_flags]
                + ["count_if(" + (" OR ".join(f'"_naive_{n}"' for n in naive_flags) or "false")
                   + ")"]
                + [f'count_if("_amb_{n}")' for n in amb_flags]
                + [f'count_if("{future_col}" > CAST({q(now_utc)} AS TIMESTAMPTZ))'
                   if future_col else "0"]
                + [f'count_if("{c.name}" IS NOT NULL AND NOT list_contains({q(list(c.values))}, '
                   f'"{c.name}"))' for c in coded])
    row = iter([int(x or 0) for x in con.execute(
        f"SELECT {', '.join(measures)} FROM _typed t WHERE {ok}", q.values).fetchone()])
    loaded = next(row)
    naive = {n: next(row) for n in naive_flags}
    naive_total = next(row)
    amb = {n: next(row) for n in amb_flags}
    future = next(row)
    unknown = {c.name: next(row) for c in coded}
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    if any(naive.values()):
        notes["naive_timestamps"] = {k: v for k, v in naive.items() if v}
    if any(amb.values()):
        notes["ambiguous_local_times"] = {k: v for k, v in amb.items() if v}
    zones = {c: s.timezone for c, s in res.specs.items()
             if s.timezone and t.column(c).type == "TIMESTAMPTZ" and not s.epoch}
    if zones:
        notes["source_timezones"] = zones
    if future:
        notes["future_timestamps"] = {future_col: future}
    if any(unknown.values()):
        notes["unknown_values"] = {k: v for k, v in unknown.items() if v}
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
    notes.update(src.notes)
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


class _Target:
    """Where a load writes: the one place of create-then-rename.

    An existing database is changed in one transaction. A new one is created under a temporary
    name in the same folder (``.audit.duckdb.loading-<pid>-<id>``) and renamed into place when
    the load commits: an interrupted, failed or killed first load leaves no database that a later
    gate could pass. Leftovers of killed loads (their process gone) are removed first."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.existed = db.exists()
        _remove_leftovers(db)
        self.path = db if self.existed else db.parent / (
            f".{db.name}.loading-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    def open(self, timezone: str, encrypt: bool = False, key: str | None = None
             ) -> duckdb.DuckDBPyConnection:
        return connect(self.path, timezone=timezone, encrypt=encrypt, key=key)

    def commit(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("COMMIT")
        if not self.existed:
            con.execute("CHECKPOINT")
        con.close()
        outputs.release_temp_directory(self.path)     # nothing next to the database but it
        if not self.existed:
            wal = Path(f"{self.path}.wal")
            if wal.exists():
                os.replace(wal, f"{self.db}.wal")
            os.replace(self.path, self.db)
            _fsync_dir(self.db.parent)

    def abandon(self, con: duckdb.DuckDBPyConnection | None) -> None:
        if con is not None:
            try:
                con.execute("ROLLBACK")
            except (duckdb.Error, RuntimeError):
                pass
            con.close()
        outputs.release_temp_directory(self.path)
        if not self.existed:   # leave no database behind
            for leftover in (self.path, Path(f"{self.path}.wal")):
                leftover.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_leftovers(db: Path) -> None:
    """Temporary databases and folders of loads that were killed (SIGKILL cannot be caught)."""
    if not db.parent.is_dir():
        return
    for p in list(db.parent.glob(f".{db.name}.loading-*")) + list(
            db.parent.glob(".privaudit-load-*")):
        m = re.search(r"(?:loading|load)-(\d+)-", p.name)
        if m and not _pid_alive(int(m.group(1))):
            if p.is_dir():
                import shutil
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _interrupted(e: BaseException) -> bool:
    """DuckDB turns Ctrl-C (and the SIGTERM handler's exception) into 'Query interrupted'."""
    return isinstance(e, getattr(duckdb, "InterruptException", ())) or (
        isinstance(e, RuntimeError) and "interrupted" in str(e).lower())


def _as_of_date(as_of: str | date | None, tz: str) -> date:
    if as_of is None:
        return datetime.now(ZoneInfo(tz)).date()
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    try:
        return date.fromisoformat(str(as_of).strip()[:10])
    except ValueError:
        raise PrivauditError(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)") from None


def window_for(mp: Mapping, table: str, as_of: date) -> Window:
    """The plausible timestamp window of ``table``: the mapping's ``timestamp_window`` (per
    table, else top level), by default 1990-01-01 .. the day after ``as_of``."""
    tw = mp.for_table(table).timestamp_window or mp.timestamp_window or TimestampWindow()
    return Window(tw.earliest, tw.latest or as_of + timedelta(days=1))


def load(export_dir: str | Path, db: str | Path = DEFAULT_DB, mapping: str | Path | Mapping |
         None = None, timezone: str = DEFAULT_TIMEZONE,
         progress: Callable[[str], None] | None = None,
         as_of: str | date | None = None, encrypt: bool = False,
         key: str | None = None, minimise: bool = False) -> LoadResult:
    """Load every table file of ``export_dir`` into the DuckDB database ``db``.

    ``as_of`` (default: today in ``timezone``) ends the plausible window of timestamps, a day
    later, unless the mapping sets ``timestamp_window``. ``encrypt``: a new database is written
    encrypted at rest with ``key`` (default: ``PRIVAUDIT_DB_KEY`` and the other sources of
    :func:`toolkit.database.resolve_key`); an encrypted database stays encrypted on reloads.
    ``minimise`` (work in progress, ``toolkit.minimise``): personal columns keep only presence
    or a keyed hash (HMAC with the database key).

    Atomic: on any error the database is left exactly as it was, and the error is raised
    (:class:`~toolkit.exceptions.UnusableInputError` names the file and the problem).
    """
    started = time.perf_counter()
    export_dir = Path(export_dir)
    _tz_name(timezone)
    as_of_day = _as_of_date(as_of, timezone)
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
    db = database_path(db)
    check_database_file(db)
    found = key_for(db, encrypt, key)  # a missing key stops the load before any file is read
    if minimise and found is None:
        from .database import resolve_key
        found = resolve_key(key)
        if found is None:
            raise UnusableInputError("--minimise: the keyed hashes need the database key (set "
                                     "PRIVAUDIT_DB_KEY or privaudit --key-file)")
    if db.exists():
        _check_same_kind(db, minimise, key)
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        target = _Target(db)
        # private copies (inflated, transcoded, repaired files) go next to the database, on
        # its disk, not into a /tmp that may live in memory
        work = tempfile.TemporaryDirectory(prefix=f".privaudit-load-{os.getpid()}-", dir=db.parent)
    except OSError as e:
        raise UnusableInputError(f"{e.filename or db.parent}: {e.strerror}") from None
    with work as tmp:
        # First look at every file (checksums, encodings, records), before touching the database.
        for i, src in enumerate(sources, 1):
            say(f"[{i}/{len(sources)}] checking {src.name}")
            tm = mp.for_table(src.table)
            inspect(src, Path(tmp), tm.encoding, tm.delimiter)
            check_stop()
        con = None
        try:
            con = target.open(timezone, encrypt=encrypt, key=key)
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
                                             elsewhere=_read_elsewhere(src, sources, mp),
                                             window=window_for(mp, src.table, as_of_day),
                                             tz=timezone))
                except duckdb.Error as e:
                    if _interrupted(e):
                        raise
                    raise UnusableInputError(f"{src.path}: {str(e).splitlines()[0][:300]}") from None
                filled.add(src.table)
                check_stop()
            try:
                _link_tables(con, mp, results)
            except duckdb.Error as e:
                if _interrupted(e):
                    raise
                raise UnusableInputError(f"linking by e-mail: {str(e).splitlines()[0][:300]}"
                                         ) from None
            if minimise:
                from . import minimise as minimising
                say("minimising personal columns")
                done = minimising.apply(con, found[0])
                for r in results:
                    r.notes[minimising.NOTE] = done.get(r.table, {})
            mapping_name = str(mapping) if isinstance(mapping, (str, Path)) else None
            for r in results:
                if not r.reconciles:
                    raise PrivauditError(f"{r.file}: read {r.rows_read} is not loaded + rejected + "
                                         f"skipped; nothing was changed (please report this)")
                con.execute(
                    "INSERT INTO load_log (load_id, loaded_at, export_dir, mapping, table_name, "
                    "file, sha256, bytes, format, encoding, delimiter, rows_read, rows_loaded, "
                    "rows_rejected, rows_skipped, naive_timestamps, future_timestamps, notes, "
                    "toolkit_version) VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                    "$11, $12, $13, $14, $15, $16, $17, $18)",
                    [load_id, str(export_dir.resolve()), mapping_name, r.table, r.file, r.sha256,
                     r.bytes, r.format, r.encoding, r.delimiter, r.rows_read, r.rows_loaded,
                     r.rows_rejected, r.rows_skipped, r.naive_timestamps, r.future_timestamps,
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
            check_stop()
            target.commit(con)
            if minimise:
                # the raw values reached the file's pages before they were replaced
                say("rewriting the database file")
                from .purge import rewrite
                rewrite(db, key)
        except BaseException as e:
            target.abandon(con)
            if _interrupted(e) and not isinstance(e, KeyboardInterrupt):
                raise KeyboardInterrupt() from None
            if isinstance(e, OSError):
                raise UnusableInputError(f"{e.filename or db}: {e.strerror or e}") from None
            raise
    return LoadResult(db, load_id, results, skipped, time.perf_counter() - started, absent)


def _check_same_kind(db: Path, minimise: bool, key: str | None) -> None:
    """A database is minimised or not as a whole: a reload keeps its kind (one line, exit 2)."""
    from . import minimise as minimising

    con = connect(db, read_only=True, key=key, retention_days=0)
    try:
        was_minimised = minimising.is_minimised(con)
        full = minimising.holds_full_load(con)
    finally:
        con.close()
    if was_minimised and not minimise:
        raise UnusableInputError(f"{db}: the database is minimised: reload it with --minimise, "
                                 "or load the full exports into another database")
    if minimise and full:
        raise UnusableInputError(f"{db}: the database holds a load that was not minimised: "
                                 "--minimise needs a new database (or 'privaudit purge' first)")


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
