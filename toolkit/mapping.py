"""Mapping files: how a foreign export's files and columns become the canonical tables.

A mapping is YAML (the README's "Mapping a foreign export" shows every feature with an example)::

    tables:
      customers:                          # canonical table name
        file: "customers_export*.csv"     # a file name or a pattern (default: <table>.<ext>)
        # files:                          # ... or several files, each with its own constants
        #   - {file: "subscribed_*.csv", constants: {action: subscribe}}
        required: false                   # true: refuse the load when no file matches
        encoding: utf-8                   # utf-8, cp1252 or latin-1 (default: detected)
        delimiter: ","                    # "," ";" "\\t" or "|" (default: detected)
        decimal: ","                      # decimal separator of numbers
        date_format: "%d-%m-%Y %H:%M"     # strptime format(s) for every date/timestamp column
        timezone: UTC                     # zone of naive timestamps (default Europe/Amsterdam)
        columns:
          Customer ID: customer_id        # short form: source header -> canonical column
          email: ["Email", "E-mail"]      # canonical column -> alternative headers, in order
          phone:                          # canonical column -> a column specification
            from: ["Phone", "Default Address Phone"]
            strip_prefix: "'"
        constants: {source_system: shopify}
        generated_key: false              # true, or when_absent: key = "<file stem>:<row>"
        fold_repeats: false               # rows repeating a key with nothing new fold into it
        only_rows: {"Accepts Marketing": ["yes"]}   # other rows are skipped, counted
        ignore_columns: ["Lineitem *"]    # source columns left out (noted)
        records: "comments"               # JSON: the nested array whose elements are the rows
        timestamp_window: {earliest: 2015-01-01, latest: 2026-12-31}   # plausible timestamps
        link:
          customer_id: {by_email: email_at_order}   # fill from customers by normalised e-mail
        extra_columns: keep               # keep (as text columns) or drop columns not mapped

A column specification (``ColumnSpec``) may say ``from`` (alternative headers; a JSON field may be
a dotted path such as ``thread.created_at`` or ``parent.id``), ``value`` (a constant), ``map``
(source value -> canonical value; unmapped values are kept as they are) and ``default`` (what
unmapped values become instead), ``strip_prefix``, ``trim``, ``lower``, ``null_values`` (values
that mean "none", e.g. ``-1``; a ``YYYY-MM-DD`` entry matches every timestamp on that day),
``format`` (strptime), ``epoch`` (``s`` or ``ms``), ``timezone`` and ``coalesce`` (the first
non-empty value among the headers present, rather than the first header present) or ``join``
(the values of all headers present, joined with the given separator).

Every mapped column is optional: a file without it loads, the column is noted as absent, and rules
needing it report ``not_evaluable``. Only a table's key column is required (unless generated).
Unknown keys, tables, columns and values, bad formats and time zones are refused when the mapping
is read, with a message that names the key (exit code 2 on the command line).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from . import schema
from .exceptions import MappingError

Scalar = Union[str, int, float, bool, None]

# strptime directives DuckDB understands (docs: "Date Format Functions")
STRPTIME_DIRECTIVES = set("aAwubBmyYHIpMSfzZjUWcxXgGV%") | {"-d", "-m", "-y", "-H", "-I", "-M",
                                                            "-S", "-j", "d", "e", "n"}
_DIRECTIVE_RE = re.compile(r"%(-?.)")
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_format(fmt: str) -> str:
    """A strptime format DuckDB can use, or ValueError naming the bad directive."""
    found = _DIRECTIVE_RE.findall(fmt)
    if not found:
        raise ValueError(f"format {fmt!r} has no % directive")
    for d in found:
        if d not in STRPTIME_DIRECTIVES:
            raise ValueError(f"format {fmt!r}: unknown directive %{d}")
    if fmt.count("%") != len(found) + fmt.count("%%"):
        raise ValueError(f"format {fmt!r}: a lone % at the end")
    return fmt


def check_zone(zone: str) -> str:
    if not re.fullmatch(r"[A-Za-z_+\-/0-9]+", zone):
        raise ValueError(f"unknown time zone {zone!r}")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as UTC or "
                         f"Europe/Amsterdam)") from None
    return zone


def _formats(v: str | list[str] | None) -> str | list[str] | None:
    if v is None:
        return v
    for f in [v] if isinstance(v, str) else v:
        check_format(f)
    return v


DEFAULT_EARLIEST = date(1990, 1, 1)


class TimestampWindow(BaseModel):
    """Plausible timestamps: from ``earliest`` 00:00 to the end of ``latest`` (local time); the
    others are rejected. ``latest`` defaults to the day after the load's as-of date."""

    model_config = ConfigDict(extra="forbid")

    earliest: date = DEFAULT_EARLIEST
    latest: date | None = None

    @model_validator(mode="after")
    def _order(self) -> "TimestampWindow":
        if self.latest is not None and self.latest < self.earliest:
            raise ValueError("latest is before earliest")
        return self


class ColumnSpec(BaseModel):
    """How one canonical column is filled."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    from_: list[str] = Field(default_factory=list, alias="from")
    # take the first non-empty value among the headers present (Shopify orders: Phone, else
    # Billing Phone, else Shipping Phone), instead of the first header present; the others stay
    # in the table as extra columns
    coalesce: bool = False
    # join the values of every header present with this separator (first and last name into a
    # name: ["First Name (Billing)", "Last Name (Billing)"] with join: " ")
    join: str | None = None
    value: Scalar = None
    has_value: bool = False          # set when `value` was given (a constant may be null)
    map: dict[str, Scalar] = Field(default_factory=dict)
    default: Scalar = None
    has_default: bool = False
    strip_prefix: list[str] = Field(default_factory=list)
    trim: bool = True
    lower: bool = False
    null_values: list[str] = Field(default_factory=list)
    format: str | list[str] | None = None
    epoch: Literal["s", "ms"] | None = None
    timezone: str | None = None

    @field_validator("from_", "strip_prefix", "null_values", mode="before")
    @classmethod
    def _listify(cls, v):
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            return [str(v)]
        if isinstance(v, list):
            return [str(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
                    for x in v]
        return v

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, v):
        if isinstance(v, dict):
            return {("" if k is None else str(k).lower() if isinstance(k, bool) else str(k)): x
                    for k, x in v.items()}
        return v

    @field_validator("format")
    @classmethod
    def _format(cls, v):
        return _formats(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v):
        return v if v is None else check_zone(v)

    @classmethod
    def parse(cls, raw) -> "ColumnSpec":
        if isinstance(raw, str):
            return cls(from_=[raw])
        if isinstance(raw, list):
            return cls(from_=raw)
        if isinstance(raw, dict):
            data = dict(raw)
            if "value" in data:
                data["has_value"] = True
            if "default" in data:
                data["has_default"] = True
            for internal in ("has_value", "has_default"):
                if internal in raw:
                    raise ValueError(f"unknown key {internal!r}")
            return cls.model_validate(data)
        raise ValueError("expected a header, a list of headers or a column specification")

    @property
    def is_constant(self) -> bool:
        return self.has_value

    def day_sentinels(self) -> list[str]:
        return [v for v in self.null_values if _DAY_RE.fullmatch(v)]

    def exact_sentinels(self) -> list[str]:
        return [v for v in self.null_values if not _DAY_RE.fullmatch(v)]


class FileSpec(BaseModel):
    """Files (names or patterns) of a table, with what this entry takes from them: constants,
    columns and a row filter added to the table's. A file matched by several entries is read
    once per entry (a Mailchimp member row holds an opt-in and a confirmation)."""

    model_config = ConfigDict(extra="forbid")

    file: Union[str, list[str]]
    tag: str | None = None            # part of generated keys: "<file stem>:<tag>:<row>"
    constants: dict[str, Scalar] = Field(default_factory=dict)
    columns: dict[str, Union[str, list[str], dict]] = Field(default_factory=dict)
    only_rows: dict[str, list[str]] = Field(default_factory=dict)
    records: str | None = None        # JSON: nested records of these files (see TableMapping)

    @field_validator("only_rows", mode="before")
    @classmethod
    def _only_rows(cls, v):
        return _only_rows_values(v)

    @property
    def patterns(self) -> list[str]:
        return [self.file] if isinstance(self.file, str) else list(self.file)


def _only_rows_values(v):
    if isinstance(v, dict):
        return {k: ["" if x is None else str(x).lower() if isinstance(x, bool) else str(x)
                    for x in (x if isinstance(x, list) else [x])] for k, x in v.items()}
    return v


class LinkSpec(BaseModel):
    """Fill a column from another table by a normalised e-mail (lower-cased, trimmed)."""

    model_config = ConfigDict(extra="forbid")

    by_email: str                    # the canonical e-mail column of this table
    table: str = "customers"         # the table to look the e-mail up in
    email: str = "email"             # its e-mail column
    key: str = "customer_id"         # the column whose value is taken
    # what an e-mail that matches no (or several) rows gets: nothing, or "email:<md5 of the
    # normalised e-mail>" (Mailchimp's own member id), so one person's rows still belong together
    unmatched: Literal["keep", "email_hash"] = "keep"


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: Union[str, list[str], None] = None
    files: list[FileSpec] | None = None
    required: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | list[str] | None = None
    column_formats: dict[str, str | list[str]] = Field(default_factory=dict)
    timezone: str | None = None
    columns: dict[str, Union[str, list[str], dict]] = Field(default_factory=dict)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    # fill the primary key from the record's row number ("<file stem>:<row>") for exports that
    # have no key of their own; "when_absent": only when the file lacks the key column
    generated_key: Union[bool, Literal["when_absent"]] = False
    fold_repeats: bool = False
    only_rows: dict[str, list[str]] = Field(default_factory=dict)
    ignore_columns: list[str] = Field(default_factory=list)
    records: str | None = None
    link: dict[str, LinkSpec] = Field(default_factory=dict)
    # columns without a canonical name are kept as extra text columns, or dropped (names noted)
    extra_columns: Literal["keep", "drop"] = "keep"
    # plausible timestamps of this table (default: the mapping's, else 1990-01-01 .. as-of + 1 day)
    timestamp_window: TimestampWindow | None = None

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is None:
            return v
        norm = v.lower().replace("_", "-")
        aliases = {"utf8": "utf-8", "utf-8-sig": "utf-8", "windows-1252": "cp1252",
                   "win1252": "cp1252", "latin1": "latin-1", "iso-8859-1": "latin-1"}
        norm = aliases.get(norm, norm)
        if norm not in ("utf-8", "cp1252", "latin-1"):
            raise ValueError(f"unsupported encoding {v!r} (use utf-8, cp1252 or latin-1)")
        return norm

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = {"\\t": "\t", "tab": "\t"}.get(v, v)
        if v not in (",", ";", "\t", "|"):
            raise ValueError(f"unsupported delimiter {v!r} (use ',', ';', '\\t' or '|')")
        return v

    @field_validator("decimal")
    @classmethod
    def _decimal(cls, v: str | None) -> str | None:
        if v is not None and v not in (".", ","):
            raise ValueError(f"unsupported decimal separator {v!r} (use '.' or ',')")
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v):
        return _formats(v)

    @field_validator("column_formats")
    @classmethod
    def _column_formats(cls, v):
        for f in v.values():
            _formats(f)
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v):
        return v if v is None else check_zone(v)

    @field_validator("only_rows", mode="before")
    @classmethod
    def _only_rows(cls, v):
        return _only_rows_values(v)

    # ---- derived views (filled by parse_mapping after the names are checked)

    @cached_property
    def specs(self) -> dict[str, ColumnSpec]:
        """{canonical column: how it is filled}, from both forms of ``columns``."""
        out: dict[str, ColumnSpec] = {}
        for key, raw in self.columns.items():
            target = self.target_of(key)
            out[target] = ColumnSpec(from_=[key]) if target != key else ColumnSpec.parse(raw)
        return out

    _table: str | None = None

    def target_of(self, key: str) -> str:
        """The canonical column a ``columns`` entry fills. ``Source header: canonical`` is the
        short form; ``canonical: header``, ``canonical: [headers]`` and ``canonical: {spec}``
        the others. A string value that is a canonical column reads as the short form."""
        raw = self.columns[key]
        if not isinstance(raw, str):
            return key
        t = schema.TABLES_BY_NAME.get(self._table or "")
        if t is not None and t.has(key) and not t.has(raw):
            return key
        return raw

    @property
    def patterns(self) -> list[FileSpec]:
        """The table's files as patterns with their constants ([] when not named)."""
        if self.files:
            return list(self.files)
        if self.file:
            return [FileSpec(file=self.file)]
        return []

    def source_headers_all(self) -> list[str]:
        """Every header the table or any of its file entries names."""
        out = self.source_headers()
        for i, _ in enumerate(self.files or []):
            out += self.for_entry(i).source_headers()
        return out

    def for_entry(self, index: int | None) -> "TableMapping":
        """The table's mapping for the files of ``files[index]``: its columns, constants and row
        filter added to the table's (None: the table's own)."""
        if index is None or not self.files:
            return self
        fs = self.files[index]
        if not (fs.columns or fs.only_rows or fs.tag or fs.records):
            return self
        out = self.model_copy(update={"columns": {**self.columns, **fs.columns},
                                      "only_rows": {**self.only_rows, **fs.only_rows},
                                      "records": fs.records or self.records})
        out.__dict__.pop("specs", None)
        out._table = self._table
        out._tag = fs.tag
        return out

    _tag: str | None = None

    def spec_for(self, column: str) -> ColumnSpec:
        """The column's specification with the table-wide format and zone folded in."""
        spec = self.specs.get(column, ColumnSpec())
        fmt = spec.format or self.column_formats.get(column) or self.date_format
        zone = spec.timezone or self.timezone
        if fmt is spec.format and zone is spec.timezone:
            return spec
        return spec.model_copy(update={"format": fmt, "timezone": zone})

    def source_headers(self) -> list[str]:
        """Every header the mapping names (for recognising files)."""
        out = []
        for spec in self.specs.values():
            out.extend(h for h in spec.from_ if not h.startswith("parent."))
        return out

    def header_fit(self, headers: list[str]) -> tuple[list[str], int]:
        """(the mapped headers a file has, one per canonical column; how many canonical columns
        the mapping reads from headers): how well a file's header fits this table."""
        have = {h.strip().lstrip("\ufeff").strip().lower() for h in headers}
        wanted = [[h.strip().lower() for h in spec.from_ if "." not in h]
                  for spec in self.specs.values()]
        wanted = [hs for hs in wanted if hs]
        found = sorted(next(h for h in hs if h in have) for hs in wanted
                       if any(h in have for h in hs))
        return found, len(wanted)


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: dict[str, TableMapping] = Field(default_factory=dict)
    # for humans and `privaudit inspect`: what the mapping is for
    description: str | None = None
    # plausible timestamps of every table (a table's own window wins)
    timestamp_window: TimestampWindow | None = None

    @model_validator(mode="after")
    def _names(self) -> "Mapping":
        for name, tm in self.tables.items():
            tm._table = name
        return self

    def for_table(self, name: str) -> TableMapping:
        return self.tables.get(name) or TableMapping()


def matches(pattern: str, name: str) -> bool:
    """A file name matches a mapping's name or pattern (case-insensitively)."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def _err(where: str, key: str, msg: str) -> MappingError:
    return MappingError(f"{where}: {key}: {msg}")


def _check_value(where: str, key: str, col: schema.Column, value: Scalar) -> None:
    """A constant or mapped value must be valid for a column with a documented value set."""
    if value is None or not col.values:
        return
    if str(value) not in col.values:
        raise _err(where, key, f"{value!r} is not a value of {col.name} "
                               f"(known: {', '.join(col.values)})")


def _check_names(m: Mapping, where: str) -> None:
    for tname, tm in m.tables.items():
        if tname not in schema.TABLES_BY_NAME:
            raise MappingError(f"{where}: tables.{tname}: unknown table "
                               f"(known: {', '.join(schema.TABLES_BY_NAME)})")
        t = schema.table(tname)
        base = f"tables.{tname}"
        if tm.file and tm.files:
            raise _err(where, f"{base}.files", "give either file or files, not both")
        targets: dict[str, str] = {}
        for key, raw in tm.columns.items():
            target = tm.target_of(key)
            if not t.has(target):
                what = f"unknown column {target!r}" if isinstance(raw, str) else "unknown column"
                raise _err(where, f"{base}.columns.{key}",
                           f"{what} of {tname} (known: {', '.join(t.column_names)})")
            if target in targets:
                raise _err(where, f"{base}.columns", f"several source columns map to {target}")
            targets[target] = key
            if target == key:
                try:
                    ColumnSpec.parse(raw)
                except ValidationError as e:
                    err = e.errors()[0]
                    sub = ".".join(str(p) for p in err["loc"]).replace("from_", "from")
                    raise _err(where, f"{base}.columns.{key}" + (f".{sub}" if sub else ""),
                               err["msg"].removeprefix("Value error, ")) from None
                except ValueError as e:
                    raise _err(where, f"{base}.columns.{key}", str(e)) from None
        for col, spec in tm.specs.items():
            c = t.column(col)
            key = f"{base}.columns.{targets[col]}"
            temporal = c.type in ("DATE", "TIMESTAMPTZ")
            if not spec.from_ and not spec.has_value:
                raise _err(where, key, "names no source header (from) and no constant (value)")
            if spec.format and not temporal:
                raise _err(where, f"{key}.format", f"{col} is not a date or timestamp column")
            if spec.epoch and not temporal:
                raise _err(where, f"{key}.epoch", f"{col} is not a date or timestamp column")
            if spec.timezone and c.type != "TIMESTAMPTZ":
                raise _err(where, f"{key}.timezone", f"{col} is not a timestamp column")
            if spec.day_sentinels() and not temporal:
                raise _err(where, f"{key}.null_values", f"a date sentinel on {col}, which is not "
                                                        f"a date or timestamp column")
            if spec.has_value:
                _check_value(where, f"{key}.value", c, spec.value)
            for k, v in spec.map.items():
                _check_value(where, f"{key}.map.{k}", c, v)
            if spec.has_default:
                _check_value(where, f"{key}.default", c, spec.default)
        if tm.generated_key and t.primary_key in tm.specs and tm.generated_key is True:
            raise _err(where, f"{base}.generated_key", f"the columns already map {t.primary_key}")
        for col in tm.column_formats:
            if not t.has(col):
                raise _err(where, f"{base}.column_formats.{col}", f"unknown column of {tname}")
            if t.column(col).type not in ("DATE", "TIMESTAMPTZ"):
                raise _err(where, f"{base}.column_formats.{col}", "not a date or timestamp column")
        for i, fs in enumerate(tm.files or []):
            for key in fs.columns:
                sub = tm.for_entry(i)
                target = sub.target_of(key)
                if not t.has(target):
                    raise _err(where, f"{base}.files.{i}.columns.{key}",
                               f"unknown column of {tname} (known: {', '.join(t.column_names)})")
                raw = fs.columns[key]
                if target == key:
                    try:
                        ColumnSpec.parse(raw)
                    except ValidationError as e:
                        err = e.errors()[0]
                        sub_key = ".".join(str(p) for p in err["loc"]).replace("from_", "from")
                        raise _err(where, f"{base}.files.{i}.columns.{key}"
                                   + (f".{sub_key}" if sub_key else ""),
                                   err["msg"].removeprefix("Value error, ")) from None
                    except ValueError as e:
                        raise _err(where, f"{base}.files.{i}.columns.{key}", str(e)) from None
        consts = [(f"{base}.constants", tm.constants)] + [
            (f"{base}.files.{i}.constants", f.constants) for i, f in enumerate(tm.files or [])]
        for key, values in consts:
            for col, v in values.items():
                if not t.has(col):
                    raise _err(where, f"{key}.{col}", f"a constant for an unknown column of {tname} "
                                                      f"(known: {', '.join(t.column_names)})")
                _check_value(where, f"{key}.{col}", t.column(col), v)
        for col, link in tm.link.items():
            key = f"{base}.link.{col}"
            if not t.has(col):
                raise _err(where, key, f"unknown column of {tname}")
            if not t.has(link.by_email):
                raise _err(where, f"{key}.by_email", f"unknown column {link.by_email!r} of {tname}")
            if link.table not in schema.TABLES_BY_NAME:
                raise _err(where, f"{key}.table", f"unknown table {link.table!r}")
            other = schema.table(link.table)
            for name, attr in ((link.email, "email"), (link.key, "key")):
                if not other.has(name):
                    raise _err(where, f"{key}.{attr}", f"unknown column {name!r} of {link.table}")
        if tm.fold_repeats and tm.generated_key is True:
            raise _err(where, f"{base}.fold_repeats", "a generated key never repeats")
        for key, rec in [(f"{base}.records", tm.records)] + [
                (f"{base}.files.{i}.records", f.records) for i, f in enumerate(tm.files or [])]:
            if rec is not None and not re.fullmatch(
                    r"[A-Za-z0-9_\-]+(\[\]\.[A-Za-z0-9_\-]+|\.[A-Za-z0-9_\-]+)*", rec):
                raise _err(where, key, f"{rec!r} is not a path like 'comments' or "
                                       f"'chats[].thread.events'")


def parse_mapping(data: object, where: str = "mapping") -> Mapping:
    """Validate a mapping given as Python data (as read from YAML)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected a mapping with a 'tables' key")
    try:
        m = Mapping.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise MappingError(f"{where}: {key}: {msg}") from None
    _check_names(m, where)
    return m


MAPPINGS_DIR = Path(__file__).parent / "mappings"


def read_mapping(path: str | Path | None) -> Mapping:
    """Read and validate a mapping file; ``None`` gives the empty mapping (canonical names)."""
    if path is None:
        return Mapping()
    p = Path(path)
    if not p.is_file() and p.suffix == "" and (MAPPINGS_DIR / f"{p.name}.yaml").is_file():
        p = builtin_mapping(p.name)
    if not p.is_file():
        known = ", ".join(builtin_names())
        raise MappingError(f"{p}: mapping file not found (built-in mappings: {known})")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MappingError(f"{p}: not valid YAML: {first}") from None
    return parse_mapping(data, where=str(p))


def builtin_names() -> list[str]:
    """The mappings shipped with the package (``--mapping NAME``)."""
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def builtin_mapping(name: str) -> Path:
    """Path of a mapping shipped with the package (e.g. ``shopify``)."""
    p = MAPPINGS_DIR / f"{name}.yaml"
    if not p.is_file():
        raise MappingError(f"no built-in mapping called {name!r} (known: "
                           f"{', '.join(builtin_names())})")
    return p
