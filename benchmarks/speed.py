"""Speed (issue 16): load, audit and gate next to DuckDB's own floor and a fair pandas script.

    python -m benchmarks.speed [--customers 100000] [--repeat 3] [--workdir DIR]

On one generated shop (cached in benchmarks/cache/), side by side in one run, every stage a whole
process started from here (``privaudit`` commands exactly as a user runs them, through
``benchmarks.probe`` for the breakdown of where their time goes):

- **floor**: DuckDB reads every export file once and stores it (``CREATE TABLE AS`` with
  auto-detected types; no checks) in a fresh process;
- ``privaudit load``; ``privaudit audit`` (all rules; its rules' SQL time from its manifest);
  ``privaudit gate`` (the time DuckDB spends answering Great Expectations' queries and GX's own
  overhead measured inside it);
- ``privaudit audit --rules`` of the five reference rules against ``benchmarks.pandas_reference``
  (pyarrow, vectorised) reading the same files; their finding counts must agree.

Wall time, CPU time (user + system of the whole process and its threads: DuckDB works on every
core) and peak RSS (the process's own, from ``wait4``) per stage. The machine is shared, so the
stages run as A/B pairs in alternating order, ``--repeat`` rounds, with the load average noted as
each stage starts; the table shows medians (of each stage and of each round's ratios).

Writes benchmarks/results/speed-CUSTOMERS.json; ``python -m benchmarks.report`` turns it into the
table of docs/benchmarks.md. This driver imports neither DuckDB nor pandas: a child's peak RSS
must not inherit the parent's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / "cache"
RESULTS = HERE / "results"
AS_OF = "2026-10-31"
FIVE = "RET-001,SHR-002,NWS-001,NWS-003,DSR-001"
PY = sys.executable

# where the time goes: functions timed inside the commands (absent ones are skipped)
AUDIT_TIMERS = ["toolkit.findings:prepare", "toolkit.personal_data:install", "toolkit.findings:run_rule",
                "toolkit.findings:mask_evidence", "toolkit.findings:_store",
                "toolkit.findings:write_outputs"]
GATE_TIMERS = ["toolkit.findings:prepare", "toolkit.gate:_SetUp.__call__",
               "toolkit.gate:_RuleRows.prepare", "toolkit.gate:_RuleRows.run",
               "toolkit.gate:DuckDBGX.__init__", "toolkit.gate:_run_suites",
               "toolkit.gate:write_junit", "toolkit.gate:write_docs"]
LOAD_TIMERS = ["toolkit.ingest:load", "toolkit.ingest:inspect", "toolkit.ingest:stage",
               "toolkit.ingest:_load_one", "toolkit.ingest:_Target.commit"]

# the goals of issue 16: (key, label, goal, at most (True) or at least (False))
GOALS = [("load_vs_floor", "load / floor (DuckDB CREATE TABLE AS)", 1.5, True),
         ("audit_vs_sql", "audit / its rules' SQL", 1.5, True),
         ("load_audit_vs_floor", "(load + audit) / floor", 3.0, True),
         ("gate_vs_audit", "gate / audit", 1.5, True),
         ("pandas_vs_audit5", "pandas reference / audit, five rules", 5.0, False)]
RSS_GOAL_MB = 1024


# ---------------------------------------------------------------- the shop

def shop(customers: int, seed: int = 1) -> Path:
    """A cached generated shop of ``customers`` accounts (``privaudit generate``)."""
    folder = CACHE / f"shop-{customers}-seed{seed}"
    stamp = folder / ".complete"
    if not stamp.exists():
        if folder.exists():
            shutil.rmtree(folder)
        subprocess.run([PY, "-m", "toolkit", "generate", str(folder), "--customers",
                        str(customers), "--seed", str(seed), "--as-of", AS_OF],
                       check=True, stdout=subprocess.DEVNULL)
        stamp.write_text("ok\n")
    return folder


def export_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


# ---------------------------------------------------------------- stages run as children

def floor(export_dir: str, db: str) -> None:
    """DuckDB's own load: every file read once into a table with auto-detected types (the same
    DuckDB memory limit as the loader's connections; nothing validated, no rejects, no time
    zones)."""
    import duckdb
    from toolkit.database import memory_limit
    from toolkit.readers import split_ext

    for f in (Path(db), Path(db + ".wal")):
        f.unlink(missing_ok=True)
    con = duckdb.connect(db)
    con.execute(f"SET memory_limit = '{memory_limit()}'")
    rows = 0
    for p in export_files(Path(export_dir)):
        parts = split_ext(p.name)
        if parts is None:
            continue
        table, fmt = parts[0], parts[1]
        call = {"csv": "read_csv($p)", "jsonl": "read_json($p, format = 'newline_delimited')",
                "json": "read_json($p)", "parquet": "read_parquet($p)"}[fmt]
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {call}', {"p": str(p)})
        rows += con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    con.close()
    print(json.dumps({"rows": rows}))


def loaded(db: str) -> None:
    """Rows read, loaded and rejected by the database's latest load (load_log)."""
    import duckdb
    con = duckdb.connect(db, read_only=True)
    r = con.execute("SELECT sum(rows_read), sum(rows_loaded), sum(rows_rejected) FROM load_log "
                    "WHERE load_id = (SELECT load_id FROM load_log ORDER BY loaded_at DESC LIMIT 1) "
                    "AND file IS NOT NULL").fetchone()
    print(json.dumps({"rows_read": int(r[0] or 0), "rows_loaded": int(r[1] or 0),
                      "rows_rejected": int(r[2] or 0)}))


# ---------------------------------------------------------------- measuring

def run(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd`` as a child process: wall, CPU (user + system) and peak RSS, its stdout."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**child_env(), **(env or {})})
    out, errout = _wait4(p)
    wall = time.perf_counter() - t0
    status, ru = p._privaudit_status, p._privaudit_rusage
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3),
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "load_avg": round(load, 2),
            "exit_code": code, "stdout": out.decode("utf-8", "replace"),
            "stderr": errout.decode("utf-8", "replace")[-2000:]}


def child_env() -> dict:
    """The environment of a measured command: as a user's, with Python's bytecode caches used
    (a shell that sets PYTHONDONTWRITEBYTECODE would make every command compile every module it
    imports: seconds of start-up that no installed toolkit pays)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_bytecode() -> None:
    """Compile the environment's and the toolkit's modules once, before anything is measured."""
    import sysconfig
    paths = [sysconfig.get_paths()["purelib"], str(HERE.parent / "toolkit"), str(HERE)]
    subprocess.run([PY, "-m", "compileall", "-q", "-j", "0", *paths], env=child_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _wait4(p: subprocess.Popen) -> tuple[bytes, bytes]:
    """Drain the child's pipes, then reap it with wait4 (its own resource usage)."""
    import threading
    chunks: dict[str, bytes] = {}

    def drain(name, stream):
        chunks[name] = stream.read()
    threads = [threading.Thread(target=drain, args=(n, s)) for n, s in
               (("out", p.stdout), ("err", p.stderr))]
    for t in threads:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in threads:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    p._privaudit_status, p._privaudit_rusage = status, ru
    return chunks.get("out", b""), chunks.get("err", b"")


def probe(args: list[str], json_path: Path, timers: list[str], gx: bool = False,
          env: dict | None = None) -> dict:
    cmd = [PY, "-m", "benchmarks.probe", "--json", str(json_path)]
    for t in timers:
        cmd += ["--time", t]
    if gx:
        cmd.append("--gx-sql")
    r = run(cmd + ["--", *args], env)
    r["probe"] = json.loads(json_path.read_text()) if json_path.exists() else {}
    return r


def _check(stage: str, r: dict, ok=(0,)) -> dict:
    if r["exit_code"] not in ok:
        raise SystemExit(f"stage {stage} failed (exit {r['exit_code']}): {r['stderr'][-1500:]}")
    return r


def round_once(i: int, export: Path, work: Path) -> dict:
    """One round of every stage; A/B pairs in alternating order (even rounds A first)."""
    db = str(work / f"audit-{i}.duckdb")
    ctas = str(work / f"floor-{i}.duckdb")
    out, out5 = work / f"out-{i}", work / f"out5-{i}"
    st: dict[str, dict] = {}

    def do_floor():
        st["floor"] = _check("floor", run([PY, "-m", "benchmarks.speed", "floor", str(export), ctas]))
        st["floor"]["rows"] = json.loads(st["floor"]["stdout"].splitlines()[-1])["rows"]
        for f in (Path(ctas), Path(ctas + ".wal")):
            f.unlink(missing_ok=True)

    def do_load():
        st["load"] = _check("load", probe(["load", str(export), "--db", db], work / f"load-{i}.json",
                                          LOAD_TIMERS))
        st["load"]["rows"] = json.loads(_check("rows", run([PY, "-m", "benchmarks.speed", "rows", db]))
                                        ["stdout"].splitlines()[-1])

    def do_audit():
        st["audit"] = _check("audit", probe(["audit", "--db", db, "--as-of", AS_OF, "--out", str(out)],
                                            work / f"audit-{i}.json", AUDIT_TIMERS))
        m = json.loads((out / "manifest.json").read_text())
        st["audit"]["rules_sql_s"] = round(sum(r["seconds"] for r in m["rules"].values()), 3)
        st["audit"]["findings"] = m["findings"]
        st["audit"]["rule_seconds"] = {k: r["seconds"] for k, r in m["rules"].items()}

    def do_audit5():
        st["audit5"] = _check("audit5", probe(["audit", "--db", db, "--as-of", AS_OF, "--rules", FIVE,
                                               "--out", str(out5)], work / f"audit5-{i}.json",
                                              AUDIT_TIMERS))
        m = json.loads((out5 / "manifest.json").read_text())
        st["audit5"]["violations"] = {k: r["violations"] for k, r in m["rules"].items()}
        st["audit5"]["rules_sql_s"] = round(sum(r["seconds"] for r in m["rules"].values()), 3)

    def do_pandas():
        st["pandas5"] = _check("pandas", run([PY, "-m", "benchmarks.pandas_reference", str(export),
                                              "--as-of", AS_OF]))
        st["pandas5"]["result"] = json.loads(st["pandas5"]["stdout"].splitlines()[-1])

    def do_gate():
        st["gate"] = _check("gate", probe(["gate", "--db", db, "--as-of", AS_OF],
                                          work / f"gate-{i}.json", GATE_TIMERS, gx=True), ok=(0, 1))

    # A/B pairs (floor/load, audit/gate, audit of five rules/pandas), A first in even rounds;
    # the load always precedes the audit and the gate (they read its database)
    order = ([do_floor, do_load, do_audit, do_gate, do_audit5, do_pandas] if i % 2 == 0 else
             [do_load, do_floor, do_gate, do_audit, do_pandas, do_audit5])
    for f in order:
        f()
    for f in (Path(db), Path(db + ".wal")):
        f.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out5, ignore_errors=True)
    for r in st.values():
        r.pop("stdout", None)
    st["gate"]["breakdown"] = gate_breakdown(st["gate"])
    st["audit"]["breakdown"] = audit_breakdown(st["audit"])
    st["audit5"]["breakdown"] = audit_breakdown(st["audit5"])
    st["load"]["breakdown"] = load_breakdown(st["load"])
    return st


def _t(r: dict, name: str) -> float:
    return (r.get("probe", {}).get("timers", {}).get(name) or {}).get("seconds", 0.0)


def gate_breakdown(g: dict) -> dict:
    """Where the gate's time goes: DuckDB answering GX, GX itself, the rest."""
    sql = _t(g, "gx_sql")
    gx_total = (_t(g, "gx_import") + _t(g, "toolkit.gate:DuckDBGX.__init__")
                + _t(g, "toolkit.gate:_run_suites"))
    setup = _t(g, "toolkit.findings:prepare") + _t(g, "toolkit.gate:_SetUp.__call__")
    # the rule queries, run once for GX (in _RuleRows.run; a probe without that timer measured a
    # version that ran them in prepare, or left them in the rest)
    timers = g.get("probe", {}).get("timers", {})
    once = _t(g, "toolkit.gate:_RuleRows.prepare") + _t(g, "toolkit.gate:_RuleRows.run")
    out = {"duckdb_for_gx_s": round(sql, 3), "gx_own_s": round(gx_total - sql, 3),
           "gx_import_s": round(_t(g, "gx_import"), 3), "prepare_and_setups_s": round(setup, 3)}
    if "toolkit.gate:_RuleRows.run" in timers:
        out["rule_queries_s"] = round(once, 3)
    else:
        once = 0.0
    out["rest_s"] = round(g["wall_s"] - gx_total - setup - once, 3)
    return out


def load_breakdown(r: dict) -> dict:
    """Where the load's time goes: the byte pass (Python: hashes, encodings, framing), DuckDB
    staging the files (reads, JSON key, shape and number passes), typing, checks and insert,
    the commit (checkpoint)."""
    one = _t(r, "toolkit.ingest:_load_one")
    stage = _t(r, "toolkit.ingest:stage")
    return {"byte_pass_s": round(_t(r, "toolkit.ingest:inspect"), 3), "staging_s": round(stage, 3),
            "typing_checks_insert_s": round(one - stage, 3),
            "commit_s": round(_t(r, "toolkit.ingest:_Target.commit"), 3)}


def audit_breakdown(a: dict) -> dict:
    return {"rules_sql_s": a["rules_sql_s"],
            "prepare_s": round(_t(a, "toolkit.findings:prepare"), 3),
            "profile_s": round(_t(a, "toolkit.personal_data:install"), 3),
            "masking_s": round(_t(a, "toolkit.findings:mask_evidence"), 3),
            "store_s": round(_t(a, "toolkit.findings:_store"), 3),
            "outputs_s": round(_t(a, "toolkit.findings:write_outputs"), 3),
            "cli_import_s": a.get("probe", {}).get("cli_import_s", 0.0)}


def ratios(st: dict) -> dict:
    """One round's ratios (wall and CPU) for every goal."""
    out = {}
    for kind in ("wall_s", "cpu_s"):
        f, l, a, g = (st[k][kind] for k in ("floor", "load", "audit", "gate"))
        sql = st["audit"]["rules_sql_s"]
        out[kind] = {"load_vs_floor": l / f, "load_audit_vs_floor": (l + a) / f,
                     "audit_vs_sql": a / sql if sql else None, "gate_vs_audit": g / a,
                     "pandas_vs_audit5": st["pandas5"][kind] / st["audit5"][kind]}
    out["cpu_s"]["audit_vs_sql"] = None      # the rules' SQL time is wall time only
    return out


def summarise(rounds: list[dict]) -> dict:
    med = statistics.median
    stages = {}
    for key in rounds[0]:
        runs = [r[key] for r in rounds]
        stages[key] = {"wall_s": med(x["wall_s"] for x in runs), "cpu_s": med(x["cpu_s"] for x in runs),
                       "peak_rss_mb": max(x["peak_rss_mb"] for x in runs),
                       "walls": [x["wall_s"] for x in runs], "load_avgs": [x["load_avg"] for x in runs]}
    stages["audit"]["rules_sql_s"] = med(r["audit"]["rules_sql_s"] for r in rounds)
    for key in ("audit", "gate", "load", "audit5"):
        if not all("breakdown" in r[key] for r in rounds):
            continue
        parts = [p for p in rounds[0][key]["breakdown"] if all(p in r[key]["breakdown"] for r in rounds)]
        stages[key]["breakdown"] = {p: round(med(r[key]["breakdown"][p] for r in rounds), 3)
                                    for p in parts}
    rs = [ratios(r) for r in rounds]
    summary = {}
    for key, label, goal, at_most in GOALS:
        wall = [r["wall_s"][key] for r in rs if r["wall_s"][key] is not None]
        cpu = [r["cpu_s"][key] for r in rs if r["cpu_s"][key] is not None]
        w = med(wall) if wall else None
        summary[key] = {"label": label, "goal": goal, "at_most": at_most,
                        "wall": round(w, 2) if w is not None else None,
                        "cpu": round(med(cpu), 2) if cpu else None,
                        "holds": None if w is None else (w <= goal if at_most else w >= goal)}
    p = rounds[-1]["pandas5"]["result"]["violations"]
    ours = rounds[-1]["audit5"]["violations"]
    return {"stages": stages, "ratios": summary,
            "pandas_agrees": all(r["pandas5"]["result"]["violations"] == r["audit5"]["violations"]
                                 for r in rounds),
            "pandas_violations": p, "audit_violations": ours,
            "rss_goal_mb": RSS_GOAL_MB}


def measure(customers: int, repeat: int, workdir: str | None) -> dict:
    t0 = time.perf_counter()
    export = shop(customers)
    generated = time.perf_counter() - t0
    warm_bytecode()
    files = export_files(export)
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    rounds = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="privaudit-speed-") as tmp:
        for i in range(repeat):
            print(f"== round {i + 1}/{repeat} (load average {os.getloadavg()[0]:.1f})", flush=True)
            st = round_once(i, export, Path(tmp))
            for k, v in st.items():
                print(f"   {k:8s} {v['wall_s']:8.2f} s wall {v['cpu_s']:8.2f} s cpu "
                      f"{v['peak_rss_mb']:7.0f} MB  (load avg {v['load_avg']:.1f})", flush=True)
            rounds.append(st)
    out = {"command": "python -m benchmarks.speed " + " ".join(sys.argv[1:]),
           "machine": machine(), "as_of": AS_OF, "customers": customers, "repeat": repeat,
           "export_mb": round(size_mb, 1), "files": len(files),
           "generate_seconds": round(generated, 1),
           "rows": rounds[0]["load"]["rows"], "floor_rows": rounds[0]["floor"]["rows"],
           "findings": rounds[0]["audit"]["findings"],
           "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           **summarise(rounds), "rounds": rounds}
    return out


def resummarise(path: Path) -> dict:
    """Recompute a results file's breakdowns and medians from its rounds' raw figures (the
    probes' timers), after a change to how they are broken down; nothing is measured again."""
    result = json.loads(path.read_text())
    for st in result["rounds"]:
        st["gate"]["breakdown"] = gate_breakdown(st["gate"])
        st["audit"]["breakdown"] = audit_breakdown(st["audit"])
        st["audit5"]["breakdown"] = audit_breakdown(st["audit5"])
        st["load"]["breakdown"] = load_breakdown(st["load"])
    result.update(summarise(result["rounds"]))
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"rewrote {path}")
    return result


def machine() -> dict:
    import platform
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cores": os.cpu_count(), "system": platform.system()}


def main(argv: list[str] | None = None) -> dict | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["floor"]:
        return floor(argv[1], argv[2])
    if argv[:1] == ["rows"]:
        return loaded(argv[1])
    if argv[:1] == ["resummarise"]:
        return resummarise(Path(argv[1]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="where the databases go (default: a temp dir)")
    ap.add_argument("--name", default=None, help="results file name (default speed-CUSTOMERS)")
    args = ap.parse_args(argv)
    result = measure(args.customers, args.repeat, args.workdir)
    RESULTS.mkdir(exist_ok=True)
    name = args.name or f"speed-{args.customers}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS / (name + '.json')}")
    return result


if __name__ == "__main__":
    main()
