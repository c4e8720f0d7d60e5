"""Streaming writers for the export formats of contract section 2.

Each table gets one file ``<table>.<ext>``; the format of each table is fixed in ``FORMATS`` so a
demo export mixes the formats a real shop hands over (``;``-CSV with BOM, csv.gz, TSV, JSONL,
a JSON array, Parquet). Writers take dict rows keyed by canonical column names, convert values by
the column's schema type, and stream to disk (files are buffered; Parquet is written in row
groups), so memory stays flat however many rows are written.

Byte-identical output for a seed: gzip members carry ``mtime=0`` and no file name; Parquet is
written without statistics that vary and with the writer's fixed ``created_by``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from .calendar import fmt_local, fmt_z

# Optional (non-core) columns the generator writes because some rules' example SQL reads them.
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("anonymised_at",),
    "dsr_requests": ("extension_reason",),
}




@dataclass(frozen=True)
class ExportExtra:
    """A column real exports carry that the canonical schema does not know (the loader keeps it
    as an extra text column under ``loaded_as``). Its value is a copy of the row's own fields,
    so it is filled exactly when they are and changes no other rule's truth."""
    header: str
    loaded_as: str
    category: str | None           # the personal-data category TRN-001 must find; None: a near-miss
    value: Callable[[dict], str | None]


def _ean13(row: dict) -> str:
    """A shop's own EAN-13 barcode (prefix 871, Dutch GS1) from the line's id: not personal."""
    body = "871" + f"{int(row['order_item_id'][2:]):09d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


# Written when the shop has planted violations (violation_rate > 0): three columns of personal
# data the schema does not declare (TRN-001) and three that only look like it.
EXPORT_EXTRAS: dict[str, tuple[ExportExtra, ...]] = {
    "customers": (
        ExportExtra("Telefoon Afleveradres", "telefoon_afleveradres", "phone",
                    lambda r: r.get("phone")),
        ExportExtra("Postcodegebied", "postcodegebied", None,      # four digits: not an address
                    lambda r: (r.get("postcode") or "")[:4] or None),
    ),
    "orders": (
        ExportExtra("E-mail Orderbevestiging", "e_mail_orderbevestiging", "email",
                    lambda r: r.get("email_at_order")),
        ExportExtra("Ordernummer Extern", "ordernummer_extern", None,
                    lambda r: "#" + str(int(r["order_id"][1:]) + 1000)),
    ),
    "order_items": (
        ExportExtra("Barcode", "barcode", None, _ean13),
    ),
    "visits": (
        ExportExtra("Remote Addr", "remote_addr", "ip_address", lambda r: r.get("ip_address")),
    ),
}


def columns(table: str) -> list[str]:
    """The canonical columns written for ``table``: the core columns plus EXTRA_COLUMNS, schema
    order (the files may carry EXPORT_EXTRAS after them)."""
    t = schema.table(table)
    extra = EXTRA_COLUMNS.get(table, ())
    return [c.name for c in t.columns if c.core or c.name in extra]


def export_columns(table: str, extras: bool) -> list[str]:
    """The header of ``table``'s file: :func:`columns` and, with ``extras``, EXPORT_EXTRAS."""
    return columns(table) + ([e.header for e in EXPORT_EXTRAS.get(table, ())] if extras else [])


@dataclass(frozen=True)
class Format:
    ext: str                   # csv, csv.gz, tsv, jsonl, json, parquet
    delimiter: str = ","
    bom: bool = False
    ts: str = "z"              # "z" (UTC with Z) or "local" (Amsterdam with offset)
    booleans: tuple[str, str] = ("true", "false")
    lists: str = "json"        # CSV list encoding: "json" (["a","b"]) or "pipe" (a|b)


FORMATS: dict[str, Format] = {
    "customers": Format("csv", delimiter=";", bom=True, ts="z"),
    "visits": Format("csv.gz", ts="local"),
    "orders": Format("csv", ts="local"),
    "order_items": Format("tsv", delimiter="\t"),
    "payments": Format("csv", ts="z"),
    "chats": Format("jsonl", ts="local"),
    "chat_messages": Format("jsonl", ts="z"),
    "calls": Format("csv", ts="local", booleans=("ja", "nee")),
    "newsletter_consent_events": Format("csv", ts="z"),
    "newsletter_sends": Format("csv.gz", ts="local"),
    "cookie_observations": Format("parquet"),
    "recipients": Format("json"),
    "recipient_agreements": Format("csv", lists="json"),
    "transfers": Format("jsonl", ts="z"),
    "dsr_requests": Format("csv", ts="local"),
    "legal_holds": Format("csv", ts="z", lists="pipe"),
}


def file_name(table: str) -> str:
    return f"{table}.{FORMATS[table].ext}"


def _money(v) -> str:
    """Money is carried as integer cents and written with a dot and two decimals."""
    v = int(v)
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // 100}.{v % 100:02d}"


class _TextWriter:
    def __init__(self, path: Path, table: str, fmt: Format, extras: bool = False):
        self.table, self.fmt, self.cols = table, fmt, columns(table)
        t = schema.table(table)
        self.types = [t.column(c).type for c in self.cols]
        self.extras = EXPORT_EXTRAS.get(table, ()) if extras else ()
        self.rows = 0
        raw = open(path, "wb")
        self._raw = raw
        if fmt.ext.endswith(".gz"):
            self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            target = self._gz
        else:
            self._gz = None
            target = raw
        self._text = io.TextIOWrapper(target, encoding="utf-8-sig" if fmt.bom else "utf-8",
                                      newline="", write_through=False)

    def _ts(self, v: datetime) -> str:
        return fmt_z(v) if self.fmt.ts == "z" else fmt_local(v)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()


class CsvWriter(_TextWriter):
    """CSV/TSV (optionally gzipped), header with canonical names, QUOTE_MINIMAL with ``"``."""

    def __init__(self, path: Path, table: str, fmt: Format, extras: bool = False):
        super().__init__(path, table, fmt, extras)
        self._csv = csv.writer(self._text, delimiter=fmt.delimiter, quotechar='"',
                               quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self._csv.writerow(self.cols + [e.header for e in self.extras])
        self._conv = [self._converter(t) for t in self.types]
        self._pairs = list(zip(self.cols, self._conv))

    def _converter(self, typ: str):
        """One value-to-text function per column, chosen once (the hot path stays branch-free)."""
        if typ == "TIMESTAMPTZ":
            return fmt_z if self.fmt.ts == "z" else fmt_local
        if typ == "DATE":
            return date.isoformat
        if typ == "BOOLEAN":
            yes, no = self.fmt.booleans
            return lambda v: yes if v else no
        if typ == "DECIMAL(18,2)":
            return _money
        if typ == schema.LIST_TYPE:
            if self.fmt.lists == "pipe":
                return "|".join
            return lambda v: json.dumps(list(v), ensure_ascii=False, separators=(",", ":"))
        return str

    def write(self, row: dict) -> None:
        get = row.get
        values = ["" if (v := get(c)) is None else f(v) for c, f in self._pairs]
        if self.extras:
            values += ["" if (v := e.value(row)) is None else v for e in self.extras]
        self._csv.writerow(values)
        self.rows += 1


class JsonWriter(_TextWriter):
    """JSON Lines, or (``array=True``) one JSON array of objects; lists are native JSON lists."""

    def __init__(self, path: Path, table: str, fmt: Format, extras: bool = False):
        super().__init__(path, table, fmt, extras)
        self.array = fmt.ext == "json"
        if self.array:
            self._text.write("[")

    def _val(self, v, typ: str):
        if v is None:
            return None
        if typ == "TIMESTAMPTZ":
            return self._ts(v)
        if typ == "DATE":
            return v.isoformat()
        if typ == "DECIMAL(18,2)":
            return _money(v)
        if typ == schema.LIST_TYPE:
            return list(v)
        return v

    def write(self, row: dict) -> None:
        obj = {c: self._val(row.get(c), t) for c, t in zip(self.cols, self.types)}
        for e in self.extras:
            obj[e.header] = e.value(row)
        line = json.dumps(obj, ensure_ascii=False)
        if self.array:
            self._text.write(("\n  " if self.rows == 0 else ",\n  ") + line)
        else:
            self._text.write(line + "\n")
        self.rows += 1

    def close(self) -> None:
        if self.array:
            self._text.write("\n]\n")
        super().close()


_ARROW = {
    "VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
    "DECIMAL(18,2)": pa.decimal128(18, 2), schema.LIST_TYPE: pa.list_(pa.string()),
}


class ParquetWriter:
    """Parquet with proper types (TIMESTAMP tz=UTC, list<string>), one row group per chunk."""

    CHUNK = 50_000

    def __init__(self, path: Path, table: str, fmt: Format, extras: bool = False):
        self.table, self.cols = table, columns(table)
        t = schema.table(table)
        self.types = [t.column(c).type for c in self.cols]
        self.extras = EXPORT_EXTRAS.get(table, ()) if extras else ()
        self.arrow_schema = pa.schema([pa.field(c, _ARROW[ty]) for c, ty in zip(self.cols, self.types)]
                                      + [pa.field(e.header, pa.string()) for e in self.extras])
        self._w = pq.ParquetWriter(str(path), self.arrow_schema, compression="zstd",
                                   write_statistics=True, use_dictionary=True)
        self._buf: list[dict] = []
        self.rows = 0

    def write(self, row: dict) -> None:
        self._buf.append(row)
        self.rows += 1
        if len(self._buf) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        arrays = {c: [r.get(c) for r in self._buf] for c in self.cols}
        for e in self.extras:
            arrays[e.header] = [e.value(r) for r in self._buf]
        self._w.write_table(pa.Table.from_pydict(arrays, schema=self.arrow_schema))
        self._buf = []

    def close(self) -> None:
        self._flush()
        self._w.close()


def open_writer(out_dir: Path, table: str, extras: bool = False):
    """The writer of ``table``'s file; ``extras`` adds the table's EXPORT_EXTRAS columns."""
    fmt = FORMATS[table]
    path = out_dir / file_name(table)
    if fmt.ext == "parquet":
        return ParquetWriter(path, table, fmt, extras)
    if fmt.ext in ("json", "jsonl"):
        return JsonWriter(path, table, fmt, extras)
    return CsvWriter(path, table, fmt, extras)
