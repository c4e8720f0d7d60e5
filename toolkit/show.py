"""Showing an audit run inside a notebook (``from toolkit import show``).

The display half of the notebook API: the run banner and rule table (:func:`banner`), one
rule's clause, numbers and timing charts (:func:`rule`), masked examples (:func:`examples`),
tables (:func:`table`: no row numbers, text left and numbers right, dates on one line, a
missing value always "–"), bar charts of a breakdown (:func:`counts`), any matplotlib figure
with alternative text (:func:`figure`) and text (:func:`markdown`). The figures themselves come
from ``toolkit.analysis``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .analysis import (MISSING, AuditRun, by_record_month, examples as example_rows,
                       notebook_rules, onset_by_month, overdue_buckets, record_label,
                       rule_headline, rule_table)

#: text columns longer than this wrap; everything else stays on one line
WRAP_AFTER = 40

#: a column of whole numbers whose name says it holds years: shown as labels (left, no separator)
YEAR_LABEL = re.compile(r"\byear\b", re.I)


def _display(obj) -> None:
    from IPython.display import display
    display(obj)


def markdown(text: str) -> None:
    """Show Markdown text."""
    from IPython.display import Markdown
    _display(Markdown(text))


def _esc_md(s: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|$])", r"\\\1", s or "")


# ---------------------------------------------------------------- tables

def _frame(data):
    """A DataFrame whose index, when it means something (a rule id, a table name), is its first
    column; a plain 0, 1, 2, ... index is dropped."""
    import pandas as pd

    df = data.to_frame() if isinstance(data, pd.Series) else data.copy()
    meaningful = not isinstance(df.index, pd.RangeIndex) or any(df.index.names)
    df = df.reset_index() if meaningful else df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    return df


def styled(data):
    """``data`` (a DataFrame or Series) as a pandas Styler: no row numbers, numbers right-aligned
    with thousands separators, text (and years) left-aligned, short values and dates on one
    line, a missing value "–"."""
    import pandas as pd

    df = _frame(data)
    # a year (a column named "year", "fiscal year placed") is a label, not a quantity: 2017,
    # not 2,017
    numeric = [c for c in df.columns
               if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               and not (pd.api.types.is_integer_dtype(df[c]) and YEAR_LABEL.search(c))]
    text = [c for c in df.columns if c not in numeric]
    wide = [c for c in text if df[c].astype(str).str.len().max() > WRAP_AFTER] if len(df) else []
    sty = (df.style.hide(axis="index")
           .format(na_rep=MISSING, thousands=",", precision=1)
           .format(lambda v: MISSING if v is None or v is pd.NaT else
                   (v.date().isoformat() if isinstance(v, pd.Timestamp) and v == v.normalize()
                    else str(v)), subset=text, na_rep=MISSING))
    ints = [c for c in numeric if pd.api.types.is_integer_dtype(df[c])]
    if ints:
        sty = sty.format("{:,}", subset=ints, na_rep=MISSING)
    styles = [{"selector": "th", "props": "text-align: left; white-space: nowrap;"},
              {"selector": "td", "props": "vertical-align: top;"}]
    for i, c in enumerate(df.columns):
        align = "right" if c in numeric else "left"
        styles.append({"selector": f"th.col_heading.col{i}", "props": f"text-align: {align};"})
    sty = sty.set_table_styles(styles)
    if numeric:
        sty = sty.set_properties(subset=numeric, **{"text-align": "right",
                                                    "font-variant-numeric": "tabular-nums",
                                                    "white-space": "nowrap"})
    narrow = [c for c in text if c not in wide]
    if narrow:
        sty = sty.set_properties(subset=narrow, **{"text-align": "left", "white-space": "nowrap"})
    if wide:
        sty = sty.set_properties(subset=wide, **{"text-align": "left", "min-width": "20em"})
    return sty


def table(data, caption: str | None = None) -> None:
    """Show a DataFrame or Series as a finished table (see :func:`styled`); ``caption`` above."""
    from IPython.display import display

    if caption:
        markdown(f"**{caption}**")
    if data is None or len(data) == 0:
        markdown(f"*{MISSING} nothing to show.*")
        return
    sty = styled(data)
    display({"text/html": sty.to_html(),
             "text/plain": _frame(data).to_string(index=False, na_rep=MISSING)}, raw=True)


# ---------------------------------------------------------------- the run and a rule

def banner(run: AuditRun, rule_ids: Iterable[str] | None = None,
           notebook: str | None = None) -> "Any":
    """The run banner (which run, as of when, which policy, masked or revealed) and the rule
    table; with ``notebook``, the rules of its families that it does not present."""
    lines = [f"**Audit run** `{run.run_id}` ({run.source}) · **as of** {run.as_of_date} · "
             f"**policy** {Path(run.policy.source).name or 'default'} "
             f"(sha256 {run.policy.sha256[:12]}) · privaudit {__version__}"]
    if run.revealed:
        lines.append("> **REVEALED**: evidence below is *not* masked. Authorised investigation "
                     "only; do not share this notebook or its HTML.")
    else:
        lines.append("Evidence is masked: e-mail addresses, phone and card numbers, BSNs and IBANs "
                     "are partly hidden; names and message texts never appear.")
    lines.extend(f"> Note: {n}" for n in run.notes)
    markdown("\n\n".join(lines))
    rules = rule_table(run, rule_ids)
    if rule_ids is None or list(rule_ids):
        table(rules)
    if notebook is not None and rule_ids is not None:
        others = sorted(set(notebook_rules(notebook, run.policy)) - set(rule_ids))
        if others:
            markdown(f"**Rules of this family not presented here:** {', '.join(others)}")
    return rules


def rule(run: AuditRun, rule_id: str, plots: bool = True) -> "Any":
    """Statement clause, basis, headline numbers and the age and onset plots of one rule.
    Returns the rule's findings (masked) for the notebook's breakdowns."""
    r = run.rule(rule_id)
    h = rule_headline(run, rule_id)
    pop = MISSING if h["population"] is None else f"{h['population']:,}"
    pct = MISSING if h["percent"] is None else f"{h['percent']:.1f} %"
    oldest = MISSING if h["oldest_days_overdue"] is None else f"{h['oldest_days_overdue']:,}"
    text = [
        f"**{rule_id}** · severity **{h['severity']}** · {h['status'].replace('_', ' ')} · "
        f"privacy statement clause **{_esc_md(r.get('clause'))}** · basis: "
        f"{_esc_md(r.get('basis'))}",
        f"> *„{_esc_md(r.get('quote'))}\"* (privacy statement, clause {_esc_md(r.get('clause'))})"
        if r.get("quote") else "",
        "| population | violations | % | excluded (hold / fiscal) | customers affected | "
        "oldest overdue (days) |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| {pop} | {h['violations']:,} | {pct} | {h['excluded']:,} | {h['customers']:,} | "
        f"{oldest} |",
    ]
    if h["status"] == "not_evaluable":
        text.append(f"**Not evaluable**: the export lacks {_esc_md(h['missing'])}.")
    elif h["status"] == "error":
        text.append(f"**Error** while evaluating: {_esc_md(h['error'])}")
    elif h["status"] == "disabled":
        text.append("Switched off in the policy.")
    elif h["missing"]:
        text.append(f"Optional tables absent (not checked): {_esc_md(h['missing'])}.")
    markdown("\n\n".join(t for t in text if t))
    f = run.findings_of(rule_id)
    if plots and len(f):
        timing(run, f, rule_id)
    elif h["status"] == "evaluated" and not len(f):
        markdown(f"No violations of {rule_id} in this run.")
    return f


def examples(run: AuditRun, rule_id: str, n: int = 10) -> None:
    """Up to ten masked examples as a table."""
    ex = example_rows(run, rule_id, n)
    if ex.empty:
        markdown(f"*No examples: {rule_id} has no findings in this run.*")
        return
    ex = ex.rename(columns={"subject_table": "table", "subject_id": "record",
                            "customer_id": "customer", "due_date": "due",
                            "days_overdue": "days overdue"})
    table(ex, f"Examples ({len(ex)} of {len(run.findings_of(rule_id))}, most overdue first; "
              f"{'REVEALED' if run.revealed else 'masked'} evidence)")


# ---------------------------------------------------------------- charts

def figure(fig, alt: str | None = None) -> None:
    """Display a matplotlib figure as a PNG with alternative text (its titles by default) and
    close it. The figure is drawn once, as laid out (``fig.tight_layout()``), not a second time
    to crop it as IPython's default display does."""
    import base64
    import io

    import matplotlib.pyplot as plt
    from IPython.display import display

    if alt is None:
        titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
        titles += [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
        alt = "; ".join(titles[:6]) or "Chart"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    plt.close(fig)
    display({"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": alt},
            metadata={"image/png": {"alt": alt}}, raw=True)


def _month_bars(ax, trend, title: str, xlabel: str, color: str) -> None:
    ax.bar(range(len(trend)), trend.values, color=color)
    step = max(1, -(-len(trend) // 12))
    ax.set_xticks(range(0, len(trend), step))
    ax.set_xticklabels(list(trend.index)[::step], rotation=45, ha="right", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Findings")


def timing(run: AuditRun, findings, rule_id: str) -> None:
    """Days-overdue histogram and onset trend (when the rule has due dates) and the trend by
    month of the record itself."""
    import matplotlib.pyplot as plt

    has_due = bool(findings["due_date"].notna().any())
    created = by_record_month(run, findings)
    panels = (2 if has_due else 0) + (1 if len(created) else 0)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(4.8 * panels + 0.6, 3.4), squeeze=False)
    axes = list(axes[0])
    if has_due:
        b = overdue_buckets(findings)
        ax = axes.pop(0)
        ax.bar(b.index, b.values, color="#c0392b")
        ax.set_title(f"{rule_id}: how long overdue")
        ax.set_xlabel("Days past the due date")
        ax.set_ylabel("Findings")
        ax.tick_params(axis="x", labelsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax = axes.pop(0)
        _month_bars(ax, onset_by_month(findings), f"{rule_id}: onset by month",
                    "Month of the due date (onset)", "#2c7fb8")
        ax.yaxis.get_major_locator().set_params(integer=True)
    if len(created):
        ax = axes.pop(0)
        _month_bars(ax, created, f"{rule_id}: by month of the record", record_label(findings),
                    "#5b7f95")
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    figure(fig)


#: a breakdown with fewer values than this is a small table, not a chart
CHART_FROM = 3


def counts(values, title: str, xlabel: str = "Findings", ylabel: str = ""):
    """A horizontal bar chart of counts (a breakdown, e.g. ``an.breakdown(f, "channel")``);
    one or two values are shown as a small table instead (a chart would add nothing)."""
    import matplotlib.pyplot as plt

    if values is None or len(values) == 0:
        markdown(f"*{title}: nothing to show.*")
        return
    if len(values) < CHART_FROM:
        label = ylabel or values.index.name or "value"
        table(values.rename(xlabel).rename_axis(label).reset_index(), title)
        return
    values = values.sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(values) + 1.2))
    ax.barh([str(i) for i in values.index], values.values, color="#5b7f95")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or (values.index.name or ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    figure(fig)
