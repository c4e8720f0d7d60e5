"""Hand-built fixtures for rule tests: a small database built straight from Python rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import toolkit
from toolkit import schema


def build_db(path: Path, tables: dict[str, list[dict]]) -> Path:
    """Create the canonical tables given (only the columns the rows use) and insert the rows."""
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    for name, rows in tables.items():
        t = schema.table(name)
        used = {k for r in rows for k in r} | {t.primary_key}
        unknown = used - set(t.column_names)
        assert not unknown, f"{name}: unknown columns {unknown}"
        cols = [c for c in t.column_names if c in used] if rows else [
            c.name for c in t.columns if c.core]      # an empty table: every core column
        con.execute(schema.ddl(t, cols))
        for r in rows:
            con.execute(f'INSERT INTO "{name}" ({", ".join(cols)}) VALUES '
                        f'({", ".join("$" + str(i + 1) for i in range(len(cols)))})',
                        [r.get(c) for c in cols])
    con.close()
    return path


@pytest.fixture
def audit_of(tmp_path):
    """audit_of(tables, as_of, rules='RET-001', **kw) -> {rule_id: {subject_id: finding}}."""
    counter = [0]

    def run(tables: dict[str, list[dict]], as_of, rules: str, **kw):
        counter[0] += 1
        db = build_db(tmp_path / f"f{counter[0]}.duckdb", tables)
        res = toolkit.audit(db, as_of, rules=rules, **kw)
        errors = [(r.rule_id, r.error) for r in res.rules if r.status == "error"]
        assert not errors, errors
        out: dict[str, dict] = {}
        for f in res.findings:
            out.setdefault(f["rule_id"], {})[f["subject_id"]] = f
        run.last = res
        return out

    return run
