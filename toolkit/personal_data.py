"""Personal data wherever it sits: the extra columns of an export, profiled by what they hold.

The loader keeps the columns of an export that the canonical schema does not know as extra text
columns (``load_log.notes.extra_columns``): a Shopify ``Billing Phone``, a helpdesk ``Requester
email``, a ``Remote address``. The schema cannot say what they hold, so their values say it.
:func:`install` (run by ``toolkit.findings.prepare`` for every audit and gate) profiles them in
DuckDB, limited to the rows dated at or before ``as_of`` like every other view:

``extra_values`` (view)
    every filled value of every extra column, long: ``tbl, col, id`` (the row's primary key),
    ``customer_id`` (when the row names one), ``ts`` (the row's event time) and ``value``, for a
    look at the values (the profile below does not go through this long form).
``extra_columns`` (table)
    one row per extra column: ``rows`` as of the audit, ``filled`` values, and the
    :data:`CATEGORIES` count that matches most of them (``category``, ``matching``, ``share``
    = matching / filled, ``first_seen``: the earliest event time of a filled row). ``personal``
    is true when ``share`` reaches the policy's ``personal_data.min_share`` and ``matching``
    its ``min_values``. One aggregate per table: its rows are read once and every category is
    tested on every filled value of every extra column in that pass (no sample: a column's
    verdict counts all its values).
``personal_extras`` (table)
    per row that fills at least one personal extra column: ``tbl, id, customer_id, fields``
    (sorted), from one more pass per table (no tests, only which personal columns are filled).
    The retention and erasure rules (RET-001, RET-005, RET-006, RET-014, DSR-004) count these as
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
    "email": "regexp_full_match({v}, {email})",
    "phone": ("CASE WHEN NOT regexp_full_match({v}, {phone}) THEN false "
              "WHEN regexp_matches({v}, '^(\\+|00)') THEN length(digits_only({v})) BETWEEN 9 AND 15 "
              "ELSE length(digits_only({v})) = 10 END"),
    # (the checksum macros cast characters: CASE makes sure they see well-formed values only)
    "iban": ("CASE WHEN regexp_full_match({v}, {iban}) AND regexp_full_match(upper(regexp_replace("
             "{v}, '[ .\\-]', '', 'g')), '[A-Z]{{2}}[0-9]{{2}}[A-Z0-9]+') THEN iban_ok(upper("
             "regexp_replace({v}, '[ .\\-]', '', 'g'))) ELSE false END"),
    "card": "CASE WHEN regexp_full_match({v}, {card}) THEN luhn_ok(digits_only({v})) ELSE false END",
    "bsn": "CASE WHEN regexp_full_match({v}, {bsn}) THEN bsn_ok(digits_only({v})) ELSE false END",
    # a postcode and, apart from it, a house number (1 to 5 digits)
    "postcode_house_number": ("regexp_matches({v}, {postcode}) AND regexp_matches("
                              "regexp_replace({v}, {postcode}, ' ', 'g'), "
                              "'(^|[^0-9])[0-9]{{1,5}}([^0-9]|$)')"),
    "ip_address": "regexp_full_match({v}, {ip})",
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


def category_sql(v: str = "v") -> dict[str, str]:
    """Each category's SQL test of the trimmed value ``v`` (a column name or expression) with
    the masking patterns filled in."""
    pats = {k: _lit(KINDS[k].pattern) for k in ("email", "phone", "iban", "card", "bsn", "ip")}
    pats["postcode"] = _lit(KINDS[POSTCODE].pattern)
    return {name: sql.format(v=v, **pats) for name, sql in CATEGORIES.items()}


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


def _source(catalog: str, tname: str, present: dict[str, set[str]]) -> tuple[str, str, str]:
    """(FROM clause with the customer link and the as_of limit, customer_id, event time) of the
    rows of ``tname`` as of the audit, its raw table aliased ``x`` (extra columns included)."""
    t = schema.table(tname)
    base = f"{_q(catalog)}.main.{_q(tname)} x"
    if "customer_id" in present[tname]:          # a schema column the export may lack
        cust = "x.customer_id"
    elif tname in LINKS and LINKS[tname][1] in present[tname]:
        other, key = LINKS[tname]
        cust = "l.customer_id"
        base += f" LEFT JOIN {_q(other)} l ON l.{_q(key)} = x.{_q(key)}"
    else:
        cust = "CAST(NULL AS VARCHAR)"
    if t.event_time is not None and t.event_time in present[tname]:
        ts = f"x.{_q(t.event_time)}"
        base += f" WHERE {ts} IS NULL OR {ts} <= (SELECT as_of FROM audit_params)"
    else:
        ts = "CAST(NULL AS TIMESTAMPTZ)"
    return base, f"CAST({cust} AS VARCHAR)", f"CAST({ts} AS TIMESTAMPTZ)"


def values_sql(catalog: str, extras: dict[str, list[str]], present: dict[str, set[str]]) -> str:
    """SQL of ``extra_values``: every filled value of every extra column, as of the audit."""
    parts = []
    for tname, cols in extras.items():
        src, cust, ts = _source(catalog, tname, present)
        pk = schema.table(tname).primary_key
        # one row per column and row (a list of (col, value) pairs unnested: DuckDB's UNPIVOT
        # in a form Spark SQL reads too, toolkit.spark); empty and NULL values dropped
        pairs = ", ".join(f"{{'col': {_lit(c)}, 'value': CAST(x.{_q(c)} AS VARCHAR)}}" for c in cols)
        inner = (f"SELECT CAST(x.{_q(pk)} AS VARCHAR) AS _id, {cust} AS _customer_id, {ts} AS _ts, "
                 f"unnest([{pairs}]) AS _u FROM {src}")
        parts.append(f"SELECT {_lit(tname)} AS tbl, _u['col'] AS col, _id AS id, "
                     f"_customer_id AS customer_id, _ts AS ts, _u['value'] AS value FROM "
                     f"({inner}) WHERE trim(_u['value']) <> ''")
    if not parts:
        return ("SELECT CAST(NULL AS VARCHAR) AS tbl, CAST(NULL AS VARCHAR) AS col, "
                "CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS customer_id, "
                "CAST(NULL AS TIMESTAMPTZ) AS ts, CAST(NULL AS VARCHAR) AS value WHERE false")
    return "\nUNION ALL\n".join(parts)


def counts_sql(catalog: str, extras: dict[str, list[str]], present: dict[str, set[str]]) -> str:
    """SQL of the per-column counts: ``tbl, col, rows`` (of the table as of the audit),
    ``filled``, ``first_seen`` and one count per category. One aggregate per table: its rows are
    read once, every extra column's trimmed value tested in the same pass (no long form)."""
    cats = category_sql("v")
    parts = []
    for tname, cols in extras.items():
        src, _, ts = _source(catalog, tname, present)
        trimmed = ", ".join(f"trim(CAST(x.{_q(c)} AS VARCHAR)) AS _v{i}" for i, c in enumerate(cols))
        aggs, per_col = [], []
        for i, c in enumerate(cols):
            v = f"_v{i}"
            tests = category_sql(v)
            aggs += [f"count(CASE WHEN {v} <> '' THEN 1 END) AS _f{i}", f"min(CASE WHEN {v} <> '' THEN _ts END) AS _t{i}"]
            aggs += [f"count_if({v} <> '' AND {tests[name]}) AS _n{i}_{j}" for j, name in enumerate(cats)]
            counts = ", ".join(f"{_lit(name)}: _n{i}_{j}" for j, name in enumerate(cats))
            per_col.append(f"{{'col': {_lit(c)}, 'filled': _f{i}, 'first_seen': _t{i}, {counts}}}")
        agg = (f"SELECT count(*) AS _rows, {', '.join(aggs)} "
               f"FROM (SELECT {ts} AS _ts, {trimmed} FROM {src})")
        names = ", ".join(f"_u[{_lit(name)}] AS {_q(name)}" for name in cats)
        parts.append(f"SELECT {_lit(tname)} AS tbl, _u['col'] AS col, _rows AS n_rows, "
                     f"_u['filled'] AS filled, _u['first_seen'] AS first_seen, {names} "
                     f"FROM (SELECT _rows, unnest([{', '.join(per_col)}]) AS _u FROM ({agg}))")
    if not parts:
        nulls = ", ".join(f"0 AS {_q(name)}" for name in cats)
        return ("SELECT CAST(NULL AS VARCHAR) AS tbl, CAST(NULL AS VARCHAR) AS col, 0 AS n_rows, "
                f"0 AS filled, CAST(NULL AS TIMESTAMPTZ) AS first_seen, {nulls} WHERE false")
    return "\nUNION ALL\n".join(parts)


def personal_sql(catalog: str, extras: dict[str, list[str]], present: dict[str, set[str]]) -> str:
    """SQL of ``personal_extras`` (after ``extra_columns``): per table, one pass over its rows
    listing the personal extra columns each fills (rows filling none are left out). Which columns
    are personal comes from ``extra_columns`` as one row of flags joined to every row (Spark SQL
    allows no subquery inside the list function)."""
    parts = []
    for tname, cols in extras.items():
        src, cust, _ = _source(catalog, tname, present)
        pk = schema.table(tname).primary_key
        filled = ", ".join(f"CASE WHEN trim(CAST(x.{_q(c)} AS VARCHAR)) <> '' THEN {_lit(c)} END "
                           f"AS _f{i}" for i, c in enumerate(cols))
        flags = ", ".join(f"coalesce(bool_or(col = {_lit(c)} AND personal), false) AS _p{i}"
                          for i, c in enumerate(cols))
        items = ", ".join(f"CASE WHEN p._p{i} THEN r._f{i} END" for i in range(len(cols)))
        parts.append(f"SELECT {_lit(tname)} AS tbl, r._id AS id, r._customer_id AS customer_id, "
                     f"list_sort(list_filter([{items}], lambda f: f IS NOT NULL)) AS fields "
                     f"FROM (SELECT CAST(x.{_q(pk)} AS VARCHAR) AS _id, {cust} AS _customer_id, "
                     f"{filled} FROM {src}) r CROSS JOIN (SELECT {flags} FROM extra_columns "
                     f"WHERE tbl = {_lit(tname)}) p")
    if not parts:
        return ("SELECT CAST(NULL AS VARCHAR) AS tbl, CAST(NULL AS VARCHAR) AS id, "
                "CAST(NULL AS VARCHAR) AS customer_id, CAST([] AS VARCHAR[]) AS fields WHERE false")
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE len(fields) > 0"


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
    ``personal_extras``, in that order (``personal_extras`` reads ``extra_columns`` by name).
    Each table with extra columns is read twice: once for the profile (every category tested on
    every value in one aggregate) and once for the rows that fill a personal column."""
    cats = category_sql()
    # a tie goes to the category listed first
    listed = ", ".join(f"{{'cat': {_lit(name)}, 'n': {_q(name)}, 'pos': {i}}}"
                       for i, name in enumerate(cats))
    columns = f"""
        WITH cols AS ({counts_sql(catalog, extras, present)}),
        best AS (
            SELECT tbl, col, filled, first_seen,
                   arg_max(cat, n * 100 - pos) AS category, max(n) AS matching
            FROM (SELECT c.*, _u['cat'] AS cat, _u['n'] AS n, _u['pos'] AS pos
                  FROM (SELECT *, unnest([{listed}]) AS _u FROM cols WHERE filled > 0) c)
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
    return [(values_sql(catalog, extras, present), {}),
            (columns, {"min_share": min_share, "min_values": min_values}),
            (personal_sql(catalog, extras, present), {})]


def found(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The profile of every extra column (``extra_columns``) after :func:`install`."""
    cur = con.execute("SELECT * FROM extra_columns ORDER BY tbl, col")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
