"""The byte pass that counts records independently of DuckDB (toolkit.framing)."""

from __future__ import annotations

import random

import duckdb
import pytest

from toolkit.framing import CsvFramer, LineFramer, sanitize


def frame(data: bytes, step: int | None = None, delimiter: str = ","):
    f = CsvFramer(delimiter)
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        f.feed(data[i:i + step])
    return f.finish()


@pytest.mark.parametrize("data,records,cuts", [
    (b"a,b\n1,x\n2,y\n", 2, []),
    (b"a,b\n1,x\n2,y", 2, []),                                   # no final line end
    (b'a,b\n1,"x\ny"\n2,y\n', 2, []),                            # a quoted line break
    (b"a,b\n1,x\n\n\n2,y\n\n", 2, []),                           # blank lines are skipped ...
    (b"a\n1\n\n2\n", 3, []),                                     # ... but not in one column
    (b'a,b\n1,Tafel 5" breed\n2,y\n', 2, []),                    # a quote inside a value
    (b'a,b\n1, "x\ny"\n2,y\n', 2, []),                           # one space, then a quote
    (b'a,b\n1,  "x\ny",2\n', 2, []),                             # two spaces: a plain quote
    (b'a,b\n1,"a"  "b\nc"\n2,y\n', 2, []),                       # reopened after spaces
    (b'a,b\n1,"x\n2,y\n', 0, ["unclosed"]),                      # never closed: cut
    (b'a,b\n1,"a"x,y\n2,y\n', 2, ["bad_quote"]),                 # text after a closing quote
    (b"a,b\n1,x\ry\n2,y\n", 2, ["bare_cr"]),
    (b'a,b\n1,"x\ry"\n2,y\n', 2, []),                            # a CR inside quotes is text
    (b"\n\na,b\n1,x\n", 1, ["blank", "blank"]),                  # blank lines before the header
    (b'\xef\xbb\xbf"a",b\n"1",x\n', 1, []),                      # a BOM is not data
])
def test_records_and_cuts(data, records, cuts):
    for step in (None, 1, 2, 3, 5):
        f = frame(data, step)
        assert f.records == records, step
        assert [c.kind for c in f.cuts] == cuts, step


def test_line_ends_and_flags():
    assert frame(b"a,b\r\n1,x\r\n").mixed_line_ends is False
    assert frame(b"a,b\r\n1,x\n2,y\r\n").mixed_line_ends is True
    assert frame(b"a,b\n1,x\n2,y\r").mixed_line_ends is True     # a final CR in an LF file
    assert frame(b"a,b\r1,x\r").cr_only is True
    f = frame(b'a,b\r\n1,"x\ny"\r\n')                             # Excel: LF inside, CRLF after
    assert (f.records, f.mixed_line_ends) == (1, False)
    assert frame(b"a,b\n1,x\x00y\n").nul and frame(b"a,b\n1,\xef\xbb\xbfx\n").bom_inside
    assert not frame(b"\xef\xbb\xbfa,b\n1,x\n").bom_inside
    assert [(int(m[0]), int(m[3]), int(m[4])) for m in frame(b'a,b\n1,"x\ny\nz"\n2,y\n').multi] == [
        (2, 2, 3)]                                                 # logical line, line, lines


def test_an_over_long_record_is_cut(monkeypatch):
    data = b"a,b\n1,x\n2," + b"y" * 5000 + b"\n3,z\n"
    f = CsvFramer(",", max_record=1000)
    f.feed(data)
    fr = f.finish()
    assert fr.records == 3 and [(c.kind, c.line) for c in fr.cuts] == [("oversize", 3)]
    lf = LineFramer(max_record=1000)
    lf.feed(b'{"a": 1}\n{"a": "' + b"y" * 5000 + b'"}\n{"a": 3}')
    assert [(c.kind, c.line) for c in lf.finish().cuts] == [("oversize", 2)]


def test_sanitize_cuts_and_normalises(tmp_path):
    src, out = tmp_path / "a.csv", tmp_path / "b.csv"
    src.write_bytes(b'a,b\r\n1,x\n2,"y"z\r\n3,w\r\n4,"never\r\nclosed\n')
    fr = frame(src.read_bytes())
    assert fr.mixed_line_ends and [c.kind for c in fr.cuts] == ["bad_quote", "unclosed"]
    fr2, rows = sanitize(src, out, fr, CsvFramer(","))
    assert out.read_bytes() == b"a,b\n1,x\n3,w\n"
    assert fr2.records == 2 and not fr2.cuts and not fr2.mixed_line_ends
    assert [(r.before, r.line, r.reason, r.raw) for r in rows] == [
        (1, 3, "unreadable record: text after a closing quote", '2,"y"z'),
        (2, 5, "unreadable record: a quote in it is never closed", '4,"never'),
        (2, 6, "unreadable record: inside the unclosed quote of the record on line 5", "closed")]
    assert rows[0].raw_bytes == len(b'2,"y"z')


def _duckdb_records(con, path) -> int:
    con.execute("DROP TABLE IF EXISTS e; DROP TABLE IF EXISTS s")
    good = len(con.execute(
        "SELECT * FROM read_csv($p, header = true, delim = ',', quote = '\"', escape = '\"', "
        "auto_detect = false, columns = {'s0': 'VARCHAR', 's1': 'VARCHAR', 's2': 'VARCHAR'}, "
        "store_rejects = true, rejects_table = 'e', rejects_scan = 's', strict_mode = true, "
        "null_padding = false)", {"p": str(path)}).fetchall())
    try:
        return good + con.execute("SELECT count(DISTINCT line) FROM e").fetchone()[0]
    except duckdb.CatalogException:      # no rejects table when nothing was rejected
        return good


def test_the_count_agrees_with_duckdb_on_random_hostile_files(tmp_path):
    """Random files of quotes, delimiters, spaces and line ends: wherever nothing is cut, the
    framer counts exactly the records DuckDB's reader finds, however the bytes are chunked."""
    rnd = random.Random(12)
    alphabet = ["a", "b", ",", ",", '"', '"', "\n", "\n", " ", "x y", '""']
    con = duckdb.connect()
    compared = 0
    for _ in range(300):
        body = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40)))
        data = ("a,b,c\n" + body).encode()
        whole = frame(data)
        assert (whole.records, [c.kind for c in whole.cuts]) == (
            frame(data, rnd.randint(1, 7)).records, [c.kind for c in frame(data, 3).cuts])
        if whole.cuts:
            continue
        path = tmp_path / "f.csv"
        path.write_bytes(data)
        assert _duckdb_records(con, path) == whole.records, data
        compared += 1
    assert compared > 60
