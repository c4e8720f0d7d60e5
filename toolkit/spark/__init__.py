"""The Spark engine: the same policy and rules executed by Apache Spark (issue 19).

``toolkit.audit(None, as_of, engine="spark", source=PATH_OR_CATALOG, spark=SparkSession)`` (CLI:
``privaudit audit --engine spark --source S``). Each rule's DuckDB SQL is rendered for Spark
(``toolkit.spark.render``: macros expanded in Python, transpiled with SQLGlot); the engine
(``toolkit.spark.engine``) reads the canonical tables from Parquet folders or a Spark catalog.
Needs the ``spark`` extra (PySpark) and a Java runtime.
"""

#: rules the Spark engine does not run yet, each with the reason (the CLI prints them; a test
#: holds this list exact: a rule that renders and matches DuckDB must leave it)
# (the free-text scan builds its query from the database's own columns at run time, SET VARIABLE
# and query(getvariable()), and claims characters with list_reduce over structs)
_SCAN = "the free-text scan (toolkit.detect) is a DuckDB script"
UNSUPPORTED: dict[str, str] = {"SEC-002": _SCAN, "SEC-004": _SCAN, "SEC-006": _SCAN}
