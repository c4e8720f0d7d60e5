"""A tiny smoke run of the benchmark harness (the benchmarks themselves run with `make bench`)."""

from __future__ import annotations

import importlib.util
import json

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


# ---------------------------------------------------------------- benchmarks.speed (issue 16)

@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory):
    from toolkit.generate import generate
    root = tmp_path_factory.mktemp("speed")
    generate(root / "exports", customers=300, seed=4)
    return root


def test_run_measures_a_whole_child_process():
    import sys
    from benchmarks import speed
    r = speed.run([sys.executable, "-c", "x = bytearray(80_000_000); sum(range(2_000_000))"])
    assert r["exit_code"] == 0 and r["wall_s"] > 0 and r["cpu_s"] > 0
    assert r["peak_rss_mb"] >= 80 and r["load_avg"] >= 0
    failed = speed.run([sys.executable, "-c", "raise SystemExit(3)"])
    assert failed["exit_code"] == 3
    with pytest.raises(SystemExit, match="exit 3"):
        speed._check("x", failed)


def test_pandas_reference_from_the_files_agrees_with_the_audit(tiny_shop):
    """The bar the audit is measured against computes the same findings, from the files."""
    import toolkit
    from benchmarks import pandas_reference, speed
    db = str(tiny_shop / "a.duckdb")
    loaded = toolkit.load(str(tiny_shop / "exports"), db=db)
    ours = toolkit.audit(db, speed.AS_OF, rules=speed.FIVE, store=False)
    theirs = pandas_reference.run(str(tiny_shop / "exports"), speed.AS_OF)
    assert theirs["violations"] == {r.rule_id: r.violations for r in ours.rules}
    assert sum(theirs["violations"].values()) > 0
    # the floor stage stores every row of every file
    r = speed.run([speed.PY, "-m", "benchmarks.speed", "floor", str(tiny_shop / "exports"),
                   str(tiny_shop / "floor.duckdb")])
    assert r["exit_code"] == 0, r["stderr"]
    assert json.loads(r["stdout"])["rows"] == loaded.rows_loaded


def test_speed_summary_and_table():
    """Medians, per-round ratios against the issue's goals, and the rendered table."""
    from benchmarks import report, speed

    def stage(wall, cpu, rss, **extra):
        return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss, "load_avg": 2.0, **extra}

    def one(k):
        return {"floor": stage(4 * k, 4, 300, rows=10), "load": stage(8 * k, 10, 900, breakdown={
                    "byte_pass_s": 0.5, "staging_s": 2, "typing_checks_insert_s": 4.5,
                    "commit_s": 1}),
                "audit": stage(3 * k, 4, 400, rules_sql_s=1.0 * k, findings=5,
                               breakdown={"rules_sql_s": 1.0 * k, "prepare_s": 0.5, "masking_s": 1,
                                          "store_s": 0.1, "outputs_s": 0.2, "cli_import_s": 0.3,
                                          "profile_s": 0.25}),
                "gate": stage(9 * k, 9, 1100, breakdown={
                    "duckdb_for_gx_s": 2, "gx_own_s": 6, "gx_import_s": 4,
                    "prepare_and_setups_s": 0.5, "rest_s": 0.5}),
                "audit5": stage(1 * k, 1.5, 300, violations={"RET-001": 2}, breakdown={
                    "rules_sql_s": 0.4, "prepare_s": 0.3, "masking_s": 0, "store_s": 0,
                    "outputs_s": 0, "cli_import_s": 0.2}),
                "pandas5": stage(6 * k, 6, 800, result={"read_seconds": 2, "rules_seconds": 3,
                                                        "violations": {"RET-001": 2}})}
    rounds = [one(1), one(3), one(2)]
    s = speed.summarise(rounds)
    assert s["stages"]["load"]["wall_s"] == 16 and s["stages"]["gate"]["peak_rss_mb"] == 1100
    assert s["ratios"]["load_vs_floor"]["wall"] == 2.0 and s["ratios"]["load_vs_floor"]["holds"] is False
    assert s["ratios"]["pandas_vs_audit5"]["wall"] == 6.0 and s["ratios"]["pandas_vs_audit5"]["holds"]
    assert s["ratios"]["audit_vs_sql"]["wall"] == 3.0 and s["ratios"]["audit_vs_sql"]["cpu"] is None
    assert s["pandas_agrees"] is True
    r = {**s, "rounds": rounds, "machine": {"cores": 2, "python": "3"}, "customers": 10,
         "rows": {"rows_read": 10, "rows_loaded": 10, "rows_rejected": 0}, "export_mb": 1.0,
         "files": 3, "as_of": "2026-10-31", "findings": 5, "repeat": 3}
    table = report.speed_table(r)
    assert "| (load + audit) / floor | 2.75x | 3.50x | at most 3.0x | yes | load 16.0 s + audit " \
           "6.0 s against 8.0 s |" in table                     # holds: no lever named
    # a gap: the measured breakdown of the stage that decides it, then the next lever
    load_row = next(x for x in table.splitlines() if x.startswith("| load / floor"))
    assert "| **no** | load 16.0 s against 8.0 s: byte pass" in load_row
    assert "typing, checks and insert 4.5 s, commit 1.0 s; next: type the columns" in load_row
    audit_row = next(x for x in table.splitlines() if x.startswith("| audit / its rules' SQL"))
    assert "set-up 0.5 s (the extra-column profile 0.2 s)" in audit_row and "next:" in audit_row
    gate_row = next(x for x in table.splitlines() if x.startswith("| gate / audit"))
    assert "GX's import 4.0 s and own work 2.0 s, DuckDB answering GX 2.0 s" in gate_row
    assert "1,100 MB | | at most 1,024 MB | **no** | highest: gate" in table
    assert s["stages"]["load"]["breakdown"]["typing_checks_insert_s"] == 4.5


# ---------------------------------------------------------------- benchmarks.spark (issue 19)

def test_spark_cost_model_and_its_table():
    from benchmarks import report, spark

    assert spark.fit([(10_000, 40.0), (100_000, 130.0)]) == {"fixed_s": 30.0,
                                                             "per_100k_customers_s": 100.0}
    assert spark.fit([(10_000, 1.0)]) is None
    stage = {"wall_s": 2.0, "cpu_s": 3.0, "peak_rss_mb": 400.0}
    r = {"master": "local[2]", "cores": 2, "model": {"spark": {"fixed_s": 30.0, "per_100k_customers_s": 100.0},
                                                     "duckdb": {"fixed_s": 1.0, "per_100k_customers_s": 2.0}},
         "sizes": [{"customers": 10_000, "rows": 200_000, "rules_both": 26, "findings_both": 900,
                    "stages": {"audit_duckdb": stage, "audit_spark": {**stage, "wall_s": 40.0}}}]}
    table = report.spark_table(r)
    assert "| 10,000 | 200,000 | 2.0 s | 40.0 s | 20.0x |" in table
    assert "30.0 s fixed + 100.0 s per 100k customers" in table
