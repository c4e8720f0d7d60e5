"""The Spark engine (toolkit.spark): rules rendered for Spark SQL (no JVM needed), and on local
Spark the same findings as DuckDB's, rule by rule and subject by subject, equal to the planted
truth, with the same rules.csv and manifest.

One SparkSession per test process (local[2], UI off, few shuffle partitions): starting the JVM
costs seconds, each query about half a second on small data. ``make test`` audits one generated
shop (seed 0); ``make test-spark`` three (PRIVAUDIT_SPARK_SEEDS=0,1,2). The Spark tests skip with
the reason when PySpark or a Java runtime is missing.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

import toolkit
from toolkit.policy import load_policy
from toolkit.rules import REGISTRY, ordered

AS_OF = "2026-10-31"
SEEDS = tuple(int(s) for s in os.environ.get("PRIVAUDIT_SPARK_SEEDS", "0").split(","))


# ---------------------------------------------------------------- rendering (no JVM)

# the spark extra (make install has it; make lowest installs the dev extra only)
pytest.importorskip("sqlglot", reason="the spark extra is not installed (SQLGlot)")

def test_the_unsupported_list_is_exactly_the_rules_that_do_not_render():
    from toolkit.spark import UNSUPPORTED
    from toolkit.spark.render import unrenderable

    # a rule that renders must leave the list; one that stops rendering must be listed
    assert set(unrenderable(load_policy(None))) == set(UNSUPPORTED)
    assert set(UNSUPPORTED) <= set(REGISTRY)
    assert all(len(why) > 20 for why in UNSUPPORTED.values())


def test_every_other_rule_renders_with_bound_parameters_and_no_duckdb_leftovers():
    from toolkit.spark import UNSUPPORTED
    from toolkit.spark.render import rule_sql

    pol = load_policy(None)
    for rule in ordered():
        if rule.id in UNSUPPORTED:
            continue
        sql, pop = rule_sql(rule, pol)
        assert not re.search(r"\$[a-z]", sql), rule.id      # parameters are :name
        for leftover in ("civil_date(", "hold_covers(", "retention_anchor(", " LIST_",
                         "QUALIFY", "ASOF", "INT128", "::"):
            assert leftover.lower() not in sql.lower(), (rule.id, leftover)
        if "$as_of" in rule.sql(pol):
            assert ":as_of" in sql, rule.id


def test_duckdb_idioms_are_rewritten_for_spark():
    from toolkit.spark.render import NotRenderable, to_spark

    # DuckDB's lambda index counts from 1, Spark's from 0; list[i] is 1-based (try_element_at)
    got = to_spark("SELECT list_transform(l, lambda c, i: c * [3, 1][i]), l[1] FROM t")
    assert "(i + 1)" in got and "TRY_ELEMENT_AT(ARRAY(3, 1), (i + 1))" in got
    assert "TRY_ELEMENT_AT(l, 1)" in got
    # list() keeps its order and NULLs, and is NULL on no rows
    got = to_spark("SELECT list(x ORDER BY k DESC) FILTER (WHERE f) FROM t")
    assert "ARRAY_SORT(COLLECT_LIST(STRUCT(k * -1 AS k0, x AS v)) FILTER(WHERE f))" in got
    assert "CASE WHEN COUNT(*) FILTER(WHERE f) > 0" in got
    # len() of a list, ISO weekday, full-string match, characters of a string
    got = to_spark("SELECT len(l), isodow(d), regexp_full_match(s, '[0-9]+'), "
                   "string_split(s, '') FROM t")
    assert "SIZE(l)" in got and "WEEKDAY(d) + 1" in got
    assert "RLIKE '^(?:[0-9]+)\\\\z'" in got and "SPLIT(s, '(?!$)')" in got
    # Amsterdam civil dates: a cast in the session's time zone; months: Spark's add_months
    assert to_spark("SELECT civil_date(ts), add_months(d, 12) FROM t") == \
        "SELECT (CAST(ts AS DATE)), ADD_MONTHS(d, 12) FROM t"
    # a macro with a subquery needs qualified column arguments (else they bind inside it)
    with pytest.raises(NotRenderable):
        to_spark("SELECT hold_covers(customer_id, 'orders', $as_of) FROM orders")
    assert "h.customer_id = o.customer_id" in to_spark(
        "SELECT hold_covers(o.customer_id, 'orders', $as_of) FROM orders o")


# ---------------------------------------------------------------- on Spark

def _java() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (the Spark engine needs Java 17 or later)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install 'privaudit[spark]')"
    return None


needs_spark = pytest.mark.skipif(_java() is not None, reason=_java() or "")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from toolkit.spark.engine import session
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    s = session(shuffle_partitions=2, warehouse=warehouse, codegen=False)
    yield s
    s.stop()


def _key(f: dict) -> tuple:
    return (f["subject_id"], f["subject_table"], f["customer_id"], f["severity"],
            str(f["due_date"]), f["days_overdue"], f["evidence"], f["details"])


@pytest.fixture(scope="module", params=SEEDS)
def shops(request, tmp_path_factory, spark):
    from toolkit.export import export_parquet
    from toolkit.generate import generate

    root = tmp_path_factory.mktemp(f"spark-seed{request.param}")
    generate(root / "exports", customers=500, seed=request.param)
    db = root / "audit.duckdb"
    toolkit.load(root / "exports", db=db)
    export_parquet(db, root / "parquet")
    duck = toolkit.audit(db, AS_OF, out=root / "out-duckdb", store=False)
    sp = toolkit.audit(db, AS_OF, out=root / "out-spark", engine="spark", source=root / "parquet",
                       spark=spark)
    return root, db, duck, sp


@needs_spark
def test_spark_findings_equal_duckdb_rule_by_rule_and_subject_by_subject(shops):
    from toolkit.spark import UNSUPPORTED

    _, _, duck, sp = shops
    assert sp.engine == "spark" and duck.engine == "duckdb"
    for d, s in zip(duck.rules, sp.rules):
        assert d.rule_id == s.rule_id
        if s.rule_id in UNSUPPORTED:
            assert s.status == "not_evaluable" and "not on Spark" in s.missing
            continue
        assert (s.status, s.population, s.violations, s.excluded, s.error) == \
            (d.status, d.population, d.violations, d.excluded, d.error), s.rule_id
        got = sorted(_key(f) for f in sp.findings if f["rule_id"] == s.rule_id)
        want = sorted(_key(f) for f in duck.findings if f["rule_id"] == s.rule_id)
        assert got == want, s.rule_id
    assert sp.cookie_categories == duck.cookie_categories
    assert sp.table_rows == duck.table_rows


@needs_spark
def test_spark_findings_equal_the_planted_truth(shops):
    from toolkit.spark import UNSUPPORTED

    root, _, _, sp = shops
    expected: dict[str, set[str]] = defaultdict(set)
    with open(root / "exports" / "_truth" / "findings.csv", newline="") as f:
        for row in csv.DictReader(f):
            expected[row["rule_id"]].add(row["subject_id"])
    got: dict[str, set[str]] = defaultdict(set)
    for f in sp.findings:
        got[f["rule_id"]].add(f["subject_id"])
    checked = 0
    for rule in sorted(set(REGISTRY) - set(UNSUPPORTED)):
        assert got[rule] == expected[rule], rule
        checked += bool(expected[rule])
    assert checked >= 20


@needs_spark
def test_spark_outputs_are_the_duckdb_outputs(shops):
    import pandas as pd

    from toolkit.spark import UNSUPPORTED

    root, _, _, _ = shops
    d, s = root / "out-duckdb", root / "out-spark"
    dm, sm = (json.loads((p / "manifest.json").read_text()) for p in (d, s))
    assert sm["engine"] == "spark" and dm["engine"] == "duckdb"
    for key in ("exports", "export_files", "tables", "policy", "as_of", "timezone",
                "cookie_categories"):
        assert sm[key] == dm[key], key
    assert sm["findings"] == dm["findings"] - sum(dm["rules"][r]["violations"] for r in UNSUPPORTED)
    assert {r: v["violations"] for r, v in sm["rules"].items() if r not in UNSUPPORTED} == \
        {r: v["violations"] for r, v in dm["rules"].items() if r not in UNSUPPORTED}
    rules_d = pd.read_csv(d / "rules.csv").drop(columns=["seconds"])
    rules_s = pd.read_csv(s / "rules.csv").drop(columns=["seconds"])
    same = ~rules_s["missing"].fillna("").str.contains("not on Spark")
    pd.testing.assert_frame_equal(rules_s[same].reset_index(drop=True),
                                  rules_d[same].reset_index(drop=True), check_dtype=False)
    fd = pd.read_parquet(d / "findings.parquet").drop(columns=["run_id"])
    fs = pd.read_parquet(s / "findings.parquet").drop(columns=["run_id"])
    assert len(fs) == len(fd[fd["rule_id"].isin(set(fs["rule_id"]))])
    for p in (s / "findings.csv", s / "findings.parquet", s / "manifest.json"):
        assert p.stat().st_mode & 0o077 == 0, p


@needs_spark
def test_spark_run_is_stored_in_the_run_history_when_a_database_is_given(shops, spark):
    import duckdb

    root, db, _, _ = shops
    res = toolkit.audit(db, AS_OF, engine="spark", source=root / "parquet", spark=spark,
                        rules="RET-014")
    con = duckdb.connect(str(db), read_only=True)
    try:
        n = con.execute("SELECT findings FROM runs WHERE run_id = $1", [res.run_id]).fetchone()[0]
        stored = con.execute("SELECT count(*) FROM findings WHERE run_id = $1",
                             [res.run_id]).fetchone()[0]
    finally:
        con.close()
    assert n == stored == len(res.findings) > 0


@needs_spark
def test_spark_catalog_source_with_a_table_name_mapping(shops, spark):
    root, db, duck, _ = shops
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    for name in ("customers", "legal_holds"):
        target = "klanten" if name == "customers" else name
        spark.read.parquet(str(root / "parquet" / name)).write.mode("overwrite") \
            .saveAsTable(f"shop.{target}")
    res = toolkit.audit(None, AS_OF, engine="spark", source="catalog:shop", spark=spark,
                        tables={"customers": "klanten"}, rules="RET-014")
    want = sorted(_key(f) for f in duck.findings if f["rule_id"] == "RET-014")
    assert sorted(_key(f) for f in res.findings) == want and want


@needs_spark
def test_spark_source_errors_are_one_line(tmp_path, spark):
    from toolkit.exceptions import UnusableInputError, UsageError

    with pytest.raises(UsageError, match="--source"):
        toolkit.audit(None, AS_OF, engine="spark", spark=spark)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnusableInputError, match="export --parquet"):
        toolkit.audit(None, AS_OF, engine="spark", source=tmp_path / "empty", spark=spark)
    with pytest.raises(UnusableInputError, match="no canonical table"):
        toolkit.audit(None, AS_OF, engine="spark", source="catalog:nothing_here", spark=spark)
