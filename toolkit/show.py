"""Showing an audit run inside a notebook (``from toolkit import show``).

The display half of the notebook API: the run banner and rule table (:func:`banner`), one
rule's clause, numbers and timing charts (:func:`rule`), masked examples (:func:`examples`),
bar charts of a breakdown (:func:`counts`) and any matplotlib figure with alternative text
(:func:`figure`). The figures themselves come from ``toolkit.analysis``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .analysis import (AuditRun, by_record_month, examples as example_rows, onset_by_month,
                       overdue_buckets, record_label, rule_headline, rule_table)


def _display(obj) -> None:
    from IPython.display import display
    display(obj)


def _md(text: str) -> None:
    from IPython.display import Markdown
    _display(Markdown(text))


def banner(run: AuditRun, rule_ids: Iterable[str] | None = None) -> "Any":
    """The run banner (which run, as of when, which policy, masked or revealed) and rule table."""
    lines = [f"**Audit run** `{run.run_id}` ({run.source}) · **as of** {run.as_of_date} · "
             f"**policy** {Path(run.policy.source).name or 'default'} "
             f"(sha256 {run.policy.sha256[:12]}) · toolkit {__version__}"]
    if run.revealed:
        lines.append("> **REVEALED**: evidence below is *not* masked. Authorised investigation "
                     "only; do not share this notebook or its HTML.")
    else:
        lines.append("Evidence is masked (contract section 6); names and free text never appear.")
    lines.extend(f"> Note: {n}" for n in run.notes)
    _md("\n\n".join(lines))
    table = rule_table(run, rule_ids)
    if len(table):
        _display(table)
    return table


def _esc_md(s: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|$])", r"\\\1", s or "")


def rule(run: AuditRun, rule_id: str, plots: bool = True) -> "Any":
    """Statement clause, basis, headline numbers and the age and onset plots of one rule.
    Returns the rule's findings (masked) for the notebook's breakdowns."""
    r = run.rule(rule_id)
    h = rule_headline(run, rule_id)
    pop = "–" if h["population"] is None else f"{h['population']:,}"
    pct = "–" if h["percent"] is None else f"{h['percent']:.1f} %"
    text = [
        f"**{rule_id}** · severity **{h['severity']}** · status *{h['status']}* · statement "
        f"clause **{_esc_md(r.get('clause'))}** · basis: {_esc_md(r.get('basis'))}",
        f"> *„{_esc_md(r.get('quote'))}\"* (privacy statement, clause {_esc_md(r.get('clause'))})"
        if r.get("quote") else "",
        "| population | violations | % | excluded (hold / fiscal) | customers affected | "
        "oldest overdue (days) |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| {pop} | {h['violations']:,} | {pct} | {h['excluded']:,} | {h['customers']:,} | "
        f"{'–' if h['oldest_days_overdue'] is None else h['oldest_days_overdue']} |",
    ]
    if h["status"] == "not_evaluable":
        text.append(f"**Not evaluable**: the export lacks {_esc_md(h['missing'])} (DQ-003).")
    elif h["status"] == "error":
        text.append(f"**Error** while evaluating: {_esc_md(h['error'])}")
    elif h["status"] == "disabled":
        text.append("Disabled in the policy.")
    elif h["missing"]:
        text.append(f"Optional tables absent (not checked): {_esc_md(h['missing'])}.")
    _md("\n\n".join(t for t in text if t))
    f = run.findings_of(rule_id)
    if plots and len(f):
        timing(run, f, rule_id)
    elif h["status"] == "evaluated" and not len(f):
        _md(f"No violations of {rule_id} in this run.")
    return f


def figure(fig, alt: str | None = None) -> None:
    """Display a matplotlib figure with alternative text (its titles by default) and close it."""
    import matplotlib.pyplot as plt

    if alt is None:
        titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
        titles += [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
        alt = "; ".join(titles[:6]) or "Chart"
    _display_fig(fig, alt)
    plt.close(fig)


def _display_fig(fig, alt: str) -> None:
    from IPython.display import display
    display(fig, metadata={"image/png": {"alt": alt}})


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


def counts(values, title: str, xlabel: str = "Findings", ylabel: str = ""):
    """A horizontal bar chart of counts (a breakdown, e.g. ``an.breakdown(f, "channel")``)."""
    import matplotlib.pyplot as plt

    if values is None or len(values) == 0:
        _md(f"*{title}: nothing to show.*")
        return
    counts = values.sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(counts) + 1.2))
    ax.barh([str(i) for i in counts.index], counts.values, color="#5b7f95")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or (counts.index.name or ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    figure(fig)


def examples(run: AuditRun, rule_id: str, n: int = 10) -> None:
    """Up to ten masked examples as a table."""
    import pandas as pd

    ex = example_rows(run, rule_id, n)
    if ex.empty:
        _md(f"*No examples: {rule_id} has no findings in this run.*")
        return
    _md(f"**Examples** ({len(ex)} of {len(run.findings_of(rule_id))}, most overdue first; "
        f"{'REVEALED' if run.revealed else 'masked'} evidence)")
    with pd.option_context("display.max_colwidth", 400):
        _display(ex)
