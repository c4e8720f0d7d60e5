"""toolkit.outputs: private folders and files whatever the umask, spreadsheet-safe CSV, and
DuckDB's spill folder inside a private folder."""

from __future__ import annotations

import csv
import os
import stat
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from toolkit import outputs


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def open_umask():
    """The most careless umask there is: without the helpers everything would be 0666/0777."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_folders_and_files_are_owner_only_under_umask_000(tmp_path, open_umask):
    d = outputs.private_dir(tmp_path / "a" / "b" / "c")
    for p in (tmp_path / "a", tmp_path / "a" / "b", d):
        assert mode(p) == 0o700, p
    f = outputs.write_text(d / "x.txt", "hallo")
    assert mode(f) == 0o600 and f.read_text() == "hallo"
    assert mode(outputs.write_bytes(d / "y.bin", b"\x00")) == 0o600
    n = outputs.write_csv(d / "z.csv", ["a"], [[1]])
    assert n == 1 and mode(d / "z.csv") == 0o600


def test_an_existing_file_is_closed_up_and_an_existing_folder_left_alone(tmp_path, open_umask):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    old = mine / "findings.csv"
    old.write_text("old")
    os.chmod(old, 0o644)
    outputs.private_dir(mine)
    outputs.write_csv(old, ["a"], [["new"]])
    assert mode(mine) == 0o755 and mode(old) == 0o600
    assert old.read_text() == "a\nnew\n"


def test_library_writes_inside_private_umask_and_make_private(tmp_path, open_umask):
    with outputs.private_umask():
        pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "f.parquet")
        (tmp_path / "sub").mkdir()
    assert mode(tmp_path / "f.parquet") == 0o600 and mode(tmp_path / "sub") == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "g.txt").write_text("x")
    outputs.make_private(loose)
    assert mode(loose) == 0o700 and mode(loose / "g.txt") == 0o600
    assert outputs.is_private(loose / "g.txt")


FORMULAS = ["=HYPERLINK(\"http://evil\",\"klik\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "-3", "=1"]


def test_formula_cells_are_neutralised_with_a_quote():
    for f in FORMULAS:
        assert outputs.safe_cell(f) == "'" + f
    assert outputs.safe_cell("gewoon tekst") == "gewoon tekst"
    assert outputs.safe_cell("a=b") == "a=b"              # only the first character matters
    assert outputs.safe_cell(None) == ""


def test_numbers_are_data_not_formulas():
    import numpy as np
    assert outputs.safe_cell(-3) == -3
    assert outputs.safe_cell(-2.5) == -2.5
    assert outputs.safe_cell(Decimal("-10.00")) == Decimal("-10.00")
    assert outputs.safe_cell(np.int64(-4)) == -4
    assert outputs.safe_cell(True) is True
    assert outputs.safe_cell(float("nan")) == ""


def test_written_csv_has_no_cell_starting_with_a_formula_character(tmp_path):
    rows = [[f, -1, "ok"] for f in FORMULAS] + [{"text": "=x", "n": 5, "other": "@y"},
                                                 ["ok\r=1+1", 0, "x\n@y"]]
    outputs.write_csv(tmp_path / "a.csv", ["text", "n", "other"], rows)
    frame = pd.DataFrame({"evidence": FORMULAS, "days_overdue": pd.array(range(-4, 4), "Int64"),
                          "due_date": [None] * 8})
    outputs.write_frame_csv(tmp_path / "b.csv", frame)
    for name in ("a.csv", "b.csv"):
        assert_spreadsheet_safe(tmp_path / name)
    back = list(csv.DictReader(open(tmp_path / "b.csv", newline="", encoding="utf-8")))
    assert [r["days_overdue"] for r in back] == ["-4", "-3", "-2", "-1", "0", "1", "2", "3"]
    assert back[0]["due_date"] == "" and back[0]["evidence"] == "'" + FORMULAS[0]


NUMBER = r"-?[0-9]+(\.[0-9]+)?"


def assert_spreadsheet_safe(path) -> int:
    """No cell of the CSV at ``path`` starts with a formula character, except plain numbers
    (a negative number in a numeric column is data). Returns the cells checked."""
    import re
    n = 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            for cell in row:
                n += 1
                if cell.startswith(outputs.FORMULA_START):
                    assert re.fullmatch(NUMBER, cell), (path, cell)
    return n


def test_duckdb_spills_inside_a_private_folder(tmp_path, open_umask):
    db = tmp_path / "data" / "a.duckdb"
    db.parent.mkdir()
    con = duckdb.connect(str(db))
    target = outputs.temp_directory(con, db)
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(target)
    assert target.parent == db.parent.resolve() / ".privaudit-tmp" and mode(target.parent) == 0o700
    con.close()
    assert outputs.temp_directory(duckdb.connect(), None) is None


def test_the_audit_database_connection_spills_privately(tmp_path, open_umask):
    from toolkit.ingest import connect
    con = connect(tmp_path / "new" / "a.duckdb")
    spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    con.close()
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "a.duckdb") == 0o600
    assert spill.startswith(str((tmp_path / "new" / ".privaudit-tmp").resolve()))


def test_release_removes_the_spill_folders_only_when_empty(tmp_path, open_umask):
    """A load leaves nothing next to the database; another database's spill folder (in use by
    another connection) keeps the private home."""
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    con_a, con_b = duckdb.connect(str(a)), duckdb.connect(str(b))
    ta, tb = outputs.temp_directory(con_a, a), outputs.temp_directory(con_b, b)
    assert ta.is_dir() and tb.is_dir() and mode(ta) == 0o700 and ta.parent == tb.parent
    con_a.close()
    outputs.release_temp_directory(a)
    assert not ta.exists() and tb.is_dir()          # b's folder keeps the home
    con_b.close()
    outputs.release_temp_directory(b)
    assert not tb.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.duckdb", "b.duckdb"]


def test_copy_csv_writes_what_write_csv_writes(tmp_path):
    """The findings' CSV written by DuckDB (COPY ... TO) is byte for byte what the Python writer
    makes of the same rows: formula starts quoted, quotes doubled, CR/LF cells quoted, empty
    text and NULL as empty cells, numbers (negative ones too) as they are, unicode as UTF-8."""
    texts = ["=HYPERLINK(\"x\")", "+cmd|' /C calc'!A0", "-3", "@SUM(A1)", "\tx", "\rx", "a,b",
             'say "hi"', "line\nbreak", "cr\rin", "", None, "é😀 ø", " spaced ", "'quoted",
             "plain", "x;y", "1,5"]
    rows = [(t, n) for t, n in zip(texts, [-3, 0, 5, None, 12345678901, *range(len(texts) - 5)])]
    outputs.write_csv(tmp_path / "py.csv", ["text", "n"], rows)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, text VARCHAR, n BIGINT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
    outputs.copy_csv(con, "SELECT text, n FROM t ORDER BY i", tmp_path / "sql.csv", ["text"])
    assert (tmp_path / "sql.csv").read_bytes() == (tmp_path / "py.csv").read_bytes()
    assert mode(tmp_path / "sql.csv") == 0o600
