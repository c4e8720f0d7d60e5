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
    # findings.parquet and findings.csv, written by Spark: the DuckDB engine's rows, values, types
    # and order (the run ids aside), and its CSV byte for byte
    import pyarrow.parquet as pq
    fd = pq.read_table(d / "findings.parquet")
    fs = pq.read_table(s / "findings.parquet")
    assert fs.schema.remove_metadata() == fd.schema.remove_metadata()
    fd = fd.filter(pc_not_in(fd, sorted(UNSUPPORTED))).drop_columns(["run_id"])
    assert fs.drop_columns(["run_id"]).to_pylist() == fd.to_pylist() and fd.num_rows > 100
    run_d, run_s = dm["run_id"].encode(), sm["run_id"].encode()
    csv_d = [line for line in (d / "findings.csv").read_bytes().split(b"\r\n")
             if not any(f",{r},".encode() in line for r in UNSUPPORTED)]
    csv_s = (s / "findings.csv").read_bytes().split(b"\r\n")
    assert [line.replace(run_s, b"RUN") for line in csv_s] == \
        [line.replace(run_d, b"RUN") for line in csv_d]
    for p in (s / "findings.csv", s / "findings.parquet", s / "manifest.json"):
        assert p.stat().st_mode & 0o077 == 0, p
    # nothing left of Spark's own files: no staging folder, no part files, no checksums
    assert sorted(p.name for p in s.iterdir()) == ["findings.csv", "findings.parquet",
                                                    "manifest.json", "rules.csv"]


def pc_not_in(table, rule_ids):
    import pyarrow as pa
    import pyarrow.compute as pc
    return pc.invert(pc.is_in(table["rule_id"], value_set=pa.array(rule_ids)))


@needs_spark
def test_spark_findings_are_written_by_spark_not_collected(shops):
    from toolkit.findings import FindingsFile

    root, _, duck, sp = shops
    # the result holds the file Spark wrote; len() reads its footer, rows only when asked
    assert isinstance(sp.findings, FindingsFile)
    assert sp.findings.path == root / "out-spark" / "findings.parquet"
    fresh = FindingsFile(sp.findings.path)
    assert len(fresh) == len(duck.findings) - sum(
        1 for f in duck.findings if f["rule_id"] in ("SEC-002", "SEC-004", "SEC-006")) > 100
    assert fresh._rows is None
    assert [f["subject_id"] for f in fresh][:5] == [f["subject_id"] for f in sp.findings][:5]


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


# ---------------------------------------------------------------- masking in Spark SQL

@needs_spark
def test_the_spark_sql_masks_equal_the_python_masks_on_a_corpus(spark):
    """toolkit.masking.sql_mask rendered for Spark (toolkit.spark.render.mask_sql, SQLGlot and
    Java's regular expressions made to read RE2's patterns) shows every value as mask_value."""
    import random

    from tests.test_masking import SQL_CORPUS
    from toolkit import masking
    from toolkit.spark.render import mask_sql

    rng = random.Random(19)
    alphabet = "0123456789" * 4 + "abcXYZ@.-+ ()%:/\t\n\r\u0085\u2028\u00a0\u2003é😀ß'"
    values = SQL_CORPUS + ["a@b.nl\r", "x\u2028y@z.nl", "\u0085a@b.nl", "j@x.nl\n"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    kinds = [*masking.KINDS, *masking.WHOLLY_REDACTED]
    df = spark.createDataFrame(list(enumerate(values)), "i int, v string")
    got = df.selectExpr("i", *[f"{mask_sql(k, 'v')} AS m{n}" for n, k in enumerate(kinds)]) \
        .orderBy("i").collect()
    for v, row in zip(values, got):
        for n, kind in enumerate(kinds):
            assert row[f"m{n}"] == masking.mask_value(kind, v), (kind, v)


@needs_spark
def test_premasked_evidence_gives_the_python_findings(spark):
    """Declared kinds masked in Spark SQL, the rest by the Python workers: the same finding as
    the DuckDB engine's Python path, also for strings that look like JSON (parsed first there),
    lists, maps (in key order) and values of no declared kind."""
    from datetime import date
    from functools import partial

    from toolkit.findings import finding_row
    from toolkit.masking import masker
    from toolkit.spark.engine import FINDINGS_DDL, PREMASKED, mask_batches, premask

    rows = [("C1", "C1", "j.jansen@ziggo.nl", ["a@b.nl", None, "geen"], "Piet Jansen",
             "0612345678", {"b": 2, "a": 1}, "bel 06-12345678", date(2025, 1, 31)),
            ("C2", None, '["x@y.nl", "z@w.nl"]', None, '{"first": "Piet"}', None, {},
             "https://x.nl/?email=piet%40ziggo.nl", None),
            ("C3", "piet@ziggo.nl", "[redacted", [], None, " 06 1234 5678 ", None, None,
             date(2026, 2, 28))]
    df = spark.createDataFrame(rows, "subject_id string, customer_id string, email string, "
                               "emails array<string>, name string, phone string, "
                               "residue map<string,int>, note string, due_date date")
    df = df.selectExpr("subject_id", "customer_id", "due_date",
                       "named_struct('email', email, 'emails', emails, 'name', name, "
                       "'phone', phone, 'residue', residue, 'note', note) AS evidence")
    masked = premask(df)
    assert PREMASKED in masked.columns
    fn = partial(mask_batches, rule_id="X-1", severity="S2", subject_table="customers",
                 run_id="r", as_of="2026-10-31T23:59:59+01:00", as_of_date=date(2026, 10, 31),
                 reveal=False)
    got = [r.asDict() for r in masked.mapInArrow(fn, FINDINGS_DDL).orderBy("subject_id").collect()]
    shown = masker(False)
    want = []
    for sid, cid, email, emails, name, phone, residue, note, due in rows:
        ev = {"email": email, "emails": emails, "name": name, "phone": phone,
              "residue": dict(sorted(residue.items())) if residue is not None else None,
              "note": note}
        want.append(finding_row("X-1", "S2", "customers", {
            "subject_id": sid, "customer_id": cid, "due_date": due, "evidence": ev},
            "r", "2026-10-31T23:59:59+01:00", date(2026, 10, 31), False, shown))
    assert got == want
    assert "j***@ziggo.nl" in got[0]["details"] and "06******78" in got[0]["details"]
