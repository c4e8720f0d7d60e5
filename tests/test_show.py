"""Showing things in a notebook (toolkit.show): finished tables without a kernel."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from toolkit import show


def test_tables_have_no_row_numbers_and_one_spelling_for_missing():
    df = pd.DataFrame({"rule": ["RET-001", "SEC-001"], "title": ["Inactive customers purged", None],
                       "violations": pd.array([1234, None], dtype="Int64"),
                       "%": [12.345, None], "due": [date(2026, 1, 31), None]})
    html = show.styled(df).to_html()
    assert "row_heading" not in html and ">0<" not in html        # no 0-based index
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html)
    assert cells == ["RET-001", "Inactive customers purged", "1,234", "12.3", "2026-01-31",
                     "SEC-001", "–", "–", "–", "–"]
    assert "None" not in html and "nan" not in html.lower().replace("nanoseconds", "")


def test_alignment_and_dates_on_one_line():
    df = pd.DataFrame({"text": ["a" * 60], "short": ["x"], "n": [3], "when": [date(2026, 1, 31)]})
    css = show.styled(df).to_html()
    # numbers right, text left; short values and dates do not wrap, long text does
    assert re.search(r"text-align: right;[^}]*white-space: nowrap", css)
    nowrap = set()
    for selectors, props in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if "white-space: nowrap" in props:
            nowrap |= set(re.findall(r"_row0_col(\d)", selectors))
    assert nowrap == {"1", "2", "3"}


def test_a_meaningful_index_becomes_the_first_column():
    s = pd.Series({"visits": 44, "customers": 10}, name="rows").rename_axis("table")
    html = show.styled(s).to_html()
    assert re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>(.*?)</th>', html) == ["table", "rows"]
    m = pd.crosstab(pd.Series(["a", "b"], name="method"), pd.Series(["x", "x"], name="type"))
    assert re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>(.*?)</th>',
                      show.styled(m).to_html()) == ["method", "x"]


def test_a_year_is_a_label_not_a_quantity():
    years = pd.Series([2017, 2018], name="fiscal year placed")
    s = pd.Series([1, 2345], index=years, name="orders past the ceiling")
    html = show.styled(s).to_html()
    assert re.findall(r"<td[^>]*>(.*?)</td>", html) == ["2017", "1", "2018", "2,345"]
    css = dict((sel.strip(), props) for sel, props in re.findall(r"([^{}]+)\{([^}]*)\}", html))
    left = [sel for sel, props in css.items() if "text-align: left" in props]
    assert any("_row0_col0" in sel for sel in left) and not any("_row0_col1" in sel for sel in left)
    # a count of years is a quantity
    assert "1,234" in show.styled(pd.DataFrame({"years kept": [1234]})).to_html()
