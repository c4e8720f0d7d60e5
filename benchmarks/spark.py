"""The Spark engine next to DuckDB's (issue 19), in local mode.

    python -m benchmarks.spark [--customers 10000,100000] [--master local[2]]

For each shop size (generated once, cached in benchmarks/cache/ like benchmarks.speed's): load it
(``privaudit load``), write the Parquet folders (``privaudit export --parquet``), then audit it
with both engines as a user runs them, each a whole process: ``privaudit audit`` (DuckDB) and
``privaudit audit --engine spark --source`` (Spark, ``--master`` through SPARK_MASTER). Wall,
CPU (user + system) and peak RSS per stage, each rule's seconds from the manifests, and the
findings of the rules both run compared (they must be equal in number).

Two sizes give the cost model of docs/benchmarks.md: Spark's time is a fixed part (the JVM, the
session, planning every rule's query: the same at any size) and a part that grows with the data;
``time = fixed + per_customer * customers`` fitted on the two.

Writes benchmarks/results/spark.json; ``python -m benchmarks.report`` puts the table into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .speed import AS_OF, PY, RESULTS, _check, run, shop, warm_bytecode


def stage_sizes(customers: int, master: str, work: Path) -> dict:
    export = shop(customers)
    db, lake = work / "audit.duckdb", work / "lake"
    out_d, out_s = work / "out-duckdb", work / "out-spark"
    st = {"load": _check("load", run([PY, "-m", "toolkit", "load", str(export), "--db", str(db)]))}
    st["export"] = _check("export", run([PY, "-m", "toolkit", "export", "--db", str(db),
                                         "--parquet", str(lake)]))
    st["audit_duckdb"] = _check("audit_duckdb", run(
        [PY, "-m", "toolkit", "audit", "--db", str(db), "--as-of", AS_OF, "--out", str(out_d)]))
    st["audit_spark"] = _check("audit_spark", run(
        [PY, "-m", "toolkit", "audit", "--engine", "spark", "--source", str(lake), "--as-of",
         AS_OF, "--out", str(out_s), "--db", str(work / "no-history.duckdb")],
        env={"SPARK_MASTER": master, "CI": "true"}))
    md, ms = (json.loads((o / "manifest.json").read_text()) for o in (out_d, out_s))
    both = [r for r, v in ms["rules"].items() if v["status"] == "evaluated"]
    mismatch = {r: (md["rules"][r]["violations"], ms["rules"][r]["violations"]) for r in both
                if md["rules"][r]["violations"] != ms["rules"][r]["violations"]}
    if mismatch:
        raise SystemExit(f"{customers} customers: the engines disagree: {mismatch}")
    for v in st.values():
        v.pop("stdout", None)
        v.pop("stderr", None)
    return {"customers": customers, "stages": st, "rules_both": len(both),
            "findings_both": sum(ms["rules"][r]["violations"] for r in both),
            "rule_seconds": {"duckdb": {r: md["rules"][r]["seconds"] for r in both},
                             "spark": {r: ms["rules"][r]["seconds"] for r in both}},
            "rows": sum(t["rows_as_of"] for t in md["tables"].values())}


def fit(points: list[tuple[int, float]]) -> dict | None:
    """time = fixed + per_customer * customers through the smallest and the largest size."""
    if len(points) < 2:
        return None
    (n0, t0), (n1, t1) = points[0], points[-1]
    per = (t1 - t0) / (n1 - n0)
    return {"fixed_s": round(t0 - per * n0, 2), "per_100k_customers_s": round(per * 100_000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", default="10000,100000")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    sizes = sorted(int(x) for x in a.customers.split(","))
    warm_bytecode()
    results = []
    with tempfile.TemporaryDirectory(prefix="privaudit-spark-bench-", dir=a.workdir) as tmp:
        for n in sizes:
            work = Path(tmp) / str(n)
            work.mkdir()
            print(f"{n:,} customers ...", file=sys.stderr)
            results.append(stage_sizes(n, a.master, work))
    out = {"master": a.master, "cores": os.cpu_count(), "sizes": results,
           "model": {eng: fit([(r["customers"], r["stages"][f"audit_{eng}"]["wall_s"]) for r in results])
                     for eng in ("duckdb", "spark")}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spark.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["model"]))


if __name__ == "__main__":
    main()
