"""A rule's DuckDB SQL rendered as Spark SQL: the one definition, expanded and transpiled.

A rule is written once, as DuckDB SQL (``toolkit.rules``), with shared logic in DuckDB macros
(``toolkit.dates``, the rule families' ``MACROS``, ``toolkit.cookies.class_macro``). For Spark:

1. every macro call is expanded in Python: the macro's body is parsed once (SQLGlot, DuckDB
   dialect) and a call is replaced by the body with the arguments put in for the parameters (a
   table macro becomes a subquery), until no call is left;
2. the expanded query is transpiled with SQLGlot from DuckDB to Spark, with the few rewrites
   SQLGlot does not make (:func:`_spark_fixes`): DuckDB's 1-based lambda index, ``len`` of a
   list, ``list()``'s NULL elements, its ORDER BY and its NULL on no rows, ISO weekdays, interval
   arithmetic and full-string regular-expression matches;
3. a few macros mean the same on Spark through a built-in instead of their DuckDB body
   (:data:`SPARK_MACROS`): ``civil_date`` is a cast to DATE in the session's time zone (the engine
   sets ``spark.sql.session.timeZone`` to the policy's), ``add_months`` is Spark's own (it clamps
   to the month's end, as the macro does), ``next_working_day`` is computed (the DuckDB macro
   looks the answer up in a table of 1970-2100 only for speed; the computed form is the same
   macro's fallback).

Policy values and ``as_of`` stay bound parameters (``$name`` becomes Spark's ``:name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from .. import cookies, dates, rules
from ..policy import Policy

MACRO_RE = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+TEMP\s+MACRO\s+(\w+)\s*\(([^)]*)\)\s+AS\s+(TABLE\s+)?(.*)$",
                      re.S | re.I)

#: macros whose Spark form is a built-in (see the module's doc): name -> (params, DuckDB body)
SPARK_MACROS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "civil_date": (("ts",), "CAST(ts AS DATE)"),
    "add_months": (("d", "n"), None),            # None: Spark's own add_months, not expanded
    "next_working_day": (("d",), "_next_working_day_computed(d)"),
}


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: exp.Expression
    table: bool


class NotRenderable(Exception):
    """The rule's SQL uses something this renderer cannot express in Spark SQL."""


def _parse_macro(sql: str) -> tuple[str, tuple[str, ...], str, bool]:
    m = MACRO_RE.match(sql)
    if not m:
        raise ValueError(f"not a macro definition: {sql[:60]}")
    name, params, table, body = m.groups()
    return name, tuple(p.strip() for p in params.split(",") if p.strip()), body.strip(), bool(table)


def _duck(sql: str) -> exp.Expression:
    # DuckDB's len() of a list parses as LENGTH (of a string); array_length says which it is
    return sqlglot.parse_one(re.sub(r"\blen\(", "array_length(", sql), read="duckdb")


@lru_cache(maxsize=8)
def macros(timezone: str = "Europe/Amsterdam") -> dict[str, Macro]:
    """Every macro a rule may call, parsed, with the Spark forms of :data:`SPARK_MACROS`."""
    texts = [*dates.macros(timezone), dates.hold_macro(), *rules.MACROS, cookies.class_macro()]
    out: dict[str, Macro] = {}
    for sql in texts:
        name, params, body, table = _parse_macro(sql)
        if name in SPARK_MACROS:
            params, body = SPARK_MACROS[name]
            if body is None:
                continue
        out[name] = Macro(name, params, _duck(body), table)
    return out


def _call_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


def _args(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [v for k, v in node.args.items() if v is not None and k != "expressions"] + \
        list(node.args.get("expressions") or [])


def _substitute(body: exp.Expression, params: tuple[str, ...], args: list[exp.Expression]) -> exp.Expression:
    if len(args) != len(params):
        raise NotRenderable(f"macro called with {len(args)} arguments, takes {len(params)}")
    binding = dict(zip(params, args))

    def swap(node):
        if isinstance(node, exp.Column) and not node.table and node.name in binding:
            arg = binding[node.name].copy()
            return exp.Paren(this=arg) if not isinstance(arg, (exp.Column, exp.Literal, exp.Paren,
                                                                 exp.Placeholder)) else arg
        return node
    return body.copy().transform(swap)


def expand(tree: exp.Expression, table: dict[str, Macro]) -> exp.Expression:
    """``tree`` with every macro call replaced by its body (repeatedly: macros call macros)."""
    for _ in range(50):
        found = False

        def step(node):
            nonlocal found
            name = _call_name(node)
            m = table.get(name) if name else None
            if m is None:
                return node
            found = True
            args = _args(node)
            if m.body.find(exp.Select) is not None and any(
                    not c.table for a in args for c in a.find_all(exp.Column)
                    if not isinstance(c.parent, exp.Lambda)):
                # inside the macro's subquery an unqualified name would bind to its own tables
                raise NotRenderable(f"{name}(): qualify the column arguments (table.column)")
            body = _substitute(m.body, m.params, args)
            if m.table:
                alias = node.parent.alias if isinstance(node.parent, exp.Table) else None
                return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias))
                                    if alias else None)
            if isinstance(body, exp.Select):        # a scalar subquery macro
                return exp.Subquery(this=body)
            return exp.Paren(this=body)

        tree = tree.transform(step)
        # a table macro in FROM: Table(this=Subquery) -> Subquery
        for t in list(tree.find_all(exp.Table)):
            if isinstance(t.this, exp.Subquery):
                sub = t.this
                if t.alias:
                    sub.set("alias", exp.TableAlias(this=exp.to_identifier(t.alias)))
                t.replace(sub)
        if not found:
            return tree
    raise NotRenderable("macros nested too deep")


# ---------------------------------------------------------------- DuckDB -> Spark fixes

def _lambda_index(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``lambda x, i: ...`` counts i from 1; Spark's ``(x, i) -> ...`` from 0."""
    if isinstance(node, exp.Lambda) and len(node.expressions) == 2:
        idx = node.expressions[1].name
        uses = [n for n in node.this.find_all(exp.Column, exp.Identifier)
                if n.name == idx and not (isinstance(n, exp.Column) and n.table)
                and not isinstance(n.parent, exp.Column)]
        for n in uses:
            shifted = exp.Paren(this=exp.Add(this=exp.column(idx), expression=exp.Literal.number(1)))
            if n is node.this:
                node.set("this", shifted)
            else:
                n.replace(shifted)
    return node


def _template(spark_sql: str, x: exp.Expression) -> exp.Expression:
    """The Spark expression ``spark_sql`` with ``x`` put in for ``__x``."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    next(c for c in tree.find_all(exp.Column) if c.name == "__x").replace(x.copy())
    return tree


def _fix(node: exp.Expression) -> exp.Expression:
    # list(x [ORDER BY k]) [FILTER (WHERE c)]: NULL elements kept, the order kept, NULL on no rows
    if isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.Filter):
        return node                                 # fixed with its FILTER, below
    if isinstance(node, exp.ArrayAgg) or (isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg)):
        agg = node.this if isinstance(node, exp.Filter) else node
        where = node.expression if isinstance(node, exp.Filter) else None
        inner = agg.this
        keys: list[exp.Ordered] = []
        if isinstance(inner, exp.Order):
            keys = list(inner.expressions)
            inner = inner.this
        if isinstance(inner, exp.Distinct):         # list(DISTINCT x [ORDER BY x]): a sorted set
            if where is not None or any(k.args.get("desc") or k.this != inner.expressions[0] for k in keys):
                raise NotRenderable("list(DISTINCT ...) with a filter or another order")
            got = exp.Anonymous(this="collect_set", expressions=[inner.expressions[0].copy()])
            return exp.Anonymous(this="array_sort", expressions=[got]) if keys else got
        fields = [exp.alias_(
            exp.Mul(this=k.this.copy(), expression=exp.Literal.number(-1)) if k.args.get("desc")
            else k.this.copy(), f"k{i}") for i, k in enumerate(keys)]
        fields.append(exp.alias_(inner.copy(), "v"))
        collected = exp.Anonymous(this="collect_list", expressions=[exp.Struct(expressions=fields)])
        if where is not None:
            collected = exp.Filter(this=collected, expression=where.copy())
        if keys:
            collected = exp.Anonymous(this="array_sort", expressions=[collected])
        values = _template("transform(__x, s -> s.v)", collected)
        count = exp.Count(this=exp.Star())
        if where is not None:
            count = exp.Filter(this=count, expression=where.copy())
        return exp.Case(ifs=[exp.If(this=exp.GT(this=count, expression=exp.Literal.number(0)),
                                    true=values)])
    if isinstance(node, exp.Lambda):
        return _lambda_index(node)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and not (
            isinstance(node.expressions[0], exp.Literal) and node.expressions[0].is_string):
        # list[i]: DuckDB counts from 1 (NULL past the end), as Spark's try_element_at does;
        # SQLGlot has already made a literal index 0-based, an expression it leaves as written
        i = node.expressions[0]
        i = exp.Literal.number(int(i.this) + 1) if isinstance(i, exp.Literal) else i.copy()
        return exp.Anonymous(this="try_element_at", expressions=[node.this.copy(), i])
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38,0)")      # HUGEINT: Spark has no 128-bit integer
    if isinstance(node, exp.DayOfWeekIso):          # Monday 1 .. Sunday 7
        return exp.Paren(this=exp.Add(this=exp.Anonymous(this="weekday", expressions=[node.this.copy()]),
                                      expression=exp.Literal.number(1)))
    if isinstance(node, exp.RegexpFullMatch):       # the whole string, no final newline
        pat = node.expression
        if not isinstance(pat, exp.Literal):
            raise NotRenderable("regexp_full_match with a pattern that is not a literal")
        return exp.RegexpLike(this=node.this.copy(),
                              expression=exp.Literal.string(f"^(?:{pat.this})\\z"))
    if isinstance(node, (exp.RegexpLike, exp.RegexpExtract, exp.RegexpReplace)) and \
            isinstance(node.expression, exp.Literal) and node.expression.is_string:
        node.set("expression", exp.Literal.string(java_regex(node.expression.this)))
        return node
    if isinstance(node, exp.TimeToUnix) and isinstance(node.this, exp.Sub):   # epoch(a - b)
        a, b = node.this.this, node.this.expression
        micros = lambda x: exp.Anonymous(this="unix_micros", expressions=[x.copy()])  # noqa: E731
        return exp.Paren(this=exp.Div(this=exp.Paren(this=exp.Sub(this=micros(a), expression=micros(b))),
                                      expression=exp.Literal.number("1000000.0")))
    if isinstance(node, exp.ToDays):
        return exp.Anonymous(this="make_dt_interval", expressions=[node.this.copy()])
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "list_sum":
            return _template("aggregate(__x, CAST(0 AS BIGINT), (a, v) -> a + v)", node.expressions[0])
        if name == "list_reduce" and len(node.expressions) == 3:
            lst, fn, init = node.expressions
            return exp.Anonymous(this="aggregate", expressions=[lst.copy(), init.copy(), fn.copy()])
        if name == "list_bool_or":
            return _template("exists(__x, b -> b)", node.expressions[0])
    if isinstance(node, exp.Split) and isinstance(node.expression, exp.Literal) and node.expression.this == "":
        # one element per character (Spark's split on '' would add an empty last element)
        return exp.Anonymous(this="split", expressions=[node.this.copy(), exp.Literal.string("(?!$)")])
    return node


_END_RE = re.compile(r"(?<!\\)\$(?=$|\||\))")


def java_regex(pattern: str) -> str:
    """An RE2 (DuckDB) pattern as Java's regular expressions read it the same way: ``.`` and
    ``^``/``$`` know only ``\\n`` as a line end (Java's UNIX_LINES flag ``(?d)``: by default ``.``
    would not match ``\\r``, U+0085, U+2028, U+2029), and ``$`` is the end of the text (``\\z``;
    Java's ``$`` also matches before a final line end, RE2's does not)."""
    if pattern.startswith("(?d)"):
        return pattern
    return "(?d)" + _END_RE.sub(r"\\z", pattern)


def to_spark(sql: str, timezone: str = "Europe/Amsterdam", raw_prefix: str | None = None) -> str:
    """The DuckDB query ``sql`` (calling the audit's macros) as Spark SQL. With ``raw_prefix``,
    a base table named ``"catalog".main."t"`` (extra columns and all, not the audit's view of
    it) is read as the view ``{raw_prefix}t``."""
    tree = expand(_duck(sql), macros(timezone))
    if raw_prefix is not None:
        for t in list(tree.find_all(exp.Table)):
            if t.args.get("db") is not None and t.text("db") == "main":
                t.replace(exp.Table(this=exp.to_identifier(raw_prefix + t.name),
                                    alias=t.args.get("alias")))
    # bottom-up: a node is fixed after everything below it (the fixes copy what they keep)
    for node in reversed(list(tree.dfs())):
        new = _fix(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark")


def rule_sql(rule: rules.Rule, policy: Policy) -> tuple[str, str]:
    """(the rule's query, its population query) in Spark SQL; NotRenderable when the rule needs
    set-up statements (they are DuckDB scripts: SET VARIABLE, query(getvariable()))."""
    if rule.setup is not None:
        raise NotRenderable("its set-up is a DuckDB script (SET VARIABLE, query(getvariable()))")
    return to_spark(rule.sql(policy), policy.timezone), to_spark(rule.population_sql(policy), policy.timezone)


def unrenderable(policy: Policy) -> dict[str, str]:
    """Every rule that does not render for Spark, with the reason."""
    out = {}
    for rule in rules.ordered():
        try:
            rule_sql(rule, policy)
        except (NotRenderable, sqlglot.errors.SqlglotError) as e:
            out[rule.id] = str(e)
    return out


# ---------------------------------------------------------------- masks and CSV cells

def _render_with(sql: str, value: str) -> str:
    """The DuckDB expression ``sql`` (with the placeholder column ``__v``) as Spark SQL, with the
    Spark expression ``value`` put in for ``__v``."""
    tree = _duck(sql)
    for node in reversed(list(tree.dfs())):
        new = _fix(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    placeholder = "__privaudit_v__"
    for c in list(tree.find_all(exp.Column)):
        if c.name == "__v":
            c.replace(exp.column(placeholder))
    return tree.sql(dialect="spark").replace(placeholder, f"({value})")


@lru_cache(maxsize=64)
def _mask_template(kind: str) -> str:
    from ..masking import sql_mask
    return _render_with(sql_mask(kind, "__v"), "{v}")


def mask_sql(kind: str, value: str) -> str:
    """The Spark SQL expression that shows the string expression ``value`` as ``kind``:
    ``toolkit.masking.sql_mask`` (generated from the one masking definition) rendered through
    the same SQLGlot path as the rules, Java's regular expressions made to read RE2's patterns
    the same way (:func:`java_regex`)."""
    return _mask_template(kind).replace("({v})", f"({value})")


@lru_cache(maxsize=1)
def _cell_template() -> str:
    from ..outputs import sql_safe_cell
    return _render_with(sql_safe_cell("__v"), "{v}")


def safe_cell_sql(value: str) -> str:
    """``toolkit.outputs.sql_safe_cell`` (a formula start quoted, empty text an empty cell) in
    Spark SQL."""
    return _cell_template().replace("({v})", f"({value})")
