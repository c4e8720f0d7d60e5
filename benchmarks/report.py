"""Turn benchmarks/results/*.json into the tables of docs/benchmarks.md.

    python -m benchmarks.report

The figures between the ``<!-- bench:... -->`` markers of docs/benchmarks.md are rewritten from
the latest results; the prose around them is kept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "benchmarks.md"


def _mb(x: float) -> str:
    return f"{x:,.0f} MB"


def _runs_note(r: dict) -> str:
    """Which run the table shows and how loaded the shared machine was (older results lack it)."""
    if "runs" not in r:
        return ""
    note = f" Median of {r['repeat']} runs per stage"
    if r.get("load_before"):
        note += ("; load average (1 min) as each round started: "
                 + ", ".join(f"{x:.1f}" for x in r["load_before"]))
    return note + "."


def free_text_table(r: dict) -> str:
    t, d, p = r["toolkit"], r["toolkit_detection"], r["presidio"]
    lines = [
        f"Machine: {r['machine']['cores']} cores, Python {r['machine']['python']}; "
        f"hit rate {r.get('hit_rate', 1.0)}: {r['messages']:,} messages ({r['planted_cards']:,} planted cards, "
        f"{r['planted_ibans']:,} planted IBANs); Presidio on the first {r['presidio_sample']:,}."
        + _runs_note(r),
        "",
        "| | messages | scan time | messages/s | process wall | CPU | peak RSS | card recall | IBAN recall |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| toolkit, detection (SQL, hits fetched) | {r['messages']:,} | {d['scan_s']:.2f} s | "
        f"{d['messages_per_s']:,} | {d['wall_s']:.2f} s | {d['cpu_s']:.2f} s | {_mb(d['peak_rss_mb'])} | "
        f"{t['recall_cards_all']:.0%} | {t['recall_ibans_all']:.0%} |",
        f"| toolkit, end to end (masked findings) | {r['messages']:,} | {t['scan_s']:.2f} s | "
        f"{t['messages_per_s']:,} | {t['wall_s']:.2f} s | {t['cpu_s']:.2f} s | {_mb(t['peak_rss_mb'])} | "
        f"{t['recall_cards_sample']:.0%} (sample) | {t['recall_ibans_sample']:.0%} (sample) |",
        f"| Presidio pattern recognizers | {r['presidio_sample']:,} | {p['scan_s']:.2f} s | "
        f"{p['messages_per_s']:,} | {p['wall_s']:.2f} s | {p['cpu_s']:.2f} s | {_mb(p['peak_rss_mb'])} | "
        f"{p['recall_cards_sample']:.0%} | {p['recall_ibans_sample']:.0%} |",
        "",
        f"Speed-up over Presidio: **{r['speedup_detection']}x** (detection), "
        f"**{r['speedup_end_to_end']}x** (end to end).",
    ]
    return "\n".join(lines)


def scale_table(r: dict) -> str:
    lines = [f"Machine: {r['machine']['cores']} cores, Python {r['machine']['python']}; as of {r['as_of']}.", ""]
    for s in r["sizes"]:
        st = s["stages"]
        lines += [f"### {s['customers']:,} customers: {s['rows']:,} rows, {s['export_mb']:,} MB of exports", "",
                  "| stage | wall | CPU | peak RSS | rows/s |", "|---|---|---|---|---|"]
        for key, label in (("floor", "floor: DuckDB count(*) of every file"),
                           ("duckdb_ctas", "reference: DuckDB CREATE TABLE AS, auto-detected types"),
                           ("load", "load"),
                           ("audit", "audit (25 rules)"), ("audit_five", "audit (5 rules)"),
                           ("pandas_five", "pandas reference (5 rules)"), ("gate", "gate"),
                           ("report", "report")):
            if key not in st:
                continue
            v = st[key]
            rps = f"{s['rows'] / v['wall_s']:,.0f}" if key in ("floor", "duckdb_ctas", "load") else ""
            lines.append(f"| {label} | {v['wall_s']:.1f} s | {v['cpu_s']:.1f} s | {_mb(v['peak_rss_mb'])} | {rps} |")
        la = st["load"]["wall_s"] + st["audit"]["wall_s"]
        lines.append("")
        lines.append(f"- load + audit = {la:.1f} s = **{la / st['floor']['wall_s']:.1f}x the floor** (target 3x)")
        if "duckdb_ctas" in st:
            lines.append(f"- load alone = {st['load']['wall_s'] / st['duckdb_ctas']['wall_s']:.1f}x "
                         f"DuckDB's own CREATE TABLE AS of the same files")
        if "pandas_five" in st:
            p = st["pandas_five"]
            pr = p["result"]
            ours = st["audit_five"]
            lines.append(f"- audit of the five rules {ours['wall_s']:.1f} s against pandas {p['wall_s']:.1f} s "
                         f"(of which reading the tables {pr['read_seconds']:.1f} s, the rules "
                         f"{pr['rules_seconds']:.1f} s): **{p['wall_s'] / ours['wall_s']:.1f}x** faster "
                         f"(target 20x); counts agree: {s.get('pandas_agrees')}")
        lines.append("")
    if len(r["sizes"]) >= 2:
        lines.append("Growth (time ratio per 10x data, target at most 12x):")
        lines.append("")
        for a, b in zip(r["sizes"], r["sizes"][1:]):
            for key in ("load", "audit"):
                ratio = b["stages"][key]["wall_s"] / a["stages"][key]["wall_s"]
                lines.append(f"- {key} {a['customers']:,} -> {b['customers']:,}: {ratio:.1f}x")
        lines.append("")
    return "\n".join(lines)


def report_speed_table(r: dict) -> str:
    runs = r["runs"]
    walls = sorted(x["wall_s"] for x in runs)
    tl = r["timeline"]
    audit_done = next((t for m, t in tl["marks"] if m.startswith("notebooks 0/")), None)
    lines = [
        f"Machine: {r['machine']['cores']} cores, Python {r['machine']['python']}; the demo shop "
        f"({r['customers']} customers) as of {r['as_of']}; {tl['kernels']} warm kernels. The "
        f"machine is shared: the load average when each run started is given.",
        "",
        "| `privaudit report`, whole process | wall | CPU (command and kernels) | load average |",
        "|---|---|---|---|",
    ]
    for i, x in enumerate(runs, 1):
        lines.append(f"| run {i} | {x['wall_s']:.1f} s | {x['cpu_s']:.1f} s | {x['load_before']:.1f} |")
    lines += ["", f"Median wall time **{walls[len(walls) // 2]:.1f} s** (goal: at most 15 s).", "",
              "Where one report's time goes (seconds since the start, one run in a fresh process):",
              "", "| moment | s |", "|---|---|"]
    if audit_done is not None:
        lines.append(f"| audit done, run opened (kernels starting meanwhile) | {audit_done:.1f} |")
    for m, t in tl["marks"]:
        if m.endswith(" done") and not m.startswith("notebooks"):
            own = tl["notebook_seconds"].get(m[:-5])
            lines.append(f"| {m} (its own execution {own:.1f} s) | {t:.1f} |")
    lines.append(f"| front page written | {tl['total_s']:.1f} |")
    c = r["cold"]
    lines += ["", f"For comparison, every notebook in a kernel of its own, two side by side (the "
                  f"report before warm kernels): **{c['wall_s']:.1f} s** in a fresh process.", ""]
    return "\n".join(lines)


def replace_block(doc: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- bench:{name}:begin -->\n).*?(<!-- bench:{name}:end -->)", re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{DOC}: no bench:{name} markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), doc)


def main() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name in ("free_text", "free_text_sparse"):
        if (RESULTS / f"{name}.json").exists():
            doc = replace_block(doc, name, free_text_table(json.loads((RESULTS / f"{name}.json").read_text())))
    if (RESULTS / "report_speed.json").exists():
        doc = replace_block(doc, "report_speed",
                            report_speed_table(json.loads((RESULTS / "report_speed.json").read_text())))
    if (RESULTS / "scale.json").exists():
        doc = replace_block(doc, "scale", scale_table(json.loads((RESULTS / "scale.json").read_text())))
    DOC.write_text(doc, encoding="utf-8")
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
