"""The audit executed by Apache Spark (``toolkit.audit(..., engine="spark")``).

The source is the canonical tables as Parquet folders (one per table: what ``privaudit export
--parquet`` writes from a loaded database) or tables of a Spark catalog (a table-name mapping
says which). Each table is shown to the rules as a temporary view exactly like DuckDB's audit
views: every schema column (absent ones as typed NULLs), only rows dated at or before ``as_of``.
The policy's small tables, the cookie classes and the personal-data profile of the extra export
columns are made the same way; then every rule's rendered query (``toolkit.spark.render``) runs
with the policy values bound as named parameters. The rule loop, masking and outputs are the
DuckDB engine's own (``toolkit.findings.evaluate``, ``write_outputs``).
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from .. import cookies, personal_data, schema
from ..exceptions import PrivauditError, UnusableInputError
from ..policy import Policy
from ..rules import Rule
from . import UNSUPPORTED
from .render import rule_sql, to_spark

#: DuckDB column types (toolkit.schema.TYPES) in Spark
SPARK_TYPES = {"VARCHAR": "string", "TIMESTAMPTZ": "timestamp", "DATE": "date",
               "BOOLEAN": "boolean", "INTEGER": "int", "BIGINT": "bigint",
               "DECIMAL(18,2)": "decimal(18,2)", "VARCHAR[]": "array<string>"}

#: what the engine sets on a session it is given or makes (the README's cluster section)
SETTINGS = {
    "spark.sql.legacy.sizeOfNull": "false",         # size(NULL) is NULL, as DuckDB's len
    "spark.sql.ansi.enabled": "true",               # a bad cast is an error, as in DuckDB
    # Spark 4.x's constraint propagation fails on RET-001's residue UNION (a key of the
    # customer_id attribute map not found: an optimizer error, not a data one)
    "spark.sql.constraintPropagation.enabled": "false",
}

#: the load log written next to the Parquet folders by ``privaudit export --parquet``
from ..export import LOAD_LOG  # noqa: E402


class SparkUnavailable(PrivauditError):
    """PySpark or a Java runtime is missing."""


def session(master: str | None = None, shuffle_partitions: int = 4, timezone: str = "Europe/Amsterdam",
            warehouse: str | Path | None = None, codegen: bool = True):
    """A local SparkSession for the audit (a cluster's session comes from ``spark-submit``);
    ``warehouse``: where a local catalog keeps its tables (Spark's default: ./spark-warehouse);
    ``codegen=False`` skips whole-stage code generation, which on small data costs more than it
    saves (the tests: a generated shop's audit takes half the time). ``master``: SPARK_MASTER,
    else ``local[2]``."""
    import shutil
    import sys
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("the Spark engine needs PySpark: pip install 'privaudit[spark]'") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable("the Spark engine needs a Java runtime (17 or later): none found")
    master = master or os.environ.get("SPARK_MASTER") or "local[2]"
    # the Python workers (they mask the findings) run this interpreter, with the toolkit
    if not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = (SparkSession.builder.master(master).appName("privaudit")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.sql.session.timeZone", timezone)
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC"))
    if not codegen:
        builder = builder.config("spark.sql.codegen.wholeStage", "false")
    if warehouse is not None:
        builder = builder.config("spark.sql.warehouse.dir", str(Path(warehouse).resolve()))
    for k, v in SETTINGS.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    return spark


def configure(spark, timezone: str) -> None:
    spark.conf.set("spark.sql.session.timeZone", timezone)
    for k, v in SETTINGS.items():
        spark.conf.set(k, v)


# ---------------------------------------------------------------- the source

def source_frames(spark, source: str | Path, tables: dict[str, str] | None = None) -> dict:
    """The DataFrame of each canonical table the source has: a Parquet folder per table under
    ``source``, or (``source`` = ``catalog:NAME`` or a name without a folder) tables of the
    Spark catalog, named by ``tables`` (canonical name -> catalog table) or by their own names."""
    frames = {}
    folder = Path(str(source))
    if folder.is_dir():
        for t in schema.TABLES:
            name = (tables or {}).get(t.name, t.name)
            path = folder / name
            if path.is_dir() and any(path.glob("*.parquet")):
                frames[t.name] = spark.read.parquet(str(path))
        if not frames:
            raise UnusableInputError(f"{source}: no table's Parquet folder found (write them with "
                                     "'privaudit export --parquet')")
        return frames
    prefix = str(source).removeprefix("catalog:")
    for t in schema.TABLES:
        name = (tables or {}).get(t.name, t.name)
        full = f"{prefix}.{name}" if prefix and prefix != "." else name
        if spark.catalog.tableExists(full):
            frames[t.name] = spark.table(full)
    if not frames:
        raise UnusableInputError(f"{source}: not a folder, and no canonical table in the Spark "
                                 f"catalog {prefix!r}")
    return frames


def _lit(spark, value):
    """A bound parameter's value as a Spark literal Column (lists as typed arrays)."""
    from pyspark.sql import functions as F
    if isinstance(value, (list, tuple)):
        if not value:
            return F.array().cast("array<string>")
        return F.array(*[F.lit(v) for v in value])
    return F.lit(value)


def prepare(spark, frames: dict, policy: Policy, as_of: datetime) -> dict[str, set[str]]:
    """The audit's temporary views (toolkit.findings.prepare's, in Spark); what exists."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    configure(spark, policy.timezone)
    present = {t: set(df.columns) for t, df in frames.items()}
    cut = F.lit(as_of)
    for t in schema.TABLES:
        df = frames.get(t.name)
        if df is None:
            cols = [F.lit(None).cast(SPARK_TYPES[c.type]).alias(c.name) for c in t.columns]
            view = spark.range(0).select(*cols)
        else:
            cols = [(F.col(f"`{c.name}`").cast(SPARK_TYPES[c.type]) if c.name in present[t.name]
                     else F.lit(None).cast(SPARK_TYPES[c.type])).alias(c.name) for c in t.columns]
            raw = df
            if t.event_time and t.event_time in present[t.name]:
                et = F.col(f"`{t.event_time}`")
                raw = df.where(et.isNull() | (et <= cut))
            view = raw.select(*cols)
            df.createOrReplaceTempView(f"_source_{t.name}")
        view.createOrReplaceTempView(t.name)
    spark.createDataFrame([(as_of,)], "as_of timestamp").createOrReplaceTempView("audit_params")
    spark.createDataFrame([(n,) for n in sorted(present)], "table_name string") \
        .createOrReplaceTempView("audit_tables")
    _policy_tables(spark, policy)
    _cookie_tables(spark, policy)
    _personal_data(spark, present, policy)
    return present


def _policy_tables(spark, policy: Policy) -> None:
    s = policy.sharing
    spark.createDataFrame([(cat, f) for cat, fields in s.default_allowed_fields.items() for f in fields],
                          "category string, field string").createOrReplaceTempView("policy_default_fields")
    spark.createDataFrame([(a.country, a.valid_from, a.valid_to, a.scope) for a in s.adequacy],
                          "country string, valid_from date, valid_to date, scope string") \
        .createOrReplaceTempView("policy_adequacy")
    spark.createDataFrame(
        [(name, m.valid_from, m.valid_to, m.signed_from, m.signed_before, m.requires_certification,
          m.manual_review, m.invalid) for name, m in s.mechanisms.items()],
        "mechanism string, valid_from date, valid_to date, signed_from date, signed_before date, "
        "requires_certification boolean, manual_review boolean, invalid boolean") \
        .createOrReplaceTempView("policy_mechanisms")


def _cookie_tables(spark, policy: Policy) -> None:
    import csv
    with open(cookies.CLASSES, newline="", encoding="utf-8") as f:
        rows = [(r["name"], r["is_prefix"] == "1", r["domains"].split("|") if r["domains"] else None,
                 r["category"], r["vendor"]) for r in csv.DictReader(f)]
    spark.createDataFrame(rows, "name string, is_prefix boolean, domains array<string>, "
                                "category string, vendor string").createOrReplaceTempView("cookie_classes")
    spark.createDataFrame([(i, t.pattern, t.category, t.vendor)
                           for i, t in enumerate(policy.cookies.tracker_patterns)],
                          "pos int, pattern string, category string, vendor string") \
        .createOrReplaceTempView("policy_trackers")




def _personal_data(spark, present: dict[str, set[str]], policy: Policy) -> None:
    extras = personal_data.extra_columns(present)
    names = ("extra_values", "extra_columns", "personal_extras")
    for name, (sql, params) in zip(names, personal_data.queries("_privaudit_source", extras, present,
                                                                 policy.personal_data.min_share,
                                                                 policy.personal_data.min_values)):
        rendered = to_spark(sql, policy.timezone, raw_prefix="_source_")
        df = query(spark, rendered, params)
        if name != "extra_values":
            df = df.cache()
        df.createOrReplaceTempView(name)


# ---------------------------------------------------------------- running

PARAM_RE = re.compile(r":([a-z_][a-z0-9_]*)")


def _python(value):
    """A collected Spark value as DuckDB's Python client gives it (Rows as dicts)."""
    from pyspark.sql import Row
    if isinstance(value, Row):
        return {k: _python(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, dict):
        # a MAP: PySpark's collect loses its order (a Java hash map on the way); the rules build
        # their maps in key order (the residue map: ORDER BY tbl), so key order restores it
        return {k: _python(value[k]) for k in sorted(value, key=lambda k: (k is None, str(k)))}
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value


def query(spark, sql: str, params: dict):
    """``spark.sql`` with the parameters ``sql`` names bound (an empty list, which Spark cannot
    bind, is written as the empty array of strings it is)."""
    names = set(PARAM_RE.findall(sql)) & params.keys()
    for k in [k for k in names if isinstance(params[k], (list, tuple)) and not params[k]]:
        sql = re.sub(rf":{k}\b", "CAST(ARRAY() AS ARRAY<STRING>)", sql)
        names.discard(k)
    return spark.sql(sql, args={k: _lit(spark, params[k]) for k in names})


def run_rule(spark, rule: Rule, policy: Policy, params: dict) -> tuple[list[dict], int, int]:
    """(violation rows, population, excluded count) of one rule, on Spark, collected to the
    driver (for a look at a few rows; the audit writes them with :func:`write_rule`)."""
    sql, pop_sql = rule_sql(rule, policy)

    from py4j.protocol import Py4JJavaError
    try:
        rows = [_python(r.asDict(recursive=False)) for r in query(spark, sql, params).collect()]
        population = query(spark, pop_sql, params).collect()[0][0]
    except Py4JJavaError as e:       # Spark's own failure: its message, not py4j's
        raise PrivauditError(f"Spark: {e.java_exception.toString()}") from None
    excluded = sum(1 for r in rows if r.get("excluded"))
    return [r for r in rows if not r.get("excluded")], int(population or 0), excluded


# ---------------------------------------------------------------- findings, masked and written by Spark

#: the findings' columns as Spark writes them (toolkit.findings.FINDINGS_ARROW)
FINDINGS_DDL = ("run_id string, as_of string, rule_id string, severity string, subject_table string, "
                "subject_id string, customer_id string, evidence string, details string, "
                "due_date date, days_overdue bigint")
#: the column that lists the evidence keys masked in Spark SQL (toolkit.masking.mask_evidence)
PREMASKED = "_privaudit_premasked"
#: a rule's result columns a finding is made from (toolkit.findings.finding_row)
ROW_COLUMNS = ("subject_id", "customer_id", "subject_table", "severity", "evidence", "due_date",
               "days_overdue")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def premask(df):
    """``df`` with the evidence values under a key of a declared kind (toolkit.masking.KEY_KINDS)
    masked in Spark SQL (:func:`toolkit.spark.render.mask_sql`: the one masking definition,
    rendered through SQLGlot), and the column :data:`PREMASKED` listing, per row, the keys it
    masked. Strings and lists of strings are masked; a string that starts like JSON (``{``,
    ``[``) is left to the Python step, which parses it first (``toolkit.findings``), as are
    values of other types."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from ..masking import KEY_KINDS
    from .render import mask_sql

    if "evidence" not in df.columns or not isinstance(df.schema["evidence"].dataType, T.StructType):
        return df
    fields, flags = [], []
    for f in df.schema["evidence"].dataType.fields:
        ref = f"evidence.{_quote(f.name)}"
        kind = KEY_KINDS.get(f.name)
        value = ref
        if kind is not None and isinstance(f.dataType, T.StringType):
            plain = f"{ref} IS NOT NULL AND left({ref}, 1) NOT IN ('{{', '[')"
            value = f"CASE WHEN {plain} THEN {mask_sql(kind, ref)} ELSE {ref} END"
            flags.append(f"CASE WHEN {plain} THEN {_literal(f.name)} END")
        elif kind is not None and isinstance(f.dataType, T.ArrayType) and \
                isinstance(f.dataType.elementType, T.StringType):
            value = f"transform({ref}, _privaudit_x -> {mask_sql(kind, '_privaudit_x')})"
            flags.append(f"CASE WHEN {ref} IS NOT NULL THEN {_literal(f.name)} END")
        fields += [_literal(f.name), value]
    if not flags:
        return df
    evidence = f"CASE WHEN evidence IS NULL THEN NULL ELSE named_struct({', '.join(fields)}) END"
    listed = f"filter(array({', '.join(flags)}), _privaudit_k -> _privaudit_k IS NOT NULL)"
    return df.withColumn("evidence", F.expr(evidence)).withColumn(PREMASKED, F.expr(listed))


def _py(value, kind):
    """An Arrow value (``to_pylist``) as DuckDB's Python client gives it: maps as dicts in key
    order (the rules build their maps in key order; Arrow keeps Spark's hash order)."""
    import pyarrow as pa
    if value is None:
        return None
    if pa.types.is_struct(kind):
        return {f.name: _py(value[f.name], f.type) for f in kind}
    if pa.types.is_map(kind):
        d = {k: _py(v, kind.item_type) for k, v in value}
        return {k: d[k] for k in sorted(d, key=lambda k: (k is None, str(k)))}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [_py(v, kind.value_type) for v in value]
    return value


def mask_batches(batches, rule_id: str, severity: str, subject_table: str | None, run_id: str,
                 as_of: str, as_of_date: date, reveal: bool):
    """Arrow batches of a rule's result rows -> batches of its findings: the same
    ``toolkit.findings.finding_row`` as the DuckDB engine's, run by Spark's Python workers
    (``mapInArrow``), so the rows are masked where they are and never reach the driver."""
    import pyarrow as pa

    from ..findings import FINDINGS_ARROW, finding_row
    from ..masking import masker

    shown = masker(reveal)
    schema_out = FINDINGS_ARROW()
    for batch in batches:
        cols = {name: [_py(v, batch.schema.field(name).type) for v in batch.column(name).to_pylist()]
                for name in batch.schema.names}
        rows = []
        for i in range(batch.num_rows):
            row = {k: v[i] for k, v in cols.items()}
            rows.append(finding_row(rule_id, severity, subject_table, row, run_id, as_of,
                                    as_of_date, reveal, shown, premasked=row.get(PREMASKED) or ()))
        yield pa.RecordBatch.from_pylist(rows, schema=schema_out)


def _truthy(df, name: str):
    """Python's truth of the column ``name`` (the DuckDB engine's ``row.get(name)``): a rule
    marks an excluded row with true or with the reason's text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if name not in df.columns:
        return F.lit(False)
    c, kind = F.col(name), df.schema[name].dataType
    if isinstance(kind, T.BooleanType):
        return F.coalesce(c, F.lit(False))
    if isinstance(kind, T.StringType):
        return F.coalesce(c != F.lit(""), F.lit(False))
    if isinstance(kind, T.NumericType):
        return F.coalesce(c != F.lit(0), F.lit(False))
    return c.isNotNull()


def write_rule(spark, rule: Rule, policy: Policy, params: dict, stage: Path, run_id: str,
               as_of: datetime, as_of_date: date, reveal: bool) -> tuple[int, int, int]:
    """(findings, population, excluded count) of one rule, on Spark: its result rows are masked
    (in Spark SQL, then by the Python workers: :func:`premask`, :func:`mask_batches`) and
    written as Parquet to ``stage/<rule id>``; the counts are observed on the way (one pass)."""
    import shutil
    from functools import partial

    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    sql, pop_sql = rule_sql(rule, policy)
    df = query(spark, sql, params)
    excluded = _truthy(df, "excluded")
    seen = Observation(f"privaudit_{rule.id}")
    df = df.observe(seen, F.count(F.lit(1)).alias("rows"), F.count_if(excluded).alias("excluded")) \
        .where(~excluded)
    if not reveal:
        df = premask(df)
    df = df.select(*[c for c in (*ROW_COLUMNS, PREMASKED) if c in df.columns])
    spec = policy.rule(rule.id)
    fn = partial(mask_batches, rule_id=rule.id, severity=spec.severity,
                 subject_table=rule.subject_table, run_id=run_id, as_of=as_of.isoformat(),
                 as_of_date=as_of_date, reveal=reveal)
    path = stage / rule.id
    try:
        df.mapInArrow(fn, FINDINGS_DDL).write.mode("overwrite").parquet(str(path))
        population = query(spark, pop_sql, params).collect()[0][0]
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    m = seen.get
    rows, ex = int(m.get("rows") or 0), int(m.get("excluded") or 0)
    return rows - ex, int(population or 0), ex


def write_findings(spark, stage: Path, order: list[str], target: Path) -> Path:
    """The staged findings of the rules (``stage/<rule id>``) as ``target/findings.parquet`` and
    ``target/findings.csv``, written by Spark in the order of every engine
    (``toolkit.findings.SORT_COLUMNS``): Parquet with the DuckDB engine's columns, and the same
    spreadsheet-safe CSV (``toolkit.outputs``: formula starts quoted, RFC 4180 quoting, CRLF)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from .. import outputs
    from ..findings import CSV_TEXT_COLUMNS, FINDING_COLUMNS, FINDINGS_ARROW, SORT_COLUMNS
    from .render import safe_cell_sql

    parts = [str(stage / r) for r in order if (stage / r).is_dir()]
    df = (spark.read.schema(FINDINGS_DDL).parquet(*parts) if parts
          else spark.createDataFrame([], FINDINGS_DDL))
    rank = F.lit(None).cast("int")
    for i, r in enumerate(order):
        rank = F.when(F.col("rule_id") == F.lit(r), F.lit(i)).otherwise(rank)
    keys = [F.col("_rank")] + [F.col(c).asc_nulls_first() for c in SORT_COLUMNS]
    df = df.withColumn("due_date", F.col("due_date").cast("string")).withColumn("_rank", rank)
    done = stage / "_out"

    # Parquet: one file, in order
    df.repartition(1).sortWithinPartitions(*keys).select(*FINDING_COLUMNS) \
        .write.mode("overwrite").parquet(str(done / "parquet"))
    written = sorted((done / "parquet").glob("part-*.parquet"))
    if len(written) > 1:
        raise PrivauditError(f"Spark wrote {len(written)} findings files, not one")
    if written:
        os.replace(written[0], target / "findings.parquet")
    else:       # no findings: Spark wrote no part file
        schema_out = FINDINGS_ARROW()
        schema_out = schema_out.set(schema_out.get_field_index("due_date"),
                                    pa.field("due_date", pa.string()))
        pq.write_table(schema_out.empty_table(), target / "findings.parquet")

    # CSV: the header row, then each finding's line, built in Spark SQL
    def cell(c):
        v = F.expr(safe_cell_sql(_quote(c))) if c in CSV_TEXT_COLUMNS else F.col(c).cast("string")
        return (F.when(v.isNull(), F.lit(""))
                .when(v.rlike('[,"\r\n]'), F.concat(F.lit('"'), F.regexp_replace(v, '"', '""'), F.lit('"')))
                .otherwise(v))
    lines = df.select(F.lit(1).alias("_h"), *keys[:1], *[F.col(c) for c in SORT_COLUMNS],
                      F.concat_ws(",", *[cell(c) for c in FINDING_COLUMNS]).alias("value"))
    header = spark.createDataFrame([(0, ",".join(FINDING_COLUMNS))], "_h int, value string")
    lines = lines.unionByName(header, allowMissingColumns=True)
    lines.repartition(1).sortWithinPartitions(F.col("_h"), *keys).select("value") \
        .write.mode("overwrite").option("lineSep", "\r\n").text(str(done / "csv"))
    (text,) = sorted((done / "csv").glob("part-*"))
    os.replace(text, target / "findings.csv")
    shutil.rmtree(done, ignore_errors=True)
    for name in ("findings.parquet", "findings.csv"):
        outputs.make_private(target / name)
    return target / "findings.parquet"


def table_rows(spark, present: dict[str, set[str]]) -> dict[str, int]:
    return {t: spark.table(t).count() for t in sorted(present) if t in schema.TABLES_BY_NAME}


def load_log(source: str | Path) -> tuple[list, list] | None:
    """(files, all_files) of the manifest, from the load log ``export --parquet`` wrote."""
    path = Path(str(source)) / LOAD_LOG
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [tuple(r) for r in data.get("files", [])]
    latest = list({r[0]: r for r in reversed(rows)}.values())[::-1]
    return latest, rows


def errors() -> tuple[type, ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    return (PySparkException, Py4JJavaError, PrivauditError)


def audit(source, pol: Policy, chosen: list[Rule], as_of_ts: datetime, as_of_date: date,
          reveal: bool, say: Callable[[str], None], run_id: str, spark=None,
          tables: dict[str, str] | None = None, out=None):
    """(the AuditResult, the manifest's export files or None) of the chosen rules on Spark
    (``toolkit.findings.audit`` with ``engine="spark"`` calls this).

    The findings are masked and written by Spark (``out/findings.parquet`` and ``findings.csv``,
    through a private staging folder in ``out``; without ``out``, a private temporary folder that
    lives as long as the result): the result's ``findings`` is a
    :class:`toolkit.findings.FindingsFile`. On a cluster, ``out`` must be a folder the driver
    and the executors share."""
    import shutil
    import tempfile
    import weakref

    from .. import outputs
    from ..exceptions import UsageError
    from ..findings import AuditResult, FindingsFile, evaluate, parameters
    from ..rules.cookies import CLASSIFICATION

    if source is None:
        raise UsageError("--engine spark needs --source (the Parquet folders of 'privaudit "
                         "export --parquet', or catalog:NAME)")
    if spark is None:
        say("starting Spark (local)")
        spark = session(timezone=pol.timezone)
    frames = source_frames(spark, source, tables)
    present = prepare(spark, frames, pol, as_of_ts)
    params = parameters(pol, as_of_ts, as_of_date)
    temporary = out is None
    target = (Path(tempfile.mkdtemp(prefix="privaudit-spark-")) if temporary    # 0700
              else outputs.private_dir(Path(out)))
    stage = outputs.private_dir(target / f".privaudit-stage-{run_id}")
    try:
        results, _ = evaluate(
            chosen, pol, present,
            lambda r: write_rule(spark, r, pol, params, stage, run_id, as_of_ts, as_of_date, reveal),
            errors(), run_id, as_of_ts, as_of_date, reveal, say,
            unsupported={k: f"not on Spark: {v}" for k, v in UNSUPPORTED.items()})
        say("writing the findings")
        findings = FindingsFile(write_findings(spark, stage, [r.id for r in chosen], target))
    except BaseException:
        if temporary:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if temporary:       # the temporary folder goes when the findings do
        weakref.finalize(findings, shutil.rmtree, str(target), True)
    cookie_categories = {}
    if any(r.rule_id.startswith("CKE-") and r.status == "evaluated" for r in results):
        q = to_spark(CLASSIFICATION, pol.timezone)
        rows = query(spark, q, params).collect()
        cookie_categories = {r[0]: int(r[1]) for r in rows}
    result = AuditResult(run_id, as_of_ts, as_of_date, pol, results, findings,
                         Path(out) if out else None, 0.0, reveal, table_rows(spark, present),
                         cookie_categories=cookie_categories, engine="spark")
    return result, load_log(source)
