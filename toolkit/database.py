"""The audit database: the one place that opens it, plain or encrypted at rest.

The toolkit copies a shop's personal data onto the auditor's machine; this module decides how
that copy is held (GDPR Art. 32). ``privaudit load --encrypt`` writes the database with DuckDB's
own encryption (AES-GCM, through the crypto of the ``httpfs`` extension, loaded from its wheel:
nothing is downloaded at run time). Every consumer (load, audit, gate, notebooks, report, run,
demo, subject, remediate, statement, inspect, show) opens the database through :func:`connect`,
which recognises an encrypted file by its header and opens it with the key.

The key comes from, in this order: the ``key`` argument, ``PRIVAUDIT_DB_KEY``, the file named by
``PRIVAUDIT_DB_KEY_FILE`` (``privaudit --key-file F``), or the OS keyring (service ``privaudit``,
user ``database``) when the ``keyring`` package is installed. The environment is how the key
reaches the notebooks' kernel: it is never a notebook parameter, so it is in no saved notebook.
A missing or wrong key is one line (:class:`UnusableInputError`, exit 2) and never echoes the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from . import outputs
from .exceptions import PrivauditError, UnusableInputError

DEFAULT_TIMEZONE = "Europe/Amsterdam"
ENV_KEY = "PRIVAUDIT_DB_KEY"
ENV_KEY_FILE = "PRIVAUDIT_DB_KEY_FILE"
KEYRING_SERVICE, KEYRING_USER = "privaudit", "database"
MIN_KEY_LENGTH = 16
CATALOG = "audit"          # the encrypted database's name inside its connection (USE audit)
_ENCRYPTED_FLAG = 1        # DuckDB's main header: flags[0] bit 0 marks an encrypted database


def database_path(db: str | Path) -> Path:
    """The audit database's path: a file (``:memory:`` would be lost when the command ends)."""
    text = str(db)
    if not text.strip() or text.strip().startswith(":memory:"):
        raise UnusableInputError(f"--db {text!r}: the audit database must be a file (an in-memory "
                                 f"database is gone when the command ends)")
    return Path(db)


def _header(db: Path) -> bytes:
    try:
        with open(db, "rb") as f:
            return f.read(28)
    except OSError as e:
        raise UnusableInputError(f"{db}: cannot read the database ({e.strerror})") from None


def check_database_file(db: Path) -> None:
    """Refuse a path that is not a DuckDB database before anything opens or changes it (an
    export CSV given as ``--db`` keeps its content and its mode)."""
    if db.is_dir():
        raise UnusableInputError(f"{db}: a folder, not a database file")
    if not db.exists():
        return
    head = _header(db)
    if len(head) < 12 or head[8:12] != b"DUCK":
        raise UnusableInputError(f"{db}: not a DuckDB database (left as it is; give --db a new "
                                 f"file name or a database made by 'privaudit load')")


def is_encrypted(db: str | Path) -> bool:
    """True when ``db`` is a DuckDB database written with an encryption key."""
    db = Path(db)
    if not db.is_file():
        return False
    head = _header(db)
    return (len(head) >= 28 and head[8:12] == b"DUCK"
            and bool(int.from_bytes(head[20:28], "little") & _ENCRYPTED_FLAG))


ENV_MEMORY = "PRIVAUDIT_MEMORY_LIMIT"
DEFAULT_MEMORY = "1GB"
DUCKDB_SHARE = 0.7         # DuckDB's buffer pool: 70 % of the process's budget (see below)
_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}


def memory_budget() -> int:
    """The whole process's memory budget in bytes: PRIVAUDIT_MEMORY_LIMIT (e.g. ``4GB``,
    ``700MB``, ``1GiB``; default 1GB; GB = 1000**3 bytes, GiB = 1024**3, as in DuckDB)."""
    v = os.environ.get(ENV_MEMORY, DEFAULT_MEMORY).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", v, re.IGNORECASE)
    if not m:
        raise PrivauditError(f"{ENV_MEMORY}: {v!r} is not a size like 1GB or 512MB")
    budget = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if budget < 64 * 1024 ** 2:
        raise PrivauditError(f"{ENV_MEMORY}: {v!r} is below 64MB (the toolkit's Python alone "
                             f"needs more)")
    return budget


def memory_limit() -> str:
    """DuckDB's memory limit for our connections: 70 % of the process's budget
    (:func:`memory_budget`). DuckDB's allocations outside its buffer pool, Python and the
    libraries come on top of the buffer pool: measured at 100k customers, a 700 MB DuckDB limit
    gave a load's process 888 MB at its peak, so a 1GB budget keeps the whole process within
    1 GB. Work beyond the limit spills to a private folder next to the database (see
    docs/benchmarks.md)."""
    return f"{int(memory_budget() * DUCKDB_SHARE) // 1024}KiB"


def _tz_name(tz: str) -> str:
    if not re.fullmatch(r"[A-Za-z_+\-/0-9]+", tz):
        raise PrivauditError(f"invalid time zone name {tz!r}")
    return tz


def check_key(key: str, where: str) -> str:
    """A usable key: at least 16 characters, no control characters (a key file's final newline
    is not part of the key)."""
    if len(key) < MIN_KEY_LENGTH:
        raise UnusableInputError(f"{where}: the database key must have at least {MIN_KEY_LENGTH} "
                                 f"characters (e.g. python -c 'import secrets; "
                                 f"print(secrets.token_urlsafe(32))')")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise UnusableInputError(f"{where}: the database key holds a control character")
    return key


def _keyring_key() -> str | None:
    try:
        import keyring  # optional: only when installed
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception:       # no usable backend (a CI runner): as if there were no keyring
        return None


def resolve_key(key: str | None = None) -> tuple[str, str] | None:
    """(key, where it came from) or None: the argument, ``PRIVAUDIT_DB_KEY``, the file named by
    ``PRIVAUDIT_DB_KEY_FILE``, the OS keyring."""
    if key is not None:
        return check_key(key, "key"), "key"
    if os.environ.get(ENV_KEY):
        return check_key(os.environ[ENV_KEY], ENV_KEY), ENV_KEY
    if os.environ.get(ENV_KEY_FILE):
        path = Path(os.environ[ENV_KEY_FILE])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UnusableInputError(f"{path}: cannot read the key file "
                                     f"({getattr(e, 'strerror', None) or 'not UTF-8 text'})") from None
        return check_key(text.rstrip("\r\n"), str(path)), str(path)
    found = _keyring_key()
    if found:
        return check_key(found, "keyring"), "keyring"
    return None


def sql_literal(text: str) -> str:
    """A SQL string literal. ATTACH takes no bound parameters (a parser error at ``?``): the
    path and the key go in as literals with ``'`` doubled, the only escape a literal has."""
    return "'" + text.replace("'", "''") + "'"


_HTTPFS: Path | None = None


def httpfs_extension() -> Path:
    """The ``httpfs`` extension file of the ``duckdb-extension-httpfs`` wheel (DuckDB's crypto)."""
    global _HTTPFS
    if _HTTPFS is None:
        try:
            import duckdb_extension_httpfs
        except ImportError:
            raise UnusableInputError("encrypted databases need the duckdb-extension-httpfs package "
                                     f"(pip install duckdb-extension-httpfs=={duckdb.__version__})"
                                     ) from None
        found = sorted(Path(duckdb_extension_httpfs.__file__).parent.glob(
            f"extensions/v{duckdb.__version__}/httpfs.duckdb_extension"))
        if not found:
            raise UnusableInputError(f"duckdb-extension-httpfs has no extension for DuckDB "
                                     f"{duckdb.__version__} (install the same version as duckdb)")
        _HTTPFS = found[0]
    return _HTTPFS


def _open_encrypted(db: Path, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        con.execute(f"LOAD {sql_literal(str(httpfs_extension()))}")
        # spills of an encrypted database are encrypted too (DuckDB's default leaves them clear)
        con.execute("SET temp_file_encryption = true")
        options = f"ENCRYPTION_KEY {sql_literal(key)}" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH {sql_literal(str(db))} AS {CATALOG} ({options})")
        con.execute(f"USE {CATALOG}")
    except duckdb.Error as e:
        con.close()
        text = str(e).splitlines()[0].replace(key, "***")
        if "wrong encryption key" in text.lower():
            raise UnusableInputError(f"{db}: wrong key for this encrypted database") from None
        raise UnusableInputError(f"{db}: cannot open the encrypted database ({text})") from None
    return con


def key_for(db: Path, encrypt: bool = False, key: str | None = None) -> tuple[str, str] | None:
    """The key that opens (or, with ``encrypt``, creates) ``db``; None for a plain database.
    A missing key, or ``encrypt`` on an existing plain database, is one line (exit 2)."""
    encrypted = is_encrypted(db)
    if encrypt and db.exists() and not encrypted:
        raise UnusableInputError(f"{db}: a database that is not encrypted stays so; --encrypt "
                                 f"writes a new database (give --db a new file name)")
    if not (encrypted or encrypt):
        return None
    found = resolve_key(key)
    if found is None:
        raise UnusableInputError(
            f"{db}: {'encrypted' if encrypted else '--encrypt'}: no database key (set "
            f"{ENV_KEY}, or {ENV_KEY_FILE} / privaudit --key-file naming a file that holds it)")
    return found


def connect(db: str | Path, read_only: bool = False, timezone: str = DEFAULT_TIMEZONE, *,
            encrypt: bool = False, key: str | None = None,
            retention_days: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open the audit database (created readable by its owner only) with the civil time zone set.

    The one place that opens a database: a path that is not a DuckDB file is refused untouched.
    An encrypted database is opened with the key (:func:`resolve_key`); ``encrypt`` creates a new
    database encrypted (an existing plain one is refused: it would stay plain). Tables are found
    by their plain names either way (the encrypted database is the connection's default).
    A database holding exports loaded more than ``retention_days`` (the policy's
    ``auditor.retention_days``, default 90) ago gives a :class:`toolkit.purge.RetentionWarning`."""
    db = database_path(db)
    limit = memory_limit()                      # an unusable budget is refused before opening
    if read_only and not db.exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    check_database_file(db)
    found = key_for(db, encrypt, key)
    old = os.umask(0o077)
    try:
        outputs.private_dir(db.parent)          # a folder it creates is the owner's only
        if found is None:
            con = duckdb.connect(str(db), read_only=read_only)
        else:
            con = _open_encrypted(db, found[0], read_only)
    except duckdb.Error as e:
        raise UnusableInputError(f"{db}: cannot open database ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise UnusableInputError(f"{e.filename or db}: {e.strerror}") from None
    finally:
        os.umask(old)
    if not read_only:
        os.chmod(db, 0o600)
    # SET takes no bound parameters: the values are checked against strict patterns instead
    con.execute(f"SET TimeZone = '{_tz_name(timezone)}'")
    con.execute(f"SET memory_limit = '{limit}'")
    outputs.temp_directory(con, db)          # spills (raw data) stay in a private folder
    from .purge import warn_if_expired
    warn_if_expired(con, db, retention_days)
    return con
