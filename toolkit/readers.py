"""Reading export files of every format into a DuckDB staging table of text columns.

One function per concern: find the files of an export folder (:func:`discover`), look at a file's
bytes once (:func:`inspect`: checksum, compression, encoding, header, delimiter), and stage it
(:func:`stage`) as a temporary table whose columns are all VARCHAR, with the 1-based row number of
each record and a second table of the records the parser could not read (with the raw text).
Typing, validation and deduplication happen in :mod:`toolkit.ingest`, on the staged text, so every
format goes through the same checks.

Nothing here formats a value taken from a file into SQL: JSON keys and column names are bound as
parameters, staging columns are named ``s0 .. sN``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from . import schema
from .exceptions import MappingError, PrivauditError, UnusableInputError, check_stop
from . import framing as _framing
from .framing import (RAW_KEEP, CsvFramer, CutRow, Framing, LineFramer, detect_delimiter,
                      read_line_at, read_span, sanitize)
from .mapping import Mapping, matches

# extension -> format; longest first so that ".csv.gz" wins over ".gz"
EXTENSIONS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"), (".tsv.gz", "csv"), (".jsonl.gz", "jsonl"), (".ndjson.gz", "jsonl"),
    (".csv", "csv"), (".tsv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"),
    (".parquet", "parquet"),
)
CHUNK = 1 << 22                     # 4 MiB per read
DELIMITERS = (",", ";", "\t", "|")
CONTROL_BYTES = tuple(range(0, 9)) + (11, 12) + tuple(range(14, 32)) + (127,)


@dataclass
class SourceFile:
    """One export file and the table it feeds."""

    table: str
    path: Path
    format: str                      # csv | jsonl | json | parquet
    compressed: bool = False
    # filled by inspect()
    sha256: str = ""
    size: int = 0
    encoding: str = ""               # utf-8 | utf-8-sig | cp1252 | latin-1 | utf-8+cp1252
    fallback_lines: int = 0          # lines decoded as Windows-1252
    utf8_lines: int = 0              # non-ASCII lines that were valid UTF-8 (in a transcoded file)
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    readable_path: Path | None = None  # the private copy DuckDB reads (inflated, UTF-8, repaired)
    stat: tuple | None = None        # (device, inode, size, mtime, ctime) when the pass began
    json_array: bool = False         # a .json file holding one array (not one object per line)
    framing: Framing | None = None   # the records the byte pass found (of the file DuckDB reads)
    cut_rows: list[CutRow] = field(default_factory=list)   # rejected before DuckDB reads it
    notes: dict = field(default_factory=dict)   # what the byte pass repaired (for load_log)
    constants: dict = field(default_factory=dict)  # values the mapping gives this file's rows
    entry: int | None = None         # which of the table's `files:` entries matched it
    matched_by_header: str | None = None  # the names the mapping looked for, when the header did

    @property
    def name(self) -> str:
        return self.path.name


def split_ext(name: str) -> tuple[str, str, bool] | None:
    """``('customers', 'csv', compressed)`` for ``customers.csv.gz``; None for other files."""
    low = name.lower()
    for ext, fmt in EXTENSIONS:
        if low.endswith(ext) and len(low) > len(ext):
            return name[: -len(ext)], fmt, ext.endswith(".gz")
    return None


def discover(export_dir: Path, mapping: Mapping
             ) -> tuple[list[SourceFile], list[str], dict[str, str]]:
    """The files of an export folder that feed canonical tables, the names of those skipped, and
    the mapping's tables whose files are not in the folder ({table: the names looked for})."""
    if not export_dir.exists():
        raise UnusableInputError(f"{export_dir}: export folder not found")
    if not export_dir.is_dir():
        raise UnusableInputError(f"{export_dir}: not a folder")
    entries = sorted(p for p in export_dir.iterdir() if not p.name.startswith((".", "_")))
    sources: list[SourceFile] = []
    claimed: set[str] = set()
    absent: dict[str, str] = {}
    for tname, tm in mapping.tables.items():
        patterns = tm.patterns
        if not patterns:
            continue
        found = 0
        for index, fs in enumerate(patterns):
            for p in entries:
                if not p.is_file() or not any(matches(pat, p.name) for pat in fs.patterns):
                    continue
                parts = split_ext(p.name)
                if parts is None:
                    raise MappingError(f"mapping: tables.{tname}.file: {p.name!r} has an unsupported "
                                       f"extension (use .csv, .csv.gz, .tsv, .json, .jsonl, .parquet)")
                entry = index if tm.files else None
                sources.append(SourceFile(tname, p, parts[1], parts[2],
                                          constants=dict(fs.constants), entry=entry))
                claimed.add(p.name)
                found += 1
        if not found:
            names = " or ".join(repr(pat) for fs in patterns for pat in fs.patterns)
            if tm.required:
                raise MappingError(f"mapping: tables.{tname}.file: {names} not found in {export_dir}")
            absent[tname] = names
    _match_by_header(entries, mapping, sources, claimed, absent)
    mapped = {s.table for s in sources} | set(absent)
    skipped: list[str] = []
    canonical: dict[str, SourceFile] = {}
    for p in entries:
        if p.name in claimed:
            continue
        parts = split_ext(p.name) if p.is_file() else None
        tname = parts[0].strip().lower() if parts else None
        if parts is None or tname not in schema.TABLES_BY_NAME or tname in mapped:
            skipped.append(p.name + ("/" if p.is_dir() else ""))
            continue
        if tname in canonical:
            raise UnusableInputError(f"{export_dir}: two files for table {tname}: "
                                     f"{canonical[tname].name} and {p.name}")
        canonical[tname] = SourceFile(tname, p, parts[1], parts[2])
    sources.extend(canonical.values())
    order = {t.name: i for i, t in enumerate(schema.TABLES)}
    # stable: within a table, the mapping's order of patterns, then names
    return sorted(sources, key=lambda s: order[s.table]), skipped, absent


# a CSV file whose name is not one the mapping looks for still feeds a table whose file is
# absent when its header fits that table this well (and unambiguously)
HEADER_FIT = 0.75
HEADER_FIT_MIN = 3


def _match_by_header(entries: list[Path], mapping: Mapping, sources: list[SourceFile],
                     claimed: set[str], absent: dict[str, str]) -> None:
    """Give absent tables (of a mapping with a single file pattern) the unclaimed CSV file whose
    header fits them: a Shopify export saved as ``klanten.csv`` still loads, with a note."""
    for tname in list(absent):
        tm = mapping.tables[tname]
        if tm.files or tm.records:
            continue
        fits = []
        for p in entries:
            parts = split_ext(p.name) if p.is_file() else None
            if p.name in claimed or parts is None or parts[1] != "csv":
                continue
            src = SourceFile(tname, p, parts[1], parts[2])
            try:
                read_header(src, tm.delimiter)
            except UnusableInputError:
                continue
            found, expected = tm.header_fit(src.header)
            if expected and len(found) >= min(HEADER_FIT_MIN, expected) \
                    and len(found) / expected >= HEADER_FIT:
                fits.append((len(found) / expected, src))
        fits.sort(key=lambda f: -f[0])
        if fits and (len(fits) == 1 or fits[0][0] > fits[1][0]):
            src = fits[0][1]
            src.header = []
            src.matched_by_header = absent.pop(tname)
            sources.append(src)
            claimed.add(src.name)


def _stat(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def check_unchanged(src: SourceFile) -> None:
    """Refuse a file that changed since its checksum was taken: the checksum in load_log must
    describe exactly the bytes loaded (DuckDB reads an uncompressed UTF-8 file itself, after the
    pass that hashed it; compressed, transcoded or repaired files from a private copy)."""
    try:
        now = _stat(src.path)
    except OSError:
        now = None
    if now != src.stat:
        raise UnusableInputError(f"{src.path}: the file changed while it was being loaded (its "
                                 f"size or modification time differ); load again when the export "
                                 f"is complete")


# --------------------------------------------------------------------------------------------
# resources: how far a compressed file may inflate

INFLATE_RATIO_DEFAULT = 100
INFLATE_LIMIT_DEFAULT = "20GB"
INFLATE_FLOOR = 256 << 20        # a file inflating to less than this is never refused
_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(text: str, what: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise PrivauditError(f"{what}: {text!r} is not a size like 20GB or 512MB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])


def inflate_cap(compressed_size: int) -> int:
    """The most a gzip file may inflate to: ``PRIVAUDIT_INFLATE_RATIO`` (default 100) times its
    compressed size, but at least 256 MiB, and never more than ``PRIVAUDIT_INFLATE_LIMIT``
    (default 20GB). Beyond it the file is refused before the temporary folder fills."""
    ratio_text = os.environ.get("PRIVAUDIT_INFLATE_RATIO", str(INFLATE_RATIO_DEFAULT))
    try:
        ratio = float(ratio_text)
        if ratio <= 0:
            raise ValueError
    except ValueError:
        raise PrivauditError(f"PRIVAUDIT_INFLATE_RATIO: {ratio_text!r} is not a positive number"
                             ) from None
    limit = parse_size(os.environ.get("PRIVAUDIT_INFLATE_LIMIT", INFLATE_LIMIT_DEFAULT),
                       "PRIVAUDIT_INFLATE_LIMIT")
    return min(limit, max(INFLATE_FLOOR, int(ratio * compressed_size)))


def _human(n: int) -> str:
    for unit, size in (("GB", 1000 ** 3), ("MB", 1000 ** 2), ("KB", 1000)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _stream(src: SourceFile):
    """Yield decompressed chunks, hashing the raw bytes on the way (into src.sha256). A gzip
    stream is inflated in bounded pieces (never more than CHUNK at once, whatever its ratio)
    and refused when it grows beyond :func:`inflate_cap`."""
    h = hashlib.sha256()
    size = 0
    with open(src.path, "rb") as f:
        if not src.compressed:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                yield chunk
        else:
            compressed = os.fstat(f.fileno()).st_size
            cap = inflate_cap(compressed)
            inflated = 0
            d = zlib.decompressobj(wbits=31)
            fresh = True             # the current gzip member has not been fed a byte yet
            try:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    data = chunk
                    while data:
                        out = d.decompress(data, CHUNK)
                        fresh = False
                        if out:
                            inflated += len(out)
                            if inflated > cap:
                                raise UnusableInputError(
                                    f"{src.path}: inflates to more than {_human(cap)}, the cap for "
                                    f"a {_human(compressed)} gzip file (a gzip bomb? "
                                    f"PRIVAUDIT_INFLATE_RATIO and PRIVAUDIT_INFLATE_LIMIT set it)")
                            yield out
                        if d.eof:    # concatenated gzip members are legal: start the next one
                            data = d.unused_data
                            d = zlib.decompressobj(wbits=31)
                            fresh = True
                        else:
                            data = d.unconsumed_tail
                if not (fresh or d.eof) and size:
                    raise UnusableInputError(f"{src.path}: truncated gzip file (the compressed "
                                             f"stream ends before its end marker)")
            except zlib.error as e:
                raise UnusableInputError(f"{src.path}: corrupt or not gzip data ({e})") from None
    src.sha256 = h.hexdigest()
    src.size = size


def _looks_binary(head: bytes, src: SourceFile) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnusableInputError(f"{src.path}: UTF-16 text is not supported; save it as UTF-8")
    # binary: NUL bytes make up more than 1 % of the head, or control characters more than 5 %
    # (a stray NUL in a text file only makes its record rejected; UTF-16 without a BOM is half
    # NULs)
    h = head[:65536]
    controls = sum(h.count(bytes([c])) for c in CONTROL_BYTES)
    if src.format != "parquet" and (h.count(b"\x00") * 100 > len(h) or controls * 20 > len(h)):
        raise UnusableInputError(f"{src.path}: binary data, not a text {src.format.upper()} file")


class _Sink:
    """Writes a private copy and feeds the framer the same bytes, in CHUNK pieces."""

    def __init__(self, path: Path | None, framer) -> None:
        self.f = open(path, "wb") if path else None
        self.framer = framer
        self.buf = bytearray()

    def write(self, b: bytes) -> None:
        if self.f:
            self.f.write(b)
        if self.framer is not None:
            if not self.buf and len(b) >= CHUNK:
                self.framer.feed(b)
                return
            self.buf += b
            if len(self.buf) >= CHUNK:
                self.framer.feed(bytes(self.buf))
                self.buf.clear()

    def close(self) -> None:
        if self.framer is not None and self.buf:
            self.framer.feed(bytes(self.buf))
            self.buf.clear()
        if self.f:
            self.f.close()


def _tmp_name(src: SourceFile) -> str:
    # unique per source: one file may feed several tables, or one table once per mapping entry
    return f"{src.table}.{id(src):x}.{re.sub(r'[^A-Za-z0-9._-]', '_', src.path.name)}"


def _new_framer(src: SourceFile):
    """The framer of a text format; None for a JSON array (its records are not lines)."""
    if src.format == "csv":
        return CsvFramer(src.delimiter or ",")
    if src.json_array:
        return None
    return LineFramer()


def inspect(src: SourceFile, tmpdir: Path, forced_encoding: str | None = None,
            delimiter: str | None = None) -> None:
    """Read the file once: checksum, gzip integrity, encoding, and its records (the framing
    below); transcode to UTF-8 or repair (a private copy) when needed."""
    if not os.access(src.path, os.R_OK):
        raise UnusableInputError(f"{src.path}: file not readable")
    try:
        src.stat = _stat(src.path)
    except OSError as e:
        raise UnusableInputError(f"{src.path}: {e.strerror}") from None
    try:
        _inspect(src, tmpdir, forced_encoding, delimiter)
    except OSError as e:    # a full disk, a vanished file: one line, not a traceback
        raise UnusableInputError(f"{src.path}: {e.strerror or e}") from None


def _inspect(src: SourceFile, tmpdir: Path, forced_encoding: str | None,
             delimiter: str | None) -> None:
    if src.format == "parquet":
        with open(src.path, "rb") as f:
            head = f.read(4)
        for _ in _stream(src):
            pass
        if head != b"PAR1":
            raise UnusableInputError(f"{src.path}: not a Parquet file (no PAR1 magic)")
        src.encoding = "binary"
        return
    dec = codecs.getincrementaldecoder("utf-8")()
    head = b""
    check_utf8 = forced_encoding in (None, "utf-8")
    valid = check_utf8
    total = 0
    # A compressed file is written out decompressed on the way: DuckDB then reads plain text in
    # parallel instead of inflating the stream on one thread (and we inflate it only once).
    plain = tmpdir / f"{_tmp_name(src)}.plain.{src.format}" if src.compressed else None
    sink: _Sink | None = None
    try:
        for chunk in _stream(src):
            if total == 0:
                head = chunk[:65536]
                _looks_binary(head, src)
                if src.format == "csv":
                    src.delimiter = delimiter or detect_delimiter(
                        head, src.path.name.lower().endswith((".tsv", ".tsv.gz")), DELIMITERS)
                src.json_array = src.format == "json" and head.removeprefix(
                    codecs.BOM_UTF8).lstrip().startswith(b"[")
                # the framing of the bytes as they are: useless if they must be transcoded
                sink = _Sink(plain, _new_framer(src) if check_utf8 else None)
            total += len(chunk)
            check_stop()
            if valid:
                try:
                    dec.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
                    sink.framer = None
            sink.write(chunk)
    finally:
        if sink:
            sink.close()
    if valid:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if total == 0 or not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise UnusableInputError(f"{src.path}: empty file (no header row)")
    bom = head.startswith(codecs.BOM_UTF8)
    if forced_encoding in ("cp1252", "latin-1"):
        src.encoding = forced_encoding
        framing = _transcode(src, tmpdir, forced_encoding)
    elif valid:
        src.encoding = "utf-8-sig" if bom else "utf-8"
        framing = _finish(sink.framer, src)
        if plain:
            src.readable_path = plain
    elif forced_encoding == "utf-8":
        raise UnusableInputError(f"{src.path}: not valid UTF-8 although the mapping says utf-8")
    else:
        framing = _transcode(src, tmpdir, None)
        src.encoding = "cp1252" if src.utf8_lines == 0 else "utf-8+cp1252"
    if plain and src.readable_path != plain:
        plain.unlink(missing_ok=True)
    if framing is None:          # a JSON array
        return
    if framing.needs_copy or (src.format != "csv" and framing.bare_cr):
        if framing.cr_only:
            src.notes["line_ends"] = "CR alone (read as LF)"
        elif framing.mixed_line_ends:
            src.notes["line_ends"] = "CRLF and LF mixed (read as LF)"
        elif framing.bare_cr and src.format != "csv":
            src.notes["line_ends"] = "a CR alone inside a line (read as a space)"
        readable = src.readable_path or src.path
        out = tmpdir / f"{_tmp_name(src)}.repaired.{src.format}"
        framing, src.cut_rows = sanitize(readable, out, framing, _new_framer(src))
        if src.readable_path is not None and src.readable_path != src.path:
            src.readable_path.unlink(missing_ok=True)
        src.readable_path = out
    src.framing = framing
    if src.format == "csv":
        _set_header(src)


def _finish(framer, src: SourceFile) -> Framing | None:
    if framer is None:
        return None
    try:
        return framer.finish()
    except ValueError as e:     # a header record longer than the limit
        raise UnusableInputError(f"{src.path}: {e}") from None


def _set_header(src: SourceFile) -> None:
    fr = src.framing
    if fr.header is None:
        raise UnusableInputError(f"{src.path}: empty file (no header row)")
    text = fr.header.decode("utf-8", errors="replace").removeprefix("\ufeff")
    src.header = _header_row(src, text, src.delimiter)


def _header_row(src: SourceFile, text: str, delimiter: str) -> list[str]:
    """The first CSV row of ``text``, names trimmed; one line naming the file when there is none."""
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"'))
    except (StopIteration, csv.Error) as e:
        raise UnusableInputError(f"{src.path}: no readable header row ({e})") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise UnusableInputError(f"{src.path}: empty header row")
    return header


def read_header(src: SourceFile, delimiter: str | None = None) -> None:
    """The header of a CSV file: from :func:`inspect`'s framing when it ran, else (``privaudit
    inspect`` looks at files without reading them whole) from the first MiB of text."""
    if src.framing is not None:
        if not src.header:
            _set_header(src)
        return
    text = _text_head(src)
    first_line = text.split("\n", 1)[0]
    if delimiter is None:
        if src.path.name.lower().endswith((".tsv", ".tsv.gz")):
            delimiter = "\t"
        else:
            counts = {d: _count_outside_quotes(first_line, d) for d in DELIMITERS}
            best = max(counts.values())
            delimiter = "," if best == 0 else next(d for d in DELIMITERS if counts[d] == best)
    src.delimiter = delimiter
    src.header = _header_row(src, text, delimiter)


def _count_outside_quotes(line: str, d: str) -> int:
    return len(re.sub(r'"[^"]*"', "", line).split(d)) - 1


def _decode_cp1252(line: bytes) -> str:
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:      # 0x81 0x8D 0x8F 0x90 0x9D are unassigned in cp1252
        return line.decode("latin-1")


def _transcode(src: SourceFile, tmpdir: Path, encoding: str | None) -> Framing:
    """Write a UTF-8 copy and frame it. ``encoding=None`` decodes line by line: UTF-8, else
    Windows-1252. A line longer than the record limit is decoded in pieces (it is rejected)."""
    out = tmpdir / f"{_tmp_name(src)}.utf8.{src.format}"
    counts = {"fallback": 0, "utf8": 0}

    def decode(raw: bytes) -> str:
        if encoding == "cp1252":
            return _decode_cp1252(raw)
        if encoding is not None:
            return raw.decode(encoding)
        try:
            text = raw.decode("utf-8")
            counts["utf8"] += not raw.isascii()
            return text
        except UnicodeDecodeError:
            counts["fallback"] += 1
            return _decode_cp1252(raw)

    parts: list[bytes] = []          # the current line, in pieces (no quadratic joining)
    held = 0
    first = True
    long_line = None                 # an incremental decoder while inside an over-long line
    sink = _Sink(out, _new_framer(src))
    try:
        for chunk in _stream(src):
            start = 0
            while start < len(chunk):
                k = chunk.find(b"\n", start)
                seg = chunk[start: len(chunk) if k < 0 else k + 1]
                start += len(seg)
                if first:
                    seg, first = seg.removeprefix(codecs.BOM_UTF8), False
                if long_line is not None:
                    sink.write(long_line.decode(seg, final=k >= 0).encode("utf-8"))
                    if k >= 0:
                        long_line = None
                    continue
                parts.append(seg)
                held += len(seg)
                if k >= 0:
                    sink.write(decode(b"".join(parts)).encode("utf-8"))
                    parts, held = [], 0
                elif held > _framing.MAX_RECORD_BYTES:
                    long_line = codecs.getincrementaldecoder("utf-8")(errors="replace")
                    sink.write(long_line.decode(b"".join(parts)).encode("utf-8"))
                    parts, held = [], 0
        if long_line is not None:
            sink.write(long_line.decode(b"", final=True).encode("utf-8"))
        elif parts:
            sink.write(decode(b"".join(parts)).encode("utf-8"))
    finally:
        sink.close()
    src.fallback_lines = counts["fallback"]
    src.utf8_lines = counts["utf8"]
    src.readable_path = out
    return _finish(sink.framer, src)


def _text_head(src: SourceFile, limit: int = 1 << 20) -> str:
    """The first ``limit`` bytes of the (decoded) text."""
    if src.readable_path is None and src.compressed:
        with gzip.open(src.path, "rb") as f:
            data = f.read(limit)
    else:
        with open(src.readable_path or src.path, "rb") as f:
            data = f.read(limit)
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


# --------------------------------------------------------------------------------------------
# staging

@dataclass
class Staged:
    """A staged file: ``_stg`` (``_row`` + ``s0..sN`` VARCHAR) and ``_stg_rej``; for JSON the raw
    lines stay readable in the view ``_lines`` (``_row``, ``line``)."""

    columns: list[str]               # source column names, in the order of s0..sN
    rows: int                        # records staged (readable)
    rejected: int                    # records the parser could not read
    raw_lines: bool = False          # the raw record of a row is its line in the view _lines
    # indexes i of the columns whose values may be objects or arrays: _stg then has a boolean
    # column n<i>, true where the value of s<i> is one (as JSON text)
    nested: set[int] = field(default_factory=set)
    row_errors: bool = False         # _stg has _stg_err: a reason to reject the row, or NULL
    repeat_header: list[str] | None = None   # a record equal to this header is rejected (CSV)
    check_bom: bool = False          # values may hold a BOM (the file has one after its start)
    check_nul: bool = False          # values may hold a NUL byte
    line_breaks: bool = False        # values may hold line breaks (quoted multi-line values)
    # indexes i of Parquet binary columns: b<i> is true where the bytes are not UTF-8 text
    binary: set[int] = field(default_factory=set)
    # indexes i of Parquet number columns: their text is plain, '.' the decimal point
    numeric: set[int] = field(default_factory=set)
    notes: dict = field(default_factory=dict)   # what staging noticed (for load_log)


def _create_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _stg_rej (_row BIGINT, reason VARCHAR, raw VARCHAR, "
                "raw_bytes BIGINT, raw_sha256 VARCHAR)")


def stage(con: duckdb.DuckDBPyConnection, src: SourceFile, records: str | None = None) -> Staged:
    """Stage ``src`` into temp tables ``_stg`` and ``_stg_rej``; the caller drops them.

    ``records`` (JSON only) names a nested array whose elements are the rows (see
    :func:`_stage_json_records`)."""
    _create_rejects(con)
    if records is not None:
        if src.format not in ("jsonl", "json"):
            raise MappingError(f"{src.path}: the mapping reads nested records ({records!r}), which "
                               f"only JSON files have")
        return _stage_json_records(con, src, records)
    if src.format == "csv":
        return _stage_csv(con, src)
    if src.format in ("jsonl", "json"):
        return _stage_json(con, src)
    return _stage_parquet(con, src)


def _path(src: SourceFile) -> str:
    return str(src.readable_path or src.path)


def _first_rowid(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Row ids of a table created inside a transaction start at 2**55, not 0: the first one."""
    return con.execute(f"SELECT coalesce(min(rowid), 0) FROM {table}").fetchone()[0]


def _stage_csv(con: duckdb.DuckDBPyConnection, src: SourceFile) -> Staged:
    fr = src.framing
    n = len(src.header)
    cols = {f"s{i}": "VARCHAR" for i in range(n)}
    con.execute("DROP TABLE IF EXISTS _csv_rej_errors")
    con.execute("DROP TABLE IF EXISTS _csv_rej_scans")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _stg_raw AS SELECT * FROM read_csv($path, header = true, "
        "delim = $delim, quote = '\"', escape = '\"', auto_detect = false, columns = $cols, "
        "store_rejects = true, rejects_table = '_csv_rej_errors', rejects_scan = '_csv_rej_scans', "
        "strict_mode = true, null_padding = false, max_line_size = $maxline, "
        "compression = 'none', encoding = 'utf-8')",
        {"path": _path(src), "delim": src.delimiter, "cols": cols,
         "maxline": _framing.MAX_RECORD_BYTES + (1 << 20)},
    )
    good = con.execute("SELECT count(*) FROM _stg_raw").fetchone()[0]
    # One rejected record can be reported once per faulty column: one row per record (its
    # logical line: DuckDB counts the header and blank lines, a quoted multi-line value once).
    duck = con.execute(
        "SELECT line, min(line_byte_position), "
        "lower(CAST(first(error_type ORDER BY column_idx) AS VARCHAR)), "
        "first(error_message ORDER BY column_idx), first(csv_line ORDER BY column_idx) "
        "FROM _csv_rej_errors GROUP BY line ORDER BY line").fetchall()
    con.execute("DROP TABLE IF EXISTS _csv_rej_errors")
    con.execute("DROP TABLE IF EXISTS _csv_rej_scans")
    if good + len(duck) != fr.records:
        raise UnusableInputError(
            f"{src.path}: cannot account for every record: DuckDB's CSV reader found "
            f"{good + len(duck):,} where the file has {fr.records:,} (irregular quotes or line "
            f"ends; see the README's CSV dialect)")
    rows = _csv_reject_rows(src, duck)
    _insert_rejects(con, rows, src.cut_rows)
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    base = _first_rowid(con, "_stg_raw")
    if rejected:
        # readable records are numbered around the rejected ones: record k of _stg_raw (0-based
        # rowid) is data row k + 1 + (number of rejected rows before it)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stg AS SELECT r.rowid - $b + 1 + coalesce(g.n, 0) AS _row, "
            "r.* FROM _stg_raw r ASOF LEFT JOIN (SELECT good_before, max(n) AS n FROM ("
            "SELECT _row - row_number() OVER (ORDER BY _row) AS good_before, "
            "row_number() OVER (ORDER BY _row) AS n FROM _stg_rej) GROUP BY good_before) g "
            "ON r.rowid - $b + 1 > g.good_before ORDER BY r.rowid", {"b": base})
        con.execute("DROP TABLE _stg_raw")
    else:
        # no unreadable record: the row number is the row id, no second copy needed
        con.execute(f"CREATE OR REPLACE TEMP VIEW _stg AS SELECT rowid - {int(base)} + 1 AS _row, * "
                    f"FROM _stg_raw")
    notes: dict = {}
    unclosed = next((r for r in src.cut_rows if r.reason.startswith(REASON_UNCLOSED)), None)
    if unclosed:
        notes["unclosed_quote"] = {"line": unclosed.line, "lines_rejected": sum(
            1 for r in src.cut_rows if "unclosed quote" in r.reason or r is unclosed)}
    return Staged(list(src.header), good, rejected, notes=notes,
                  repeat_header=list(src.header), check_bom=fr.bom_inside, check_nul=fr.nul,
                  line_breaks=len(fr.multi) > 0)


REASON_UNCLOSED = "unreadable record: a quote in it is never closed"


@dataclass
class _Rej:
    before: int      # data records of the file DuckDB read before this one (its index)
    order: int       # 0: cut before DuckDB read the file, 1: rejected by DuckDB
    seq: int         # the line of a split record
    line: int
    reason: str
    raw: str
    raw_bytes: int
    raw_sha256: str


def _raw_of(b: bytes) -> tuple[str, int, str]:
    return (b[:RAW_KEEP].decode("utf-8", errors="replace"), len(b),
            hashlib.sha256(b).hexdigest())


def _csv_reject_rows(src: SourceFile, duck: list[tuple]) -> list[_Rej]:
    """The records DuckDB could not read, each with its full raw text (DuckDB keeps 10,000
    characters) and its length and sha256. A record spanning several lines (an unbalanced quote
    swallowed them) is rejected line by line, so that a count of lines finds them all."""
    fr = src.framing
    path = Path(_path(src))
    out: list[_Rej] = []
    multi_l = fr.multi[:, 0] if len(fr.multi) else np.empty(0, dtype=np.int64)
    for line, pos, kind, message, csv_line in duck:
        k = line - 2 - int(np.searchsorted(fr.blank, line))
        reason = f"unreadable record: {kind} ({message})"
        j = int(np.searchsorted(multi_l, line))
        if j < len(multi_l) and multi_l[j] == line:
            _l, start, end, first, nlines = (int(x) for x in fr.multi[j])
            pieces = read_span(path, start, end).split(b"\n")
            for i, piece in enumerate(pieces):
                text, size, digest = _raw_of(piece.rstrip(b"\r"))
                why = reason if i == 0 else (f"unreadable record: line {i + 1} of the record on "
                                             f"line {first}, whose quoted value spans "
                                             f"{nlines} lines")
                out.append(_Rej(k, 1, i, first + i, why, text, size, digest))
            continue
        raw = (csv_line or "").lstrip("\r\n")
        data = raw.encode("utf-8")
        if len(raw) >= 10_000:       # DuckDB cut it: read the record from the file
            data = read_line_at(path, max(int(pos) - 1, 0))
        text, size, digest = _raw_of(data)
        out.append(_Rej(k, 1, 0, 0, reason, text, size, digest))
    return out


def _insert_rejects(con: duckdb.DuckDBPyConnection, rows: list[_Rej], cut: list[CutRow]) -> None:
    """Number the rejected rows among all records and put them in _stg_rej: row numbers count
    records, each line of a split record counting as one."""
    if not rows and not cut:
        return
    import pyarrow as pa
    recs = [(r.before, r.order, r.seq, r.reason, r.raw, r.raw_bytes, r.raw_sha256) for r in rows]
    recs += [(c.before, 0, i, c.reason, c.raw, c.raw_bytes, c.raw_sha256)
             for i, c in enumerate(cut)]
    names = ["k", "ord", "seq", "reason", "raw", "raw_bytes", "raw_sha256"]
    table = pa.table(list(map(list, zip(*recs))), names=names)
    con.register("_rej_new", table)
    try:
        # a row's number: the good records before it (its index minus the rejected records
        # DuckDB read before it) plus the rejected rows before it, plus one
        con.execute(
            "INSERT INTO _stg_rej SELECT k - coalesce(sum(CASE WHEN ord = 1 AND seq = 0 THEN 1 ELSE 0 "
            "END) OVER (ORDER BY k RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
            "+ row_number() OVER (ORDER BY k, ord, seq), reason, raw, raw_bytes, raw_sha256 "
            "FROM _rej_new ORDER BY k, ord, seq")
    finally:
        con.unregister("_rej_new")


def _stage_json(con: duckdb.DuckDBPyConnection, src: SourceFile) -> Staged:
    path = _path(src)
    head = _text_head(src, 4096).lstrip()
    if src.format == "json" and head.startswith("["):
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE _lines_raw AS SELECT CAST(json AS VARCHAR) "
                        "AS line FROM read_json_objects($p, format = 'array', "
                        "maximum_object_size = $m)", {"p": path, "m": _framing.MAX_RECORD_BYTES})
        except duckdb.Error as e:
            raise UnusableInputError(f"{src.path}: not a valid JSON array "
                                     f"({str(e).splitlines()[0][:200]})") from None
    else:
        # JSON Lines (also a .json file holding one object per line): one record per line.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _lines_raw AS SELECT line FROM "
            "read_csv($p, header = false, delim = '\x1e', quote = '', escape = '', "
            "columns = {'line': 'VARCHAR'}, auto_detect = false, strict_mode = false, "
            "max_line_size = $m, compression = 'none')",
            {"p": path, "m": _framing.MAX_RECORD_BYTES + (1 << 20)})
    if src.format == "json" and not src.json_array:
        _refuse_pretty_printed(con, src, path)
    if not src.json_array and src.framing is not None:
        # the reader's lines against the byte pass's count (DuckDB numbers them)
        got = con.execute("SELECT count(*) FROM _lines_raw").fetchone()[0]
        if got != src.framing.records:
            raise UnusableInputError(f"{src.path}: cannot account for every record: DuckDB's reader "
                                     f"found {got:,} where the file has {src.framing.records:,}")
    # numbered lines, blank ones skipped (a view: the text is not copied)
    base = _first_rowid(con, "_lines_raw")
    con.execute(f"CREATE OR REPLACE TEMP VIEW _lines AS SELECT rowid - {int(base)} + 1 AS _row, line "
                f"FROM _lines_raw WHERE line IS NOT NULL AND trim(line) <> ''")
    # lines cut before DuckDB read the file (over the size limit): rejected on their line
    for c in src.cut_rows:
        con.execute("INSERT INTO _stg_rej VALUES ($1, $2, $3, $4, $5)",
                    [c.line, c.reason, c.raw, c.raw_bytes, c.raw_sha256])
    if src.framing is not None and src.framing.nul:
        con.execute("INSERT INTO _stg_rej SELECT _row, 'NUL byte in the record', line, strlen(line), "
                    "sha256(line) FROM _lines WHERE contains(line, chr(0))")
    # one parse to sort out what is not a JSON object (try() turns a parse error into NULL)
    con.execute(
        "INSERT INTO _stg_rej SELECT _row, CASE WHEN t IS NULL THEN 'invalid JSON' "
        "ELSE 'not a JSON object' END, line, strlen(line), sha256(line) FROM (SELECT _row, "
        "line, try(json_type(line)) AS t FROM _lines WHERE _row NOT IN (SELECT _row FROM _stg_rej)) "
        "WHERE t IS DISTINCT FROM 'OBJECT'")
    good = "FROM _lines WHERE _row NOT IN (SELECT _row FROM _stg_rej)"
    # One parse for the key set and the records whose keys repeat (also differing only in case,
    # "email" and "EMAIL"): one of their values would be lost, so they are rejected.
    found = con.execute(
        "SELECT k, count(*) FILTER (WHERE NOT dup), min(_row), list(_row) FILTER (WHERE dup) "
        "FROM (SELECT _row, unnest(ks) AS k, dup FROM (SELECT _row, ks, len(ks) <> len(list_distinct("
        f"list_transform(ks, x -> lower(x)))) AS dup FROM (SELECT _row, json_keys(line) AS ks {good}))) "
        "GROUP BY k ORDER BY min(_row), k").fetchall()
    dups = sorted({r for *_x, rows in found for r in rows or ()})
    if dups:
        con.execute("INSERT INTO _stg_rej SELECT _row, 'duplicate key in the JSON object (one of its "
                    "values would be lost)', line, strlen(line), sha256(line) FROM _lines "
                    "WHERE _row IN (SELECT unnest($1::BIGINT[]))", [dups])
    # a key "" has no name to load it under: the rest of the record loads, the field is noted
    keys = [k for k, n, *_x in found if k != "" and n]
    notes = {"unnamed_fields": n for k, n, *_x in found if k == "" and n}
    lower = [k.lower() for k in keys]
    if keys and len(set(lower)) == len(lower):
        # one more parse turns each line into a struct of text values (the key names travel as a
        # bound JSON structure; fields are taken by position)
        spec = json.dumps({k: "VARCHAR" for k in keys})
        exprs = ", ".join(f"struct_extract_at(r, {i + 1}) AS s{i}" for i in range(len(keys)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT _row, {exprs} FROM "
                    f"(SELECT _row, from_json(line, $1) AS r {good}) ORDER BY _row", [spec])
    elif keys:
        # keys that differ only in case ("ID" and "id") cannot share a struct: one path each,
        # bound as JSON paths ($."key"), never formatted into the SQL text
        exprs = ", ".join(f"json_extract_string(line, ${i + 1}) AS s{i}" for i in range(len(keys)))
        params = [_json_path(k) for k in keys]
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT _row, {exprs} {good} ORDER BY _row",
                    params)
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT _row {good} ORDER BY _row")
    _exact_json_numbers(con, keys)
    nested = _flag_nested_json(con, keys)
    rows = con.execute("SELECT count(*) FROM _stg").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    return Staged(keys, rows, rejected, raw_lines=True, notes=notes, nested=nested)


def _refuse_pretty_printed(con: duckdb.DuckDBPyConnection, src: SourceFile, path: str) -> None:
    """A .json file that is neither an array nor one object per line, but one JSON document over
    several lines (``{"customers": [...]}``, pretty-printed): its lines are no records, so it is
    refused with one line instead of every line being rejected as invalid JSON."""
    first = con.execute("SELECT line FROM _lines_raw WHERE trim(line) <> '' LIMIT 1").fetchone()
    if not first or con.execute("SELECT json_valid($1)", [first[0]]).fetchone()[0]:
        return
    try:
        docs = con.execute("SELECT count(*) FROM read_json_objects($p, format = 'unstructured', "
                           "maximum_object_size = $m)",
                           {"p": path, "m": _framing.MAX_RECORD_BYTES}).fetchone()[0]
    except duckdb.Error:
        return          # not JSON as a whole either: its lines are rejected one by one
    if docs:
        raise UnusableInputError(
            f"{src.path}: one JSON document spread over several lines, not records (an array of "
            f"objects, or one object per line); a mapping's records: reads a nested array")


class _NumberText(str):
    """A JSON number with a fraction or an exponent, as written in the file."""


def _rounded(text: str) -> bool:
    """Whether the double nearest to the number ``text`` is another number (its shortest
    text, which DuckDB stages, differs in value: ``1e2`` is 100.0 exactly, ``0.10000000000000001``
    is not 0.1)."""
    from decimal import Decimal, InvalidOperation
    try:
        return Decimal(repr(float(text))) != Decimal(text)
    except (InvalidOperation, ValueError, OverflowError):
        return True


# a number token of 16 or more characters: the only ones a double may not hold exactly
_LONG_NUMBER = "[0-9][0-9.eE+-]{15,}"


def _exact_json_numbers(con: duckdb.DuckDBPyConnection, keys: list[str]) -> None:
    """Give JSON numbers their text as written. DuckDB reads a JSON number with a fraction or
    an exponent as a double: ``99999999999999.99`` would be staged as ``99999999999999.98`` and
    ``0.10000000000000001`` as ``0.1``. A double holds every number of up to 15 significant
    digits, so only lines with a longer number-like token (a cheap test in SQL, usually none) are
    parsed again here; a number the double does not hold gets its written text (typed then like
    any other: exactly, or rejected)."""
    if not keys:
        return
    index = {k: i for i, k in enumerate(keys)}
    fixes: list[tuple[int, int, str]] = []
    # Only a record with a number among its values can need a fix, and a number is staged as
    # number-like text (digits, sign, point, exponent: a double's shortest form); a record
    # without such a value is not read again (on most exports: none is, so no line is scanned)
    numeric = " OR ".join(f"regexp_full_match(s{i}, '[0-9.eE+-]+')" for i in range(len(keys)))
    candidates = f"(SELECT _row FROM _stg WHERE {numeric})"
    if not con.execute(f"SELECT count(*) FROM {candidates}").fetchone()[0]:
        return
    cur = con.execute(f"SELECT l._row, l.line FROM _lines l JOIN {candidates} s USING (_row) "
                      f"WHERE regexp_matches(l.line, '{_LONG_NUMBER}') ORDER BY l._row")
    while batch := cur.fetchmany(2048):
        for row, line in batch:
            try:
                rec = json.loads(line, parse_float=_NumberText)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            for k, v in rec.items():
                # (integers DuckDB keeps exactly, however long)
                if isinstance(v, _NumberText) and k in index and _rounded(v):
                    fixes.append((row, index[k], str(v)))
    if not fixes:
        return
    import pyarrow as pa
    con.register("_numtext", pa.table({"r": [f[0] for f in fixes], "i": [f[1] for f in fixes],
                                       "t": [f[2] for f in fixes]}))
    try:
        for i in sorted({f[1] for f in fixes}):
            # only where the staged text is another number (a double's rounding)
            con.execute(f"UPDATE _stg SET s{i} = n.t FROM _numtext n WHERE n.r = _stg._row AND "
                        f"n.i = {i} AND _stg.s{i} IS DISTINCT FROM n.t")
    finally:
        con.unregister("_numtext")


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flag_nested_json(con: duckdb.DuckDBPyConnection, keys: list[str]) -> set[int]:
    """Mark values that are JSON objects or arrays (as text they start with { or [): a column
    n<i> true where s<i> is one. A string that merely starts with { is not marked."""
    if not keys:
        return set()
    cand = con.execute("SELECT " + ", ".join(
        f"coalesce(bool_or(left(s{i}, 1) IN ('{{', '[')), false)" for i in range(len(keys)))
        + " FROM _stg").fetchone()
    flagged = {i for i, c in enumerate(cand) if c}
    for i in sorted(flagged):
        con.execute(f"ALTER TABLE _stg ADD COLUMN n{i} BOOLEAN DEFAULT false")
        con.execute(f"UPDATE _stg SET n{i} = true FROM _lines l WHERE l._row = _stg._row AND "
                    f"left(_stg.s{i}, 1) IN ('{{', '[') AND json_type(l.line, $1) IN "
                    f"('OBJECT', 'ARRAY')", [_json_path(keys[i])])
    return flagged




def _stage_parquet(con: duckdb.DuckDBPyConnection, src: SourceFile) -> Staged:
    try:
        desc = con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(src.path)}).fetchall()
    except duckdb.Error as e:
        raise UnusableInputError(f"{src.path}: unreadable Parquet file "
                                 f"({str(e).splitlines()[0][:200]})") from None
    # the names as the file has them: DuckDB renames a name that repeats in another case
    # ("email", "EMAIL" -> "EMAIL_1") and an empty one ("" -> "C1"); the file's own names let
    # such a header be refused (or cleaned) as in a CSV file
    names = _parquet_names(con, src) or [d[0] for d in desc]
    if len(names) != len(desc):
        names = [d[0] for d in desc]
    # Columns are addressed by position (columns(...) over a positional list), not by name.
    # Every value becomes text and is typed like a CSV value: an integer where a timestamp is
    # expected is an invalid timestamp, a nested value is JSON text flagged in n<i>. A native
    # number's text is plain (-1234.500): its '.' is the decimal point (numeric).
    sel = []
    nested_cols: set[int] = set()
    binary_cols: set[int] = set()
    numeric_cols: set[int] = set()
    for i, (name, typ, *_rest) in enumerate(desc):
        nested = typ.endswith("]") or typ.startswith(("STRUCT", "MAP", "UNION"))
        col = f"#{i + 1}"
        if typ in _PARQUET_NUMBERS or typ.startswith("DECIMAL("):
            numeric_cols.add(i)
        if nested:
            nested_cols.add(i)
            sel.append(f"CAST(to_json({col}) AS VARCHAR) AS s{i}, {col} IS NOT NULL AS n{i}")
        elif typ == "BLOB":     # binary without a text annotation: text only if it is UTF-8
            binary_cols.add(i)
            sel.append(f"try(decode({col})) AS s{i}, "
                       f"{col} IS NOT NULL AND try(decode({col})) IS NULL AS b{i}")
        else:
            sel.append(f"CAST({col} AS VARCHAR) AS s{i}")
    body = ", ".join(sel)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT file_row_number + 1 AS _row, "
                    f"{body} FROM (SELECT * EXCLUDE (file_row_number), file_row_number FROM "
                    f"read_parquet($p, file_row_number = true)) ORDER BY file_row_number",
                    {"p": str(src.path)})
    except duckdb.Error as e:
        raise UnusableInputError(f"{src.path}: unreadable Parquet file "
                                 f"({str(e).splitlines()[0][:200]})") from None
    rows = con.execute("SELECT count(*) FROM _stg").fetchone()[0]
    return Staged(names, rows, 0, nested=nested_cols, binary=binary_cols, numeric=numeric_cols)


_PARQUET_NUMBERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                              "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE"})


def _parquet_names(con: duckdb.DuckDBPyConnection, src: SourceFile) -> list[str] | None:
    """The top-level column names of a Parquet file as written (nested fields skipped)."""
    try:
        rows = con.execute("SELECT name, coalesce(num_children, 0) FROM parquet_schema($p)",
                           {"p": str(src.path)}).fetchall()
    except duckdb.Error:
        return None
    if not rows:
        return None
    names: list[str] = []
    pending = [rows[0][1]]              # children still to walk, per level (the root first)
    for name, children in rows[1:]:
        while pending and pending[-1] == 0:
            pending.pop()
        if not pending:
            return None
        pending[-1] -= 1
        if len(pending) == 1:
            names.append(name)
        if children:
            pending.append(children)
    return names


def _stage_json_records(con: duckdb.DuckDBPyConnection, src: SourceFile, records: str) -> Staged:
    """Stage the elements of a nested JSON array as rows (a helpdesk export's ticket comments,
    ``comments``; a chat archive's messages, ``chats[].thread.events``).

    The file is a JSON array, JSON lines, or one JSON document. ``records`` is a dotted path;
    ``[]`` steps into the elements of an array on the way. The fields of each element become
    columns, and the fields of the element one level up (the ticket, the chat) are there too as
    ``parent.<field>``. Row numbers count the elements in file order; an element that is not a
    JSON object is rejected with its text, a top-level record that is not valid JSON too.
    """
    path = _path(src)
    head = _text_head(src, 4096).lstrip()
    levels = records.split("[].")
    # the top-level records: one per line (JSON lines), else the array's elements or the document
    con.execute("CREATE OR REPLACE TEMP TABLE _top (rec BIGINT, j VARCHAR)")
    lines_ok = False
    if not head.startswith("["):
        con.execute("CREATE OR REPLACE TEMP TABLE _toplines AS SELECT line FROM read_csv($p, "
                    "header = false, delim = '\x1e', quote = '', escape = '', columns = "
                    "{'line': 'VARCHAR'}, auto_detect = false, strict_mode = false, "
                    "max_line_size = $m)", {"p": path, "m": _framing.MAX_RECORD_BYTES})
        first = con.execute("SELECT line FROM _toplines WHERE trim(line) <> '' LIMIT 1").fetchone()
        lines_ok = bool(first) and con.execute("SELECT json_valid($1)", [first[0]]).fetchone()[0]
    try:
        if lines_ok:
            base = _first_rowid(con, "_toplines")
            con.execute(f"INSERT INTO _top SELECT rowid - {int(base)} + 1, line FROM _toplines "
                        f"WHERE trim(line) <> ''")
        else:
            con.execute("INSERT INTO _top SELECT row_number() OVER (), CAST(json AS VARCHAR) FROM "
                        "read_json_objects($p, format = $f, maximum_object_size = $m)",
                        {"p": path, "f": "array" if head.startswith("[") else "unstructured",
                         "m": _framing.MAX_RECORD_BYTES})
    except duckdb.Error as e:
        raise UnusableInputError(f"{src.path}: not valid JSON ({str(e).splitlines()[0][:200]})"
                                 ) from None
    finally:
        con.execute("DROP TABLE IF EXISTS _toplines")
    # unreadable top-level records are rejected (and have no elements)
    con.execute("CREATE OR REPLACE TEMP TABLE _elems (rec BIGINT, pos VARCHAR, parent VARCHAR, "
                "e VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE _badtop AS SELECT rec, j FROM _top "
                "WHERE NOT coalesce(try(json_valid(j)), false)")
    # level by level: (element, its parent, a sortable position)
    con.execute("CREATE OR REPLACE TEMP TABLE _lvl AS SELECT rec, lpad(CAST(rec AS VARCHAR), 12, "
                "'0') AS pos, j AS parent, j AS e FROM _top WHERE rec NOT IN (SELECT rec FROM _badtop)")
    for level in levels:
        jpath = "$." + ".".join('"' + k + '"' for k in level.split("."))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _next AS SELECT rec, pos || '.' || lpad(CAST(i AS VARCHAR), "
            "9, '0') AS pos, e AS parent, CAST(a[i] AS VARCHAR) AS e FROM (SELECT rec, pos, e, "
            "CASE WHEN json_type(e) = 'OBJECT' AND json_type(json_extract(e, $1)) = 'ARRAY' THEN "
            "from_json(json_extract(e, $1), '[\"JSON\"]') ELSE [] END AS a FROM _lvl) x, "
            "range(1, len(a) + 1) r(i)", [jpath])
        con.execute("DROP TABLE _lvl")
        con.execute("ALTER TABLE _next RENAME TO _lvl")
    con.execute("CREATE OR REPLACE TEMP TABLE _lines_raw AS SELECT row_number() OVER (ORDER BY pos) "
                "AS _row, parent, e AS line FROM (SELECT pos, parent, e FROM _lvl UNION ALL "
                "SELECT lpad(CAST(rec AS VARCHAR), 12, '0'), NULL, j FROM _badtop)")
    con.execute("DROP TABLE IF EXISTS _lvl")
    con.execute("DROP TABLE IF EXISTS _top")
    con.execute("DROP TABLE IF EXISTS _badtop")
    con.execute("DROP TABLE IF EXISTS _elems")
    con.execute("CREATE OR REPLACE TEMP VIEW _lines AS SELECT _row, line FROM _lines_raw")
    con.execute(
        "INSERT INTO _stg_rej SELECT _row, CASE WHEN parent IS NULL THEN 'invalid JSON' ELSE "
        "'not a JSON object' END, line, strlen(line), sha256(line) FROM _lines_raw WHERE parent IS NULL OR "
        "try(json_type(line)) IS DISTINCT FROM 'OBJECT'")
    good = "FROM _lines_raw WHERE _row NOT IN (SELECT _row FROM _stg_rej)"
    keys = [r[0] for r in con.execute(
        f"SELECT k FROM (SELECT unnest(json_keys(line)) AS k, _row {good}) "
        "GROUP BY k ORDER BY min(_row), k").fetchall()]
    pkeys = [r[0] for r in con.execute(
        f"SELECT k FROM (SELECT unnest(json_keys(parent)) AS k, _row {good} AND "
        "json_type(parent) = 'OBJECT') GROUP BY k ORDER BY min(_row), k").fetchall()]
    exprs, params = [], []
    for src_col, k in [("line", k) for k in keys] + [("parent", k) for k in pkeys]:
        params.append('$."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"')
        exprs.append(f"json_extract_string({src_col}, ${len(params)}) AS s{len(exprs)}")
    cols = ", ".join(["_row"] + exprs)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS SELECT {cols} {good} ORDER BY _row", params)
    rows = con.execute("SELECT count(*) FROM _stg").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _stg_rej").fetchone()[0]
    names = keys + [f"parent.{k}" for k in pkeys]
    return Staged(names, rows, rejected, raw_lines=True)


def drop_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the staged text (``_stg``, a table or a view over ``_stg_raw``), keep the rejects."""
    is_view = con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary AND view_name = '_stg'"
                          ).fetchone()[0]
    con.execute("DROP VIEW IF EXISTS _stg" if is_view else "DROP TABLE IF EXISTS _stg")
    con.execute("DROP VIEW IF EXISTS _lines")
    for t in ("_stg_raw", "_lines_raw"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    drop_raw(con)
    con.execute("DROP TABLE IF EXISTS _stg_rej")
