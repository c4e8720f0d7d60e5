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


def _x(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}x"


def speed_table(r: dict) -> str:
    """The side-by-side table of ``benchmarks.speed`` (issue 16) for one shop size."""
    st, rt = r["stages"], r["ratios"]
    loads = [x for rd in r["rounds"] for x in [rd[k]["load_avg"] for k in rd]]
    rows = r["rows"]
    lines = [
        f"Machine: {r['machine']['cores']} cores, Python {r['machine']['python']}; a generated shop of "
        f"{r['customers']:,} customers: {rows['rows_read']:,} rows ({rows['rows_loaded']:,} loaded, "
        f"{rows['rows_rejected']:,} rejected), {r['export_mb']:,} MB in {r['files']} files; as of "
        f"{r['as_of']}; {r['findings']:,} findings. Every stage is a whole process; median of "
        f"{r['repeat']} rounds, A/B pairs in alternating order; the machine is shared: load "
        f"average (1 min) {min(loads):.1f}-{max(loads):.1f} as the stages started "
        f"({r.get('finished', '')}).",
        "",
        "| stage (whole process) | wall | CPU (user + sys) | peak RSS | wall of each round (load average) |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, key: str) -> None:
        v = st[key]
        runs = ", ".join(f"{w:.1f} s ({a:.1f})" for w, a in zip(v["walls"], v["load_avgs"]))
        lines.append(f"| {label} | {v['wall_s']:.1f} s | {v['cpu_s']:.1f} s | "
                     f"{_mb(v['peak_rss_mb'])} | {runs} |")

    a, g = st["audit"], st["gate"]
    ab, gb = a["breakdown"], g["breakdown"]
    row("floor: DuckDB reads every file once, `CREATE TABLE AS` (auto-detected types)", "floor")
    row("`privaudit load`", "load")
    row(f"`privaudit audit` (all rules)", "audit")
    lines.append(f"| - its rules' SQL (queries, population counts, rows fetched) | "
                 f"{a['rules_sql_s']:.1f} s | | | |")
    lines.append(f"| - the rest: set-up (macros, views) {ab['prepare_s']:.1f} s, masking "
                 f"{ab['masking_s']:.1f} s, storing the run {ab['store_s']:.1f} s, output files "
                 f"{ab['outputs_s']:.1f} s, imports {ab['cli_import_s']:.1f} s | "
                 f"{a['wall_s'] - a['rules_sql_s']:.1f} s | | | |")
    row("`privaudit gate`", "gate")
    lines.append(f"| - DuckDB answering Great Expectations' queries | {gb['duckdb_for_gx_s']:.1f} s | | | |")
    lines.append(f"| - Great Expectations' own overhead (of which its import {gb['gx_import_s']:.1f} s) | "
                 f"{gb['gx_own_s']:.1f} s | | | |")
    if "rule_queries_s" in gb:
        lines.append(f"| - the rule queries, run once for GX | {gb['rule_queries_s']:.1f} s | | | |")
        rest = "start-up, suites, results"
    else:       # measured before the probe timed them: they are in the rest
        rest = "the rule queries (run once), start-up, suites, results"
    lines.append(f"| - set-up (macros, views, free-text scan) {gb['prepare_and_setups_s']:.1f} s; "
                 f"{rest} {gb['rest_s']:.1f} s | | | | |")
    row("`privaudit audit --rules` the five reference rules", "audit5")
    p = r["rounds"][0]["pandas5"]["result"]
    row(f"pandas reference, the five rules from the files (pyarrow; reading "
        f"{p['read_seconds']:.1f} s, rules {p['rules_seconds']:.1f} s in round 1)", "pandas5")
    lines += ["", "| goal (issue 16) | measured (wall) | CPU | goal | holds | where the time goes "
                  "(this run, wall) and the next lever |", "|---|---|---|---|---|---|"]
    why = gaps(r)
    for key, v in rt.items():
        sign = "at most" if v["at_most"] else "at least"
        holds = {True: "yes", False: "**no**", None: ""}[v["holds"]]
        lines.append(f"| {v['label']} | {_x(v['wall'])} | {_x(v['cpu'])} | {sign} {v['goal']}x | "
                     f"{holds} | {why.get(key, '')} |")
    peak = {k: st[k]["peak_rss_mb"] for k in ("load", "audit", "gate")}
    ok = all(x <= r["rss_goal_mb"] for x in peak.values())
    top = max(peak, key=peak.get)
    lines.append(f"| peak RSS of load, audit, gate | " + " / ".join(_mb(x) for x in peak.values())
                 + f" | | at most {r['rss_goal_mb']:,} MB | {'yes' if ok else '**no**'} | "
                 f"highest: {top} (DuckDB's pool is 70 % of `PRIVAUDIT_MEMORY_LIMIT`) |")
    lines += ["", f"The audit's and the pandas reference's finding counts of the five rules agree: "
                  f"**{r['pandas_agrees']}** ({', '.join(f'{k} {v:,}' for k, v in r['audit_violations'].items())})."]
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


def spark_table(r: dict) -> str:
    """benchmarks.spark: both engines' audit per shop size, and the fitted cost model."""
    lines = [f"Master `{r['master']}` on {r['cores']} cores; each audit a whole `privaudit audit` "
             f"process (Spark's includes starting the JVM and its session).", "",
             "| customers | rows | DuckDB audit | Spark audit | Spark / DuckDB | Spark CPU | "
             "Spark peak RSS | rules on both | findings |", "|---|---|---|---|---|---|---|---|---|"]
    for s in r["sizes"]:
        d, k = s["stages"]["audit_duckdb"], s["stages"]["audit_spark"]
        lines.append(f"| {s['customers']:,} | {s['rows']:,} | {d['wall_s']:.1f} s | {k['wall_s']:.1f} s "
                     f"| {k['wall_s'] / d['wall_s']:.1f}x | {k['cpu_s']:.1f} s | {_mb(k['peak_rss_mb'])} "
                     f"| {s['rules_both']} | {s['findings_both']:,} |")
    m = r.get("model") or {}
    if m.get("spark") and m.get("duckdb"):
        lines += ["", f"Fitted on the two sizes (time = fixed + per customer): Spark "
                      f"**{m['spark']['fixed_s']:.1f} s fixed + {m['spark']['per_100k_customers_s']:.1f} s "
                      f"per 100k customers**; DuckDB {m['duckdb']['fixed_s']:.1f} s + "
                      f"{m['duckdb']['per_100k_customers_s']:.1f} s per 100k customers."]
    return "\n".join(lines)


#: the next lever of each goal (engineering judgement, next to the measured breakdown)
NEXT = {
    "load_vs_floor": "type the columns straight from the reader when a file has no unreadable "
                     "record (the typed copy and the insert are most of the typing), JSON Lines "
                     "staged with keys, shape and nesting from one parse, the byte pass in a "
                     "thread beside DuckDB",
    "audit_vs_sql": "the extra-column profile kept with the load it describes (once per load, "
                    "not per audit and gate); imports",
    "load_audit_vs_floor": "the load's levers (above)",
    "gate_vs_audit": "fixed costs (GX's import and its own work) shrink against the rule queries "
                     "as the shop grows; `privaudit run` handing the gate the audit's rule rows",
    "pandas_vs_audit5": "the five-rule audit is mostly start-up and set-up at this size: the "
                        "profile kept with the load, the working-day table built in SQL",
}


def gaps(r: dict) -> dict[str, str]:
    """Per goal: the measured breakdown of the stage that decides it, and the next lever."""
    st = r["stages"]
    out = {}
    lb = st["load"].get("breakdown")
    if lb:
        out["load_vs_floor"] = (
            f"load {st['load']['wall_s']:.1f} s against {st['floor']['wall_s']:.1f} s: byte pass "
            f"(hashes, encodings, framing) {lb['byte_pass_s']:.1f} s, staging (DuckDB reads, "
            f"JSON key, shape and number passes) {lb['staging_s']:.1f} s, typing, checks and "
            f"insert {lb['typing_checks_insert_s']:.1f} s, commit {lb['commit_s']:.1f} s")
    ab = st["audit"]["breakdown"]
    prof = f" (the extra-column profile {ab['profile_s']:.1f} s)" if "profile_s" in ab else ""
    out["audit_vs_sql"] = (f"beside the rules' SQL {ab['rules_sql_s']:.1f} s: set-up "
                           f"{ab['prepare_s']:.1f} s{prof}, imports {ab['cli_import_s']:.1f} s, "
                           f"masking, storing and files {ab['masking_s'] + ab['store_s'] + ab['outputs_s']:.1f} s")
    out["load_audit_vs_floor"] = (f"load {st['load']['wall_s']:.1f} s + audit "
                                  f"{st['audit']['wall_s']:.1f} s against {st['floor']['wall_s']:.1f} s")
    gb = st["gate"]["breakdown"]
    queries = (f"the rule queries {gb['rule_queries_s']:.1f} s" if "rule_queries_s" in gb else
               f"the rule queries with start-up, suites and results {gb['rest_s']:.1f} s")
    out["gate_vs_audit"] = (f"GX's import {gb['gx_import_s']:.1f} s and own work "
                            f"{gb['gx_own_s'] - gb['gx_import_s']:.1f} s, DuckDB answering GX "
                            f"{gb['duckdb_for_gx_s']:.1f} s, {queries}, set-up (with the "
                            f"free-text scan) {gb['prepare_and_setups_s']:.1f} s")
    a5 = st["audit5"]
    if "breakdown" in a5:
        b5 = a5["breakdown"]
        out["pandas_vs_audit5"] = (f"the five-rule audit {a5['wall_s']:.1f} s: its rules' SQL "
                                   f"{b5['rules_sql_s']:.1f} s, set-up {b5['prepare_s']:.1f} s")
    for key, lever in NEXT.items():
        holds = r["ratios"].get(key, {}).get("holds")
        text = out.get(key, "")
        out[key] = text + ("" if holds else ("; next: " if text else "next: ") + lever)
    return out


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
    if (RESULTS / "spark.json").exists():
        doc = replace_block(doc, "spark", spark_table(json.loads((RESULTS / "spark.json").read_text())))
    for size in (100_000, 1_000_000):
        path = RESULTS / f"speed-{size}.json"
        if path.exists():
            doc = replace_block(doc, f"speed-{size}", speed_table(json.loads(path.read_text())))
    DOC.write_text(doc, encoding="utf-8")
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
