"""Measure a stage in a fresh process: wall time, CPU time and peak RSS.

Each stage runs in its own spawned Python process (``multiprocessing`` "spawn"), so its peak
resident set size is its own and not the parent's. The stage is a module-level function given
as ``"module:function"`` with keyword arguments; it returns a JSON-able dict of its own figures.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Measurement:
    stage: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    result: dict = field(default_factory=dict)

    def as_row(self) -> dict:
        return asdict(self)


def _child(target: str, kwargs: dict, conn) -> None:
    module, func = target.split(":")
    fn = getattr(importlib.import_module(module), func)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = fn(**kwargs)
        error = None
    except BaseException as e:  # reported to the parent, which re-raises
        result, error = {}, f"{type(e).__name__}: {e}"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_kb = peak_rss_kb()
    conn.send(json.dumps({"wall": wall, "cpu": cpu, "rss_kb": rss_kb, "result": result,
                          "error": error}, default=str))
    conn.close()


def peak_rss_kb() -> int:
    """This process's peak resident set size. VmHWM belongs to the process image, so unlike
    getrusage's ru_maxrss it does not carry the parent's peak across fork and exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(stage: str, target: str, **kwargs) -> Measurement:
    """Run ``target`` (``"module:function"``) with ``kwargs`` in a fresh process and measure it."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(target, kwargs, child))
    p.start()
    child.close()
    data = json.loads(parent.recv())
    p.join()
    if data["error"]:
        raise RuntimeError(f"stage {stage} failed: {data['error']}")
    # the CPU time of the whole child (threads included: DuckDB works on every core)
    return Measurement(stage, round(data["wall"], 3), round(data["cpu"], 3),
                       round(data["rss_kb"] / 1024, 1), data["result"])


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "cores": os.cpu_count(), "system": platform.system()}
