"""How long ``privaudit report`` takes on the demo shop, as a user waits for it.

    python -m benchmarks.report_speed [--repeat 3]

The demo shop (``privaudit demo``: 500 customers, seed 0, as of 2026-10-31) is generated and
loaded once into ``benchmarks/cache/demo/``. Then:

* **whole process**: ``privaudit report --db ... --as-of ... --out ...`` run as a subprocess,
  ``--repeat`` times: wall time, and CPU time of the command and every kernel it started
  (``RUSAGE_CHILDREN``), with the machine's load average at the start (the machine is shared);
* **timeline**: one ``toolkit.report.report`` in a fresh process, with the moment each phase
  ended (kernels asked to start, audit done, each notebook done) and each notebook's own
  execution time as papermill recorded it;
* **cold kernels**: the same notebooks each in a kernel of its own, two side by side (how the
  report ran before warm kernels), for comparison.

Results go to ``benchmarks/results/report_speed.json``; ``python -m benchmarks.report`` puts the
table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / "cache" / "demo"
RESULTS = HERE / "results" / "report_speed.json"
AS_OF = "2026-10-31"


def demo_db() -> Path:
    """The demo shop's database (made once)."""
    db = CACHE / "audit.duckdb"
    if not db.exists():
        import toolkit
        from toolkit.generate import generate

        generate(CACHE / "exports", customers=500, seed=0)
        toolkit.load(CACHE / "exports", db=db)
    return db


def whole_process(db: Path, out: Path) -> dict:
    privaudit = Path(sys.executable).parent / "privaudit"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([str(privaudit), "report", "--db", str(db), "--as-of", AS_OF,
                           "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"privaudit report failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": round(load, 2)}


def timeline(db: str, out: str) -> dict:
    """(In a fresh process.) One report with the time at which each phase ended."""
    t0 = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def progress(msg: str) -> None:
        marks.append((msg, round(time.perf_counter() - t0, 2)))

    def done(r, n, total) -> None:
        marks.append((f"{r.name} done", round(time.perf_counter() - t0, 2)))

    import nbformat

    from toolkit.report import report

    res = report(db, AS_OF, out, progress=progress, on_notebook=done)
    own = {}
    for n in res.notebooks:
        meta = nbformat.read(str(n.ipynb), as_version=4).metadata.papermill
        own[n.name] = round(float(meta.get("duration") or 0), 2)
    from toolkit.report import default_kernels

    return {"marks": marks, "notebook_seconds": own, "total_s": round(time.perf_counter() - t0, 2),
            "kernels": default_kernels(6)}


def cold(db: str, out: str) -> dict:
    """(In a fresh process.) Every notebook in a kernel of its own, two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    import toolkit
    from toolkit.analysis import NOTEBOOKS
    from toolkit.report import execute, notebook_paths

    t0 = time.perf_counter()
    Path(out).mkdir(parents=True, exist_ok=True)
    res = toolkit.audit(db, AS_OF, out=Path(out) / "audit")
    params = {"db_path": db, "as_of": AS_OF, "out_dir": out, "run_id": res.run_id}
    paths = notebook_paths(NOTEBOOKS)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda p: execute(p, Path(out) / f"{p.stem}.ipynb", params,
                                                   "python3"), paths[:-1]))
    results.append(execute(paths[-1], Path(out) / f"{paths[-1].stem}.ipynb", params, "python3"))
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    return {"total_s": round(time.perf_counter() - t0, 2),
            "notebook_seconds": {r.name: r.seconds for r in results}}


def main(argv: list[str] | None = None) -> None:
    from .harness import machine, measure

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    db = demo_db()
    work = HERE / "cache" / "report-speed"
    runs = [whole_process(db, work / f"out-{i}") for i in range(args.repeat)]
    print("whole process:", runs)
    tl = measure("timeline", "benchmarks.report_speed:timeline", db=str(db),
                 out=str(work / "timeline"))
    print("timeline:", tl.result["marks"])
    cl = measure("cold kernels", "benchmarks.report_speed:cold", db=str(db), out=str(work / "cold"))
    print("cold kernels:", cl.wall_s, "s")
    result = {"machine": machine(), "as_of": AS_OF, "customers": 500, "runs": runs,
              "timeline": {**tl.result, "wall_s": tl.wall_s, "cpu_s": tl.cpu_s,
                           "peak_rss_mb": tl.peak_rss_mb},
              "cold": {**cl.result, "wall_s": cl.wall_s}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
