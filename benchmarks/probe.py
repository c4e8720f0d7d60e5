"""Run a ``privaudit`` command in this process with timers around named functions.

    python -m benchmarks.probe --json OUT.json [--time toolkit.findings:prepare ...]
                               [--gx-sql] [--profile OUT.pstats] -- audit --db ... --as-of ...

The command runs exactly as ``privaudit ARGS`` would (the CLI's own entry point), so the process
measured from outside (``benchmarks.speed``) is the whole command; the probe only adds cumulative
timers (seconds and calls) around the functions named with ``--time`` (``module:attr`` or
``module:Class.method``; a name that does not exist in this version of the toolkit is skipped,
so the probe survives refactors) and, with ``--gx-sql``, around every statement Great
Expectations sends to DuckDB (duckdb-engine's cursor: execute and fetch). ``--profile`` keeps a
cProfile of the whole command. The figures go to ``--json`` with the command's exit code.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
import time

TIMERS: dict[str, list[float]] = {}


def _timed(name: str, fn):
    cell = TIMERS.setdefault(name, [0.0, 0])

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            cell[0] += time.perf_counter() - t0
            cell[1] += 1
    return wrapper


def wrap(target: str) -> bool:
    """Put a timer around ``module:attr.path``; False when it does not exist."""
    module, _, path = target.partition(":")
    try:
        owner = importlib.import_module(module)
    except ImportError:
        return False
    *parents, last = path.split(".")
    for p in parents:
        owner = getattr(owner, p, None)
        if owner is None:
            return False
    fn = getattr(owner, last, None)
    if fn is None or not callable(fn):
        return False
    setattr(owner, last, _timed(target, fn))
    return True


def wrap_gx_sql() -> None:
    """Time every statement and fetch that goes through duckdb-engine (GX's queries)."""
    import duckdb_engine

    cursor = duckdb_engine.CursorWrapper
    cursor.execute = _timed("gx_sql", cursor.execute)
    for name in ("fetchall", "fetchone", "fetchmany"):
        own = cursor.__dict__.get(name)
        if own is None:           # reached through __getattr__: the DuckDB connection's method
            def own(self, *a, _name=name, **k):
                return getattr(self._CursorWrapper__c, _name)(*a, **k)
        setattr(cursor, name, _timed("gx_sql", own))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--time", action="append", default=[])
    ap.add_argument("--gx-sql", action="store_true")
    ap.add_argument("--profile")
    opts = ap.parse_args(argv[:split])
    command = argv[split + 1:]

    t0 = time.perf_counter()
    from toolkit.cli import main as privaudit, own_process
    imported = time.perf_counter() - t0
    own_process()       # as the command's main() does first: before GX is imported here
    wrapped = [t for t in opts.time if wrap(t)]
    if opts.gx_sql:
        t1 = time.perf_counter()
        import great_expectations  # noqa: F401  (the gate imports it anyway; timed here)
        TIMERS["gx_import"] = [time.perf_counter() - t1, 1]
        wrap_gx_sql()
    profiler = None
    if opts.profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    t2 = time.perf_counter()
    code = 0
    sys.argv = ["privaudit", *command]
    try:
        privaudit()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    ran = time.perf_counter() - t2
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(opts.profile)
    out = {"exit_code": code, "cli_import_s": round(imported, 3), "command_s": round(ran, 3),
           "timers": {k: {"seconds": round(v[0], 3), "calls": v[1]} for k, v in TIMERS.items()},
           "skipped": sorted(set(opts.time) - set(wrapped))}
    with open(opts.json, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
