"""See what a load would do before loading: ``privaudit inspect EXPORT_DIR [--mapping M]``.

:func:`inspect_export` (``toolkit.inspect``) reads only the headers of an export folder's files
(the first megabyte of a CSV; the records of a JSON file; a Parquet file's schema), writes
nothing, and answers three questions:

- which shipped mapping fits each file, by its header (and whether the file's name is one the
  mapping looks for);
- which tables and columns a load with the chosen mapping would fill, from which headers, and
  which mapped columns and tables are absent;
- which rules of the rule registry would then be evaluable, and why the others are not (their
  ``needs``: the tables and columns they read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from . import schema
from .exceptions import PrivauditError, UnusableInputError
from .mapping import Mapping, builtin_names, matches, read_mapping
from .readers import SourceFile, Staged, discover, drop_stage, read_header, split_ext, stage


@dataclass
class FileFit:
    """How well a mapping's table fits one file, by the file's header."""

    mapping: str
    table: str
    found: list[str]              # mapped headers the file has (one per canonical column)
    expected: int                 # canonical columns the mapping's entry reads from headers
    name_matches: bool            # the file's name is one the mapping looks for

    @property
    def score(self) -> float:
        return len(self.found) / self.expected if self.expected else 0.0


@dataclass
class FilePreview:
    file: str
    format: str | None
    headers: list[str] = field(default_factory=list)
    fits: list[FileFit] = field(default_factory=list)   # best first
    problem: str | None = None

    @property
    def best(self) -> FileFit | None:
        return self.fits[0] if self.fits else None


@dataclass
class TablePreview:
    """What a load would put into one table from one file."""

    table: str
    file: str
    columns: dict[str, str]           # canonical column -> where it comes from
    absent: list[str]                 # mapped columns the file lacks
    missing: list[str]                # core columns nobody fills
    extras: list[str]                 # source columns kept as extra columns
    links: dict[str, str] = field(default_factory=dict)
    problem: str | None = None        # why this file would be refused


@dataclass
class RulePreview:
    rule_id: str
    status: str                       # evaluable | not_evaluable
    missing: list[str] = field(default_factory=list)


@dataclass
class InspectResult:
    export_dir: Path
    mapping: str | None               # the mapping the preview uses (None: canonical names)
    files: list[FilePreview]
    tables: list[TablePreview]
    absent_tables: dict[str, str]     # mapping tables without a file: the names looked for
    skipped: list[str]                # files no table takes
    rules: list[RulePreview]

    @property
    def evaluable(self) -> list[str]:
        return [r.rule_id for r in self.rules if r.status == "evaluable"]

    def present(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for t in self.tables:
            if t.problem is None:
                out.setdefault(t.table, set()).update(t.columns)
                out[t.table].update(t.links)
                out[t.table].update(t.extras)      # kept as columns: SEC-002/004/006 scan them
        return out


def _headers(con: duckdb.DuckDBPyConnection, path: Path, records: str | None = None
             ) -> tuple[str | None, list[str]]:
    parts = split_ext(path.name)
    if parts is None:
        return None, []
    fmt = parts[1]
    src = SourceFile("customers", path, fmt, parts[2])
    if fmt == "csv" and records is None:
        read_header(src, None)
        return fmt, src.header
    try:
        staged: Staged = stage(con, src, records)
        return fmt, staged.columns
    finally:
        drop_stage(con)
        for t in ("_lines_raw", "_stg"):
            con.execute(f"DROP TABLE IF EXISTS {t}")


def _fits(name: str, headers_for, mappings: dict[str, Mapping]) -> list[FileFit]:
    """Each mapping table's best entry for a file; ``headers_for(records)`` gives the file's
    headers as that entry would read it (nested JSON records included)."""
    fits = []
    for mname, mp in mappings.items():
        for tname, tm in mp.tables.items():
            entries = list(range(len(tm.files))) if tm.files else [None]
            best: FileFit | None = None
            for i in entries:
                sub = tm.for_entry(i)
                # a mapped column counts when one of its alternative headers is there
                found, expected = sub.header_fit(headers_for(sub.records))
                pats = (tm.files[i].patterns if i is not None
                        else [x for fs in tm.patterns for x in fs.patterns])
                fit = FileFit(mname, tname, found, expected, any(matches(p, name) for p in pats))
                if best is None or _rank(fit) < _rank(best):
                    best = fit
            if best is not None and best.found:
                fits.append(best)
    fits.sort(key=lambda f: (_rank(f), f.mapping, f.table))
    return fits


def _rank(f: FileFit) -> tuple:
    """Best first: a good fit whose name the mapping looks for, then by headers found."""
    return (not (f.name_matches and f.score >= 0.5), -len(f.found), -f.score, not f.name_matches)


def inspect_export(export_dir: str | Path, mapping: str | Path | Mapping | None = None
                   ) -> InspectResult:
    """Preview a load of ``export_dir`` (with ``mapping``, else the best-fitting shipped one)."""
    from .findings import missing_needs
    from .rules import ordered

    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise UnusableInputError(f"{export_dir}: export folder not found" if not export_dir.exists()
                                 else f"{export_dir}: not a folder")
    shipped = {n: read_mapping(n) for n in builtin_names()}
    con = duckdb.connect()
    try:
        files: list[FilePreview] = []
        for p in sorted(export_dir.iterdir()):
            if p.name.startswith((".", "_")) or not p.is_file():
                continue
            fp = FilePreview(p.name, None)
            try:
                fp.format, fp.headers = _headers(con, p)
            except (PrivauditError, duckdb.Error) as e:
                fp.problem = str(e).splitlines()[0]
            cache: dict[str | None, list[str]] = {None: fp.headers}

            def headers_for(records: str | None, p: Path = p, cache: dict = cache) -> list[str]:
                if records not in cache:
                    try:
                        cache[records] = (_headers(con, p, records)[1]
                                          if p.name.lower().endswith((".json", ".jsonl", ".ndjson"))
                                          else [])
                    except (PrivauditError, duckdb.Error):
                        cache[records] = []
                return cache[records]

            nested = p.name.lower().endswith(".json")
            if fp.problem is None or nested:
                # a .json file refused as records (one document over several lines) may still
                # be what a mapping's records: reads: then it is no problem
                fp.fits = _fits(p.name, headers_for, shipped)
                if fp.problem is not None and fp.fits:
                    fp.format, fp.problem = "json", None
            files.append(fp)

        if isinstance(mapping, Mapping):
            mp, mname = mapping, "(given)"
        elif mapping is not None:
            mp, mname = read_mapping(mapping), str(mapping)
        else:
            # the shipped mapping that fits most files well (by header and name), if any
            votes: dict[str, float] = {}
            for fp in files:
                for fit in fp.fits:
                    if fit.score >= 0.5 and fit.name_matches:
                        votes[fit.mapping] = max(votes.get(fit.mapping, 0), 0) + fit.score
            mname = max(votes, key=lambda k: (votes[k], k)) if votes else None
            mp = shipped[mname] if mname else Mapping()

        sources, skipped, absent = discover(export_dir, mp)
        tables: list[TablePreview] = []
        for src in sources:
            tm = mp.for_table(src.table).for_entry(src.entry)
            tables.append(_table_preview(con, src, tm))
    finally:
        con.close()
    result = InspectResult(export_dir, mname, files, tables, absent, skipped, [])
    present = result.present()
    for rule in ordered():
        miss = missing_needs(rule, present)
        result.rules.append(RulePreview(rule.id, "not_evaluable" if miss else "evaluable", miss))
    return result


def _table_preview(con: duckdb.DuckDBPyConnection, src: SourceFile, tm) -> TablePreview:
    from .ingest import _Params, _resolve_columns

    t = schema.table(src.table)
    try:
        fmt, headers = _headers(con, src.path, tm.records)
        if fmt == "csv" and tm.delimiter:
            read_header(src, tm.delimiter)
            headers = src.header
        res = _resolve_columns(src, Staged(headers, 1, 0), t, tm, _Params())
    except (PrivauditError, duckdb.Error) as e:
        return TablePreview(src.table, src.name, {}, [], [], [], problem=str(e).splitlines()[0])
    links = {col: f"by {ln.by_email} = {ln.table}.{ln.email}" for col, ln in tm.link.items()}
    missing = [c.name for c in t.columns if c.core and c.name not in res.used and c.name not in links]
    return TablePreview(src.table, src.name, dict(res.used), list(res.absent), missing,
                        [name for name, _ in res.extras], links)
