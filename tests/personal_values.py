"""The personal values of a loaded shop, by kind, to grep a database file's bytes for them
(tests of toolkit.purge and toolkit.minimise)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from toolkit import schema

# shorter values (a house number, "NL", a 3-letter first name) occur in any file by chance
MIN_LENGTH = 5


EXTRA = "extra"      # the values of the extra columns an export brought (unknown to the schema)


def personal_values(db: Path, kinds: set[str] | None = None, min_length: int = MIN_LENGTH
                    ) -> dict[str, set[str]]:
    """{kind: distinct values} of every personal column of the schema (``schema`` pii kinds,
    free text as ``text``) and of every extra column (:data:`EXTRA`) in the plain database
    ``db``, as VARCHAR, at least ``min_length`` characters; only ``kinds`` when given."""
    con = duckdb.connect(str(db), read_only=True)
    out: dict[str, set[str]] = {}
    try:
        have = {}
        for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                "WHERE schema_name = 'main'").fetchall():
            have.setdefault(t, set()).add(c)
        for t in schema.TABLES:
            cols = [(c.name, c.pii) for c in t.personal_columns] + [
                (c, EXTRA) for c in sorted(have.get(t.name, set()) - set(t.column_names))]
            for name, kind in cols:
                if name not in have.get(t.name, set()) or (kinds and kind not in kinds):
                    continue
                for (v,) in con.execute(f'SELECT DISTINCT CAST("{name}" AS VARCHAR) FROM '
                                        f'"{t.name}" WHERE length(CAST("{name}" AS VARCHAR)) '
                                        f'>= {int(min_length)}').fetchall():
                    out.setdefault(kind, set()).add(v)
    finally:
        con.close()
    return out


def in_bytes(path: Path, values: set[str]) -> list[str]:
    """The values whose UTF-8 bytes occur in the file ``path``."""
    data = path.read_bytes()
    return sorted(v for v in values if v.encode("utf-8") in data)
