"""Scale: load, audit, gate and report of generated shops of 10k, 100k and 1M customers.

    python -m benchmarks.scale [--sizes 10000,100000,1000000] [--skip-report] [--pandas-max N]

Generated shops are cached in benchmarks/cache/ (the 1M shop takes about 7 minutes to write).
Each stage runs in a fresh process (``benchmarks.harness``): wall time, CPU time, peak RSS.
Measured side by side in the same run:

- the floor: DuckDB reading every export file once with a bare ``count(*)``;
- a plain pandas implementation of RET-001, SHR-002, NWS-001, NWS-003 and DSR-001
  (``benchmarks.pandas_reference``), against the audit of the same five rules; their finding
  counts must agree.

Writes benchmarks/results/scale.json; ``python -m benchmarks.report`` turns the results into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / "cache"
RESULTS = HERE / "results"
AS_OF = "2026-10-31"
FIVE = "RET-001,SHR-002,NWS-001,NWS-003,DSR-001"


def shop(customers: int, seed: int = 1) -> Path:
    """A cached generated shop of ``customers`` accounts."""
    from toolkit.generate import generate
    folder = CACHE / f"shop-{customers}-seed{seed}"
    stamp = folder / ".complete"
    if not stamp.exists():
        if folder.exists():
            shutil.rmtree(folder)
        generate(folder, customers=customers, seed=seed)
        stamp.write_text("ok\n")
    return folder


def export_files(export_dir: str):
    """(table, file, DuckDB reader call with its options) of every table file of an export."""
    from toolkit.readers import split_ext
    for p in sorted(Path(export_dir).iterdir()):
        parts = split_ext(p.name) if p.is_file() else None
        if parts is None:
            continue
        fmt = parts[1]
        reader = {"csv": "read_csv", "jsonl": "read_json", "json": "read_json",
                  "parquet": "read_parquet"}[fmt]
        extra = ", format = 'newline_delimited'" if fmt == "jsonl" else ""
        yield parts[0], str(p), f"{reader}($p{extra})"


def floor(export_dir: str) -> dict:
    """Stage: DuckDB reads every export file once with a bare count(*)."""
    import duckdb
    con = duckdb.connect()
    rows = sum(con.execute(f"SELECT count(*) FROM {call}", {"p": path}).fetchone()[0]
               for _, path, call in export_files(export_dir))
    return {"rows": rows}


def duckdb_ctas(export_dir: str, db: str) -> dict:
    """Stage: DuckDB's own load, for reference: CREATE TABLE AS from each file with its
    auto-detected types; no validation, no rejects, no time zones, no reconciliation."""
    import duckdb
    for f in (Path(db), Path(db + ".wal")):
        f.unlink(missing_ok=True)
    con = duckdb.connect(db)
    con.execute("SET memory_limit = '1GB'")
    rows = 0
    for table, path, call in export_files(export_dir):
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {call}', {"p": path})
        rows += con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    con.close()
    for f in (Path(db), Path(db + ".wal")):
        f.unlink(missing_ok=True)
    return {"rows": rows}


def load(export_dir: str, db: str) -> dict:
    import toolkit
    for f in (Path(db), Path(db + ".wal")):
        f.unlink(missing_ok=True)
    r = toolkit.load(export_dir, db=db)
    return {"rows": r.rows_loaded, "rejected": r.rows_rejected}


def audit(db: str, rules: str | None = None) -> dict:
    import toolkit
    r = toolkit.audit(db, AS_OF, rules=rules, store=rules is None)
    return {"findings": len(r.findings), "violations": {x.rule_id: x.violations for x in r.rules},
            "rule_seconds": {x.rule_id: x.seconds for x in r.rules}}


def gate(db: str) -> dict:
    from toolkit.gate import gate as run_gate
    r = run_gate(db, AS_OF)
    return {"exit_code": r.exit_code, "failed": len(r.failed)}


def report(db: str, out: str) -> dict:
    from toolkit.report import report as run_report
    r = run_report(db, AS_OF, out)
    return {"exit_code": r.exit_code}


def pandas_five(db: str) -> dict:
    from benchmarks.pandas_reference import run
    return run(db, AS_OF)


def measure_size(customers: int, workdir: Path, skip_report: bool, pandas_max: int) -> dict:
    from .harness import measure
    t0 = time.perf_counter()
    export = shop(customers)
    generated = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in export.iterdir() if p.is_file()) / 2**20
    db = str(workdir / f"audit-{customers}.duckdb")
    stages = {}
    stages["floor"] = measure("floor", "benchmarks.scale:floor", export_dir=str(export))
    stages["duckdb_ctas"] = measure("duckdb ctas", "benchmarks.scale:duckdb_ctas",
                                    export_dir=str(export), db=db + ".ctas")
    stages["load"] = measure("load", "benchmarks.scale:load", export_dir=str(export), db=db)
    stages["audit"] = measure("audit", "benchmarks.scale:audit", db=db)
    stages["audit_five"] = measure("audit (5 rules)", "benchmarks.scale:audit", db=db, rules=FIVE)
    stages["gate"] = measure("gate", "benchmarks.scale:gate", db=db)
    if not skip_report:
        try:
            stages["report"] = measure("report", "benchmarks.scale:report", db=db,
                                       out=str(workdir / f"report-{customers}"))
        except RuntimeError as e:
            print(f"report stage skipped: {e}")
    if customers <= pandas_max:
        stages["pandas_five"] = measure("pandas (5 rules)", "benchmarks.scale:pandas_five", db=db)
    out = {"customers": customers, "export_mb": round(size_mb, 1),
           "generate_seconds": round(generated, 1), "rows": stages["load"].result["rows"],
           "stages": {k: v.as_row() for k, v in stages.items()}}
    if "pandas_five" in stages:
        p = stages["pandas_five"].result
        ours = stages["audit_five"].result["violations"]
        out["pandas_agrees"] = p["violations"] == ours
    return out


def main(argv: list[str] | None = None) -> dict:
    from .harness import machine
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--pandas-max", type=int, default=1_000_000)
    ap.add_argument("--workdir", default=None, help="where the databases go (default: a temp dir)")
    args = ap.parse_args(argv)
    import tempfile
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {"command": "python -m benchmarks.scale " + " ".join(argv or []),
               "machine": machine(), "as_of": AS_OF, "sizes": []}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in sizes:
            print(f"== {n:,} customers", flush=True)
            r = measure_size(n, Path(tmp), args.skip_report, args.pandas_max)
            results["sizes"].append(r)
            for k, v in r["stages"].items():
                print(f"   {k:12s} {v['wall_s']:8.2f} s wall {v['cpu_s']:8.2f} s cpu "
                      f"{v['peak_rss_mb']:8.0f} MB", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
