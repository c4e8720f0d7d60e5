"""Personal data wherever it sits: the extra columns of an export, profiled by what they hold.

The loader keeps the columns of an export that the canonical schema does not know as extra text
columns (``load_log.notes.extra_columns``): a Shopify ``Billing Phone``, a helpdesk ``Requester
email``, a ``Remote address``. The schema cannot say what they hold, so their values say it.
:func:`install` (run by ``toolkit.findings.prepare`` for every audit and gate) profiles them in
DuckDB, limited to the rows dated at or before ``as_of`` like every other view:

``extra_values`` (view)
    every filled value of every extra column, long: ``tbl, col, id`` (the row's primary key),
    ``customer_id`` (when the row names one), ``ts`` (the row's event time) and ``value``. One
    UNPIVOT per table, so a table is read once however many extra columns it has. The free-text
    scan can read extra text columns from here too.
``extra_columns`` (table)
    one row per extra column: ``rows`` as of the audit, ``filled`` values, and the
    :data:`CATEGORIES` count that matches most of them (``category``, ``matching``, ``share``
    = matching / filled, ``first_seen``: the earliest event time of a filled row). ``personal``
    is true when ``share`` reaches the policy's ``personal_data.min_share`` and ``matching``
    its ``min_values``.
``personal_extras`` (table)
    per row that fills at least one personal extra column: ``tbl, id, customer_id, fields``. The
    retention and erasure rules (RET-001, RET-005, RET-006, RET-014, DSR-004) count these as
    personal data (``toolkit.rules.retention``), and TRN-001 reports the columns.

A value matches a category when all of it (trimmed) is one: an e-mail address, a phone number
(Dutch with ten digits, or international with + or 00), an IBAN (mod-97 and the country's
length), a card number (Luhn), a BSN (11-proof), a Dutch postcode with a house number, or an IP
address. The patterns are :data:`toolkit.masking.KINDS`'s, the one definition of what each kind
looks like, anchored; the checksums are the ``toolkit.detect`` macros. A column of order numbers
or SKUs is not personal: at most the odd value passes the 11-proof by chance, far below the
threshold.
"""

from __future__ import annotations

import duckdb

from . import schema
from .masking import KINDS, POSTCODE

#: categories of personal data an extra column may hold: name -> SQL test of one trimmed value ``v``
CATEGORIES: dict[str, str] = {
    "email": "regexp_full_match(v, {email})",
    "phone": ("CASE WHEN NOT regexp_full_match(v, {phone}) THEN false "
              "WHEN regexp_matches(v, '^(\\+|00)') THEN length(digits_only(v)) BETWEEN 9 AND 15 "
              "ELSE length(digits_only(v)) = 10 END"),
    # (the checksum macros cast characters: CASE makes sure they see well-formed values only)
    "iban": ("CASE WHEN regexp_full_match(v, {iban}) AND regexp_full_match(upper(regexp_replace("
             "v, '[ .\\-]', '', 'g')), '[A-Z]{{2}}[0-9]{{2}}[A-Z0-9]+') THEN iban_ok(upper("
             "regexp_replace(v, '[ .\\-]', '', 'g'))) ELSE false END"),
    "card": "CASE WHEN regexp_full_match(v, {card}) THEN luhn_ok(digits_only(v)) ELSE false END",
    "bsn": "CASE WHEN regexp_full_match(v, {bsn}) THEN bsn_ok(digits_only(v)) ELSE false END",
    # a postcode and, apart from it, a house number (1 to 5 digits)
    "postcode_house_number": ("regexp_matches(v, {postcode}) AND regexp_matches("
                              "regexp_replace(v, {postcode}, ' ', 'g'), "
                              "'(^|[^0-9])[0-9]{{1,5}}([^0-9]|$)')"),
    "ip_address": "regexp_full_match(v, {ip})",
}

#: how a category is masked (``toolkit.masking.KINDS``)
CATEGORY_KIND = {"email": "email", "phone": "phone", "iban": "iban", "card": "card", "bsn": "bsn",
                 "postcode_house_number": POSTCODE, "ip_address": "ip"}

#: what :func:`install` makes that a rule may take as its subject table (TRN-001: extra_columns)
AUDIT_TABLES = ("extra_columns",)

#: how a row of a table without customer_id reaches its customer
LINKS = {"chat_messages": ("chats", "chat_id")}


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def category_sql() -> dict[str, str]:
    """Each category's SQL test of ``v`` with the masking patterns filled in."""
    pats = {k: _lit(KINDS[k].pattern) for k in ("email", "phone", "iban", "card", "bsn", "ip")}
    pats["postcode"] = _lit(KINDS[POSTCODE].pattern)
    return {name: sql.format(**pats) for name, sql in CATEGORIES.items()}


def extra_columns(present: dict[str, set[str]]) -> dict[str, list[str]]:
    """The extra columns (kept from an export, unknown to the schema) of each canonical table."""
    out = {}
    for t in schema.TABLES:
        cols = present.get(t.name)
        if cols:
            extra = sorted(c for c in cols if not t.has(c))
            if extra:
                out[t.name] = extra
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def values_sql(catalog: str, extras: dict[str, list[str]], present: dict[str, set[str]]) -> str:
    """SQL of ``extra_values``: every filled value of every extra column, as of the audit."""
    parts = []
    for tname, cols in extras.items():
        t = schema.table(tname)
        base = f"{_q(catalog)}.main.{_q(tname)}"
        if "customer_id" in present[tname]:          # a schema column the export may lack
            cust, join = "x.customer_id", ""
        elif tname in LINKS and LINKS[tname][1] in present[tname]:
            other, key = LINKS[tname]
            cust = "l.customer_id"
            join = f" LEFT JOIN {_q(other)} l ON l.{_q(key)} = x.{_q(key)}"
        else:
            cust, join = "CAST(NULL AS VARCHAR)", ""
        dated = t.event_time is not None and t.event_time in present[tname]
        ts = f"x.{_q(t.event_time)}" if dated else "CAST(NULL AS TIMESTAMPTZ)"
        where = f" WHERE {ts} IS NULL OR {ts} <= (SELECT as_of FROM audit_params)" if dated else ""
        # one row per column and row (a list of (col, value) pairs unnested: DuckDB's UNPIVOT
        # in a form Spark SQL reads too, toolkit.spark); empty and NULL values dropped
        pairs = ", ".join(f"{{'col': {_lit(c)}, 'value': CAST(x.{_q(c)} AS VARCHAR)}}" for c in cols)
        inner = (f"SELECT CAST(x.{_q(t.primary_key)} AS VARCHAR) AS _id, CAST({cust} AS VARCHAR) "
                 f"AS _customer_id, CAST({ts} AS TIMESTAMPTZ) AS _ts, unnest([{pairs}]) AS _u "
                 f"FROM {base} x{join}{where}")
        parts.append(f"SELECT {_lit(tname)} AS tbl, _u['col'] AS col, _id AS id, "
                     f"_customer_id AS customer_id, _ts AS ts, _u['value'] AS value FROM "
                     f"({inner}) WHERE trim(_u['value']) <> ''")
    if not parts:
        return ("SELECT CAST(NULL AS VARCHAR) AS tbl, CAST(NULL AS VARCHAR) AS col, "
                "CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS customer_id, "
                "CAST(NULL AS TIMESTAMPTZ) AS ts, CAST(NULL AS VARCHAR) AS value WHERE false")
    return "\nUNION ALL\n".join(parts)


def install(con: duckdb.DuckDBPyConnection, catalog: str, present: dict[str, set[str]],
            min_share: float, min_values: int) -> dict[str, list[str]]:
    """Create ``extra_values``, ``extra_columns`` and ``personal_extras`` (see the module's
    docstring) on a connection prepared by ``toolkit.findings.prepare``; return the extras."""
    extras = extra_columns(present)
    (values, _), (columns, params), (personal, _) = queries(catalog, extras, present, min_share,
                                                             min_values)
    con.execute(f"CREATE OR REPLACE TEMP VIEW extra_values AS {values}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE extra_columns AS {columns}", params)
    con.execute(f"CREATE OR REPLACE TEMP TABLE personal_extras AS {personal}")
    return extras


def queries(catalog: str, extras: dict[str, list[str]], present: dict[str, set[str]],
            min_share: float, min_values: int) -> list[tuple[str, dict]]:
    """The queries (with their parameters) of ``extra_values``, ``extra_columns`` and
    ``personal_extras``, in that order (each reads the ones before it by name)."""
    cats = category_sql()
    counts = ", ".join(f"count_if({sql}) AS {_q(name)}" for name, sql in cats.items())
    # a tie goes to the category listed first
    listed = ", ".join(f"{{'cat': {_lit(name)}, 'n': {_q(name)}, 'pos': {i}}}"
                       for i, name in enumerate(cats))
    rows = " UNION ALL ".join(
        f"SELECT {_lit(t)} AS tbl, {_lit(c)} AS col, (SELECT count(*) FROM {_q(t)}) AS n_rows"
        for t, cols in extras.items() for c in cols) or \
        "SELECT CAST(NULL AS VARCHAR) AS tbl, CAST(NULL AS VARCHAR) AS col, 0 AS n_rows WHERE false"
    columns = f"""
        WITH cols AS ({rows}),
        counted AS (
            SELECT tbl, col, count(*) AS filled, min(ts) AS first_seen, {counts}
            FROM (SELECT tbl, col, ts, trim(value) AS v FROM extra_values) GROUP BY tbl, col),
        best AS (
            SELECT tbl, col, filled, first_seen,
                   arg_max(cat, n * 100 - pos) AS category, max(n) AS matching
            FROM (SELECT c.*, _u['cat'] AS cat, _u['n'] AS n, _u['pos'] AS pos
                  FROM (SELECT *, unnest([{listed}]) AS _u FROM counted) c)
            GROUP BY tbl, col, filled, first_seen)
        SELECT cols.tbl, cols.col, cols.n_rows AS rows, coalesce(b.filled, 0) AS filled,
               CASE WHEN b.matching > 0 THEN b.category END AS category,
               coalesce(b.matching, 0) AS matching,
               CASE WHEN b.filled > 0 THEN b.matching / b.filled ELSE 0 END AS share,
               b.first_seen,
               coalesce(b.matching >= $min_values AND b.matching / b.filled >= $min_share, false)
                   AS personal
        FROM cols LEFT JOIN best b USING (tbl, col)
        ORDER BY cols.tbl, cols.col"""
    personal = """
        SELECT v.tbl, v.id, any_value(v.customer_id) AS customer_id,
               list_sort(list(DISTINCT v.col)) AS fields
        FROM extra_values v JOIN extra_columns c ON c.tbl = v.tbl AND c.col = v.col AND c.personal
        GROUP BY v.tbl, v.id"""
    return [(values_sql(catalog, extras, present), {}),
            (columns, {"min_share": min_share, "min_values": min_values}), (personal, {})]


def found(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The profile of every extra column (``extra_columns``) after :func:`install`."""
    cur = con.execute("SELECT * FROM extra_columns ORDER BY tbl, col")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
