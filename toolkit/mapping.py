"""Mapping files: how a foreign export's files and columns become the canonical tables.

A mapping is YAML::

    tables:
      customers:                       # canonical table name
        file: customers_export.csv     # file in the export folder (default: <table>.<ext>)
        encoding: utf-8                # optional: utf-8, cp1252 or latin-1 (default: detected)
        delimiter: ","                 # optional: "," ";" or "\\t" (default: detected)
        decimal: ","                   # optional: decimal separator of numbers (default: "." unless a "," is seen)
        date_format: "%d-%m-%Y %H:%M"  # optional: strptime format(s) for every date/timestamp column
        column_formats:                # optional: per-column formats, overriding date_format
          created_at: "%Y-%m-%d %H:%M:%S %z"
        columns:                       # source column -> canonical column
          Customer ID: customer_id
          First Name: first_name
        generated_key: false           # true: primary key = "<file stem>:<row number>"
        extra_columns: keep            # keep (as text columns) or drop columns not mapped

Unknown keys, unknown tables and unknown canonical columns are refused with a message that names
them (exit code 2 on the command line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import schema
from .exceptions import MappingError


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | list[str] | None = None
    column_formats: dict[str, str | list[str]] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=dict)
    # fill the primary key from the record's row number ("<file stem>:<row>") for exports that
    # have no key of their own (Shopify's order lines)
    generated_key: bool = False
    # columns without a canonical name are kept as extra text columns, or dropped (names noted)
    extra_columns: Literal["keep", "drop"] = "keep"

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


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: dict[str, TableMapping] = Field(default_factory=dict)

    def for_table(self, name: str) -> TableMapping:
        return self.tables.get(name) or TableMapping()


def _check_names(m: Mapping, where: str) -> None:
    for tname, tm in m.tables.items():
        if tname not in schema.TABLES_BY_NAME:
            raise MappingError(f"{where}: tables.{tname}: unknown table "
                               f"(known: {', '.join(schema.TABLES_BY_NAME)})")
        t = schema.table(tname)
        for src, dst in tm.columns.items():
            if not t.has(dst):
                raise MappingError(f"{where}: tables.{tname}.columns.{src}: unknown column {dst!r} "
                                   f"of {tname} (known: {', '.join(t.column_names)})")
        if tm.generated_key and t.primary_key in tm.columns.values():
            raise MappingError(f"{where}: tables.{tname}.generated_key: the columns already map "
                               f"{t.primary_key}")
        targets = list(tm.columns.values())
        dup = sorted({d for d in targets if targets.count(d) > 1})
        if dup:
            raise MappingError(f"{where}: tables.{tname}.columns: several source columns map to "
                               f"{', '.join(dup)}")
        for col in tm.column_formats:
            if not t.has(col):
                raise MappingError(f"{where}: tables.{tname}.column_formats.{col}: unknown column "
                                   f"of {tname}")
            if t.column(col).type not in ("DATE", "TIMESTAMPTZ"):
                raise MappingError(f"{where}: tables.{tname}.column_formats.{col}: not a date or "
                                   f"timestamp column")


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
        raise MappingError(f"{where}: {key}: {err['msg']}") from None
    _check_names(m, where)
    return m


def read_mapping(path: str | Path | None) -> Mapping:
    """Read and validate a mapping file; ``None`` gives the empty mapping (canonical names)."""
    if path is None:
        return Mapping()
    p = Path(path)
    if not p.is_file() and p.suffix == "" and (Path(__file__).parent / "mappings" /
                                                f"{p.name}.yaml").is_file():
        p = builtin_mapping(p.name)
    if not p.is_file():
        raise MappingError(f"{p}: mapping file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MappingError(f"{p}: not valid YAML: {first}") from None
    return parse_mapping(data, where=str(p))


def builtin_mapping(name: str) -> Path:
    """Path of a mapping shipped with the package (e.g. ``shopify``)."""
    p = Path(__file__).parent / "mappings" / f"{name}.yaml"
    if not p.is_file():
        raise MappingError(f"no built-in mapping called {name!r}")
    return p
