"""How the toolkit writes anything: private folders and files, and CSV that spreadsheets cannot run.

Private by default
    Findings, reports and gate results name customers, so every folder the toolkit creates is
    ``0700`` and every file it writes ``0600`` (owner only), whatever the umask: :func:`private_dir`
    creates a folder (and each missing parent) with that mode, :func:`open_private` /
    :func:`write_text` / :func:`write_bytes` create files with it, and :func:`make_private`
    closes up a file or folder that another library wrote (Parquet, papermill, nbconvert).
    :func:`private_umask` makes such a library create its files owner-only in the first place.
    A folder that already existed is left as it is; the files written into it are still 0600.
    DuckDB's spill folder (``SET temp_directory``) lives inside a private folder next to the
    database (:func:`temp_directory`): what DuckDB spills is raw data.

Spreadsheet safety (CSV injection)
    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
    formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``).
    Following the OWASP advice (owasp.org/www-community/attacks/CSV_Injection), :func:`safe_cell`
    prefixes such a text cell with a single quote, which spreadsheets show but do not run. Every
    CSV the toolkit writes goes through :func:`write_csv`. Numbers are data: a value that is a
    number (``int``, ``float``, ``Decimal``, not text) is written as it is, so ``-3`` in a numeric
    column stays ``-3``; the same ``-3`` as *text* is written ``'-3``. The CSV files are for people;
    the Parquet files next to them keep every value exactly, for programs.

    Not covered: the synthetic exports of ``privaudit generate`` (they imitate a shop's own
    files, which the loader must read back as they are) and the package's reference data.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import numbers
import os
import stat
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

DIR_MODE = 0o700
FILE_MODE = 0o600
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


# ---------------------------------------------------------------- private folders and files

def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and every missing parent) as a folder only its owner can enter."""
    p = Path(path)
    missing = []
    q = p
    while not q.exists():
        missing.append(q)
        if q.parent == q:
            break
        q = q.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)             # mkdir's mode is filtered by the umask
    if not p.is_dir():
        raise NotADirectoryError(f"{p}: not a folder")
    return p


def open_private(path: str | Path, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> IO:
    """Open ``path`` for writing (``w``, ``wb``, ``a``), created or truncated as a 0600 file."""
    p = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(p, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)          # an existing file keeps its mode otherwise
    except OSError:
        os.close(fd)
        raise
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding=encoding, newline=newline)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with open_private(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with open_private(path, "wb") as f:
        f.write(data)
    return Path(path)


def make_private(path: str | Path) -> Path:
    """Owner-only permissions on a file (0600) or a folder and everything in it (0700/0600)."""
    p = Path(path)
    if p.is_dir():
        os.chmod(p, DIR_MODE)
        for sub in p.rglob("*"):
            if not sub.is_symlink():
                os.chmod(sub, DIR_MODE if sub.is_dir() else FILE_MODE)
    elif p.exists():
        os.chmod(p, FILE_MODE)
    return p


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside (by any library, in any thread) are owner-only.

    The umask is the process's: keep the block around the whole piece of work (not per thread)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def is_private(path: str | Path) -> bool:
    """True when nobody but the owner may read, write or enter ``path``."""
    return stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def temp_directory(con, db: str | Path | None) -> Path | None:
    """Point DuckDB's spill folder (``temp_directory``) inside a private folder next to ``db``:
    ``<db folder>/.privaudit-tmp/<db name>`` (the folder DuckDB would otherwise create as
    ``<db>.tmp`` with the umask's mode; DuckDB creates the inner folder when it first spills and
    removes it on close). Where the database's folder cannot take it, a private folder of the
    system's temporary directory. None for an in-memory database."""
    if db is None or str(db) in ("", ":memory:"):
        return None
    db = Path(db).resolve()
    if str(db) in _SPILL:                 # this process chose it already (one mkdtemp at most)
        target = _SPILL[str(db)]
        con.execute("SET temp_directory = '" + str(target).replace("'", "''") + "'")
        return target
    try:
        home = private_dir(db.parent / ".privaudit-tmp")
        if not is_private(home):
            raise PermissionError(f"{home}: not private")
    except OSError:                       # a read-only folder (an auditor's copy): the user's own
        home = Path(tempfile.mkdtemp(prefix="privaudit-spill-"))     # 0700 by mkdtemp
    target = home / db.name
    try:        # made now, so that another process's release (below) never takes its home away
        private_dir(target)
    except OSError:
        pass
    _SPILL[str(db)] = target
    # SET takes no bound parameters: the path goes in as a quoted literal ('' for ')
    con.execute("SET temp_directory = '" + str(target).replace("'", "''") + "'")
    return target


_SPILL: dict[str, Path] = {}


def release_temp_directory(db: str | Path | None) -> None:
    """After the last connection to ``db`` closed: remove its spill folder and, when no other
    database's folder is left in it, the private home (``.privaudit-tmp``): a load leaves nothing
    next to the database but the database. Only empty folders are removed."""
    if db is None or str(db) in ("", ":memory:"):
        return
    target = _SPILL.pop(str(Path(db).resolve()), None)
    if target is None:
        return
    for folder in (target, target.parent):
        try:
            folder.rmdir()
        except OSError:                   # not empty (in use, another database's), or gone
            return


# ---------------------------------------------------------------- spreadsheet-safe CSV

def _is_number(v: Any) -> bool:
    return isinstance(v, (numbers.Number, Decimal)) and not isinstance(v, bool)


def safe_cell(value: Any) -> Any:
    """A value as it may be written to a CSV cell: text that a spreadsheet would run as a formula
    gets a leading single quote (OWASP); numbers, booleans and empty values stay as they are."""
    if value is None:
        return ""
    if _is_number(value):
        if isinstance(value, float) and math.isnan(value):
            return ""
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return safe_cell(value.item())        # numpy scalars (bool_, str_)
    if isinstance(value, bool):
        return value
    s = value if isinstance(value, str) else str(value)
    if s.startswith(FORMULA_START):
        return QUOTE + s
    return s


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any] | dict], delimiter: str = ","
             ) -> str:
    """The CSV text of ``rows`` (sequences in ``columns`` order, or dicts keyed by them)."""
    buf = io.StringIO()
    _write(buf, columns, rows, delimiter)
    return buf.getvalue()


def _write(f: IO, columns: Sequence[str], rows: Iterable[Sequence[Any] | dict], delimiter: str
           ) -> int:
    # RFC 4180 line ends: a cell holding a carriage return or a line feed is quoted, so no
    # reader starts a new row (and a new, unneutralised first cell) inside it
    w = csv.writer(f, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow([safe_cell(c) for c in columns])
    n = 0
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, dict) else row
        w.writerow([safe_cell(v) for v in values])
        n += 1
    return n


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Sequence[Any] | dict],
              delimiter: str = ",") -> int:
    """Write a private (0600), spreadsheet-safe CSV with a header row; return the rows written.

    ``rows`` are sequences in ``columns`` order or dicts keyed by column name; a pandas
    DataFrame may be passed as ``frame.itertuples(index=False)``."""
    with open_private(path, "w", encoding="utf-8", newline="") as f:
        return _write(f, columns, rows, delimiter)


def write_frame_csv(path: str | Path, frame) -> int:
    """A pandas DataFrame as a private, spreadsheet-safe CSV (missing values as empty cells)."""
    cols = [str(c) for c in frame.columns]
    rows = (tuple(None if _missing(v) else v for v in r) for r in frame.itertuples(index=False))
    return write_csv(path, cols, rows)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_safe_cell(expr: str) -> str:
    """The SQL twin of :func:`safe_cell` for a text expression: a value that starts like a
    formula (:data:`FORMULA_START`) gets the leading quote, an empty text is an empty cell."""
    starts = ", ".join(_sql_literal(c) for c in FORMULA_START)
    return (f"CASE WHEN ({expr}) = '' THEN NULL WHEN left({expr}, 1) IN ({starts}) "
            f"THEN {_sql_literal(QUOTE)} || ({expr}) ELSE ({expr}) END")


def copy_csv(con, select: str, path: str | Path, text_columns: Sequence[str]) -> None:
    """Write the result of the DuckDB query ``select`` as a private, spreadsheet-safe CSV with
    ``COPY ... TO``, byte for byte as :func:`write_csv` writes the same rows (header, RFC 4180
    quoting, CRLF line ends, NULL and empty text as empty cells; ``text_columns`` get
    :func:`sql_safe_cell`, numbers stay numbers). The query is the toolkit's own SQL; values
    reach it only as data."""
    cols = [d[0] for d in con.execute(f"SELECT * FROM ({select}) LIMIT 0").description]
    if any(str(c).startswith(FORMULA_START) for c in cols):
        raise ValueError("a column name that starts like a formula")
    shown = ", ".join((sql_safe_cell(_quote_name(c)) if c in text_columns else _quote_name(c))
                      + f" AS {_quote_name(c)}" for c in cols)
    with private_umask():
        con.execute(f"COPY (SELECT {shown} FROM ({select})) TO {_sql_literal(str(path))} "
                    "(FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
                    "NEW_LINE '\r\n')")
    make_private(path)


def copy_parquet(con, select: str, path: str | Path) -> None:
    """Write the result of ``select`` as a private Parquet file with ``COPY ... TO``."""
    with private_umask():
        con.execute(f"COPY ({select}) TO {_sql_literal(str(path))} (FORMAT parquet)")
    make_private(path)


def _quote_name(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        import pandas as pd
        return v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))
    except ImportError:           # pragma: no cover - pandas is a dependency
        return isinstance(v, float) and math.isnan(v)
