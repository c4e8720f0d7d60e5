"""A tiny smoke run of the benchmark harness (the benchmarks themselves run with `make bench`)."""

from __future__ import annotations

import importlib.util

import pytest

from benchmarks import free_text, harness


def test_measure_runs_a_stage_in_a_fresh_process(tmp_path):
    db = str(tmp_path / "c.duckdb")
    planted = free_text.build(db, 3000, seed=1)
    assert len(planted["cards"]) > 20 and len(planted["ibans"]) > 20
    m = harness.measure("detect", "benchmarks.free_text:toolkit_detect", db=db)
    assert m.wall_s > 0 and m.peak_rss_mb > 10
    assert m.result["violations"]["SEC-002"] == len(planted["cards"])
    full = harness.measure("scan", "benchmarks.free_text:toolkit_scan", db=db)
    assert free_text.recall(planted["cards"], full.result["found"]["cards"], set(planted["cards"])) == 1.0
    assert free_text.recall(planted["ibans"], full.result["found"]["ibans"], set(planted["ibans"])) == 1.0


@pytest.mark.skipif(importlib.util.find_spec("presidio_analyzer") is None,
                    reason="presidio-analyzer is a bench extra (make bench)")
def test_presidio_stage(tmp_path):
    db = str(tmp_path / "c.duckdb")
    free_text.build(db, 500, seed=2)
    m = harness.measure("presidio", "benchmarks.free_text:presidio_scan", db=db, sample=200)
    assert m.result["messages"] == 200
