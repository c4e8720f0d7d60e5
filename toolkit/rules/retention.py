"""Retention rules: RET-001, RET-005, RET-006, RET-014 (rule-catalogue.md section 2.1).

The retention anchor (the person's last human visit, or the fallback anchor) is computed once, by
the ``retention_anchor`` table macro, and read by every rule that needs a customer's horizon
(RET-001, RET-006 here; NWS-006 and DSR rules elsewhere).
"""

from __future__ import annotations

from .. import schema
from ..policy import Policy
from . import Rule, register

MACROS = [
    # One row per customer: anchor (last human visit of the person, else the latest of created_at,
    # last order and last login), its source, the due date and whether it has passed.
    """CREATE OR REPLACE TEMP MACRO retention_anchor(inactivity_months, human_origins, as_of_date,
                                                      grace_days) AS TABLE
    WITH cust AS (
        SELECT customer_id, coalesce(nullif(person_key, ''), customer_id) AS person,
               created_at, last_login_at
        FROM customers),
    human AS (
        SELECT c.person, max(v.started_at) AS last_visit_at
        FROM visits v JOIN cust c USING (customer_id)
        WHERE list_contains(human_origins, v.origin) AND NOT coalesce(v.is_bot, false)
        GROUP BY c.person),
    last_order AS (
        SELECT customer_id, max(placed_at) AS last_order_at FROM orders GROUP BY customer_id)
    SELECT c.customer_id, c.person,
           coalesce(h.last_visit_at, greatest(c.created_at, lo.last_order_at, c.last_login_at))
               AS anchor_at,
           CASE WHEN h.last_visit_at IS NULL THEN 'fallback' ELSE 'visit' END AS anchor_source,
           add_months(civil_date(anchor_at), inactivity_months) AS due_date,
           coalesce(as_of_date > due_date + grace_days, false) AS expired
    FROM cust c LEFT JOIN human h USING (person) LEFT JOIN last_order lo USING (customer_id)""",
    # The latest civil date on which a hold covering (customer, table) closed, up to as_of: when a
    # hold closes, the deadline becomes the later of the normal due date and that day.
    """CREATE OR REPLACE TEMP MACRO hold_released(cid, tbl, ts) AS (
        SELECT max(civil_date(h.closed_at)) FROM legal_holds h
        WHERE h.customer_id = cid
          AND (h.scope_tables IS NULL OR len(h.scope_tables) = 0 OR list_contains(h.scope_tables, tbl))
          AND h.closed_at IS NOT NULL AND h.closed_at <= ts)""",
]

ANCHOR = "retention_anchor($inactivity_months, $human_origins, $as_of_date, $grace_days)"


def _extras(table: str, alias: str) -> str:
    """SQL: the personal extra columns (``toolkit.personal_data``) a row of ``table`` fills, or NULL."""
    pk = schema.table(table).primary_key
    return (f"(SELECT any_value(pe.fields) FROM personal_extras pe WHERE pe.tbl = '{table}' "
            f"AND pe.id = CAST({alias}.\"{pk}\" AS VARCHAR))")


def personal_filled(table: str, alias: str = "x", fiscal: bool | None = None) -> str:
    """SQL: true when any personal column of ``table`` is filled (optionally only (non-)fiscal).

    Extra columns of the export that hold personal data count as non-fiscal personal columns."""
    cols = [c for c in schema.table(table).personal_columns
            if fiscal is None or c.fiscal == fiscal]
    conds = [f'{alias}."{c.name}" IS NOT NULL' for c in cols]
    if fiscal is not True:
        conds.append(f"{_extras(table, alias)} IS NOT NULL")
    return "(" + " OR ".join(conds) + ")"


def filled_list(table: str, alias: str = "x", fiscal: bool | None = None) -> str:
    """SQL: the names of the filled personal columns of ``table`` (a VARCHAR list), personal
    extra columns of the export included unless only fiscal columns are asked for."""
    cols = [c for c in schema.table(table).personal_columns
            if fiscal is None or c.fiscal == fiscal]
    items = ", ".join(f"CASE WHEN {alias}.\"{c.name}\" IS NOT NULL THEN '{c.name}' END" for c in cols)
    listed = f"list_filter([{items}]::VARCHAR[], lambda f: f IS NOT NULL)"
    if fiscal is True:
        return listed
    return f"list_concat({listed}, coalesce({_extras(table, alias)}, []::VARCHAR[]))"


# tables whose extra personal columns the residue sweep leaves to others: customers (its own
# part), orders and payments (fiscal: RET-006 and DSR-004 look at their non-fiscal fields), and the
# records kept to account for requests and holds
OWN_RESIDUE = ("customers", "orders", "payments", "dsr_requests", "legal_holds")


def residue_rows(policy: Policy, subjects: str, due: str, key: str = "customer_id") -> str:
    """UNION of (key, tbl, n, held) for the personal data left of ``subjects``.

    ``subjects`` is a relation with ``customer_id``, the column ``key`` that identifies a subject
    and the column ``due`` (the civil date from which nothing may remain). A table's rows count
    only once the deadline (moved by a hold that has since closed) has passed; rows under an
    open hold are counted as held. Besides the customer's own personal columns and the residue
    tables, rows of any other table that fill a personal extra column of the export count
    (``toolkit.personal_data``), named ``table(column, ...)``.
    """
    def gate(tbl: str) -> str:
        return (f"$as_of_date > greatest(s.{due}, coalesce(hold_released(s.customer_id, {tbl}, "
                f"$as_of), s.{due})) + $grace_days")

    customers = "'customers'"
    parts = [
        f"SELECT s.{key} AS key, 'customers' AS tbl, 1 AS n, "
        f"hold_covers(s.customer_id, 'customers', $as_of) AS held "
        f"FROM {subjects} s JOIN customers x USING (customer_id) "
        f"WHERE {personal_filled('customers')} AND {gate(customers)}"]
    for tbl in policy.retention.residue_tables:
        quoted = f"'{tbl}'"
        parts.append(
            f"SELECT s.{key}, '{tbl}', count(*), hold_covers(s.customer_id, '{tbl}', $as_of) "
            f"FROM {subjects} s JOIN \"{tbl}\" x USING (customer_id) WHERE {gate(quoted)} "
            f"GROUP BY ALL")
    skip = ", ".join(f"'{t}'" for t in (*OWN_RESIDUE, *policy.retention.residue_tables))
    parts.append(
        f"SELECT s.{key}, pe.tbl || '(' || array_to_string(list_sort(list_distinct(flatten("
        f"list(pe.fields)))), ',') || ')', count(*), hold_covers(s.customer_id, pe.tbl, $as_of) "
        f"FROM {subjects} s JOIN personal_extras pe ON pe.customer_id = s.customer_id "
        f"WHERE pe.tbl NOT IN ({skip}) AND {gate('pe.tbl')} GROUP BY s.{key}, s.customer_id, pe.tbl")
    return "\nUNION ALL\n".join(parts)


def residue_verdict(base: str, residue: str, evidence: str, key: str = "customer_id") -> str:
    """Findings from subjects ``base`` and their residue: a violation unless all of it is held."""
    return f"""
    WITH s AS ({base}),
    r AS ({residue}),
    agg AS (
        SELECT key,
               map_from_entries(list(struct_pack(k := tbl, v := n) ORDER BY tbl)
                                FILTER (WHERE NOT held)) AS residue,
               list(tbl ORDER BY tbl) FILTER (WHERE held) AS held,
               count(*) FILTER (WHERE NOT held) AS open_tables
        FROM r GROUP BY key)
    SELECT s.{key} AS subject_id, s.customer_id, s.due_date,
           {{{evidence} 'residue': agg.residue, 'held': agg.held}} AS evidence,
           CASE WHEN agg.open_tables = 0 THEN 'legal hold' END AS excluded
    FROM s JOIN agg ON agg.key = s.{key}
    """


def ret_001(policy: Policy) -> str:
    base = f"SELECT customer_id, anchor_source, anchor_at, due_date FROM {ANCHOR} WHERE expired"
    return residue_verdict(
        base, residue_rows(policy, "s", "due_date"),
        "'anchor': s.anchor_source, 'anchor_date': civil_date(s.anchor_at), 'due': s.due_date,")


register(Rule(
    id="RET-001", subject_table="customers", family="retention",
    needs={"customers": ("customer_id",), "visits": ("customer_id", "started_at", "origin")},
    optional=("orders", "legal_holds", "chats", "calls", "newsletter_consent_events",
              "newsletter_sends"),
    sql=ret_001,
    doc="Customers whose retention expired (12 months after the person's last human visit) and "
        "who still have personal data: filled personal columns or rows in the residue tables.",
))


def _keep_until(alias: str = "o") -> str:
    years = (f"CASE WHEN $oss_registered AND coalesce({alias}.oss_scheme, false) "
             f"THEN $oss_years ELSE $fiscal_years END")
    fy = (f"coalesce(make_date({alias}.fiscal_year, CAST(split_part($fy_end, '-', 1) AS INTEGER), "
          f"CAST(split_part($fy_end, '-', 2) AS INTEGER)), fy_end(civil_date({alias}.placed_at), $fy_end))")
    return f"add_months({fy}, 12 * ({years}))"


def ret_005(policy: Policy) -> str:
    return f"""
    WITH o AS (
        SELECT o.*, {_keep_until('o')} AS keep_until,
               EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id) AS linked,
               {filled_list('orders', 'o')} AS fields
        FROM orders o)
    SELECT order_id AS subject_id, customer_id, keep_until AS due_date,
           {{'placed': civil_date(placed_at), 'keep_until': keep_until,
             'personal_fields': fields, 'linked_to_customer': linked,
             'soft_deleted': deleted_at IS NOT NULL}} AS evidence,
           CASE WHEN hold_covers(o.customer_id, 'orders', $as_of) THEN 'legal hold' END AS excluded
    FROM o
    WHERE placed_at IS NOT NULL AND anonymised_at IS NULL
      AND $as_of_date > keep_until + $grace_days
      AND (len(fields) > 0 OR linked)
    """


register(Rule(
    id="RET-005", subject_table="orders", family="retention",
    needs={"orders": ("order_id", "placed_at")},
    optional=("customers", "legal_holds"),
    sql=ret_005,
    doc="Orders past the fiscal ceiling (end of the fiscal year of placed_at + 7 years) that still "
        "hold personal fields or link to a customer.",
))


def ret_006(policy: Policy) -> str:
    return f"""
    WITH a AS (SELECT customer_id, due_date, expired FROM {ANCHOR}),
    o AS (
        SELECT o.*, {_keep_until('o')} AS keep_until, {filled_list('orders', 'o', fiscal=False)} AS fields,
               a.customer_id IS NULL AS guest,
               coalesce(a.due_date, add_months(civil_date(o.placed_at), $inactivity_months)) AS horizon
        FROM orders o LEFT JOIN a USING (customer_id))
    SELECT order_id AS subject_id, customer_id, horizon AS due_date,
           {{'fields': fields, 'customer_horizon': horizon, 'keep_until': keep_until,
             'guest_order': guest}} AS evidence,
           CASE WHEN hold_covers(o.customer_id, 'orders', $as_of) THEN 'legal hold' END AS excluded
    FROM o
    WHERE placed_at IS NOT NULL AND len(fields) > 0
      AND $as_of_date <= keep_until + $grace_days
      AND $as_of_date > horizon + $grace_days
    """


register(Rule(
    id="RET-006", subject_table="orders", family="retention",
    needs={"orders": ("order_id", "placed_at"), "customers": ("customer_id",),
           "visits": ("customer_id", "started_at", "origin")},
    optional=("legal_holds",),
    sql=ret_006,
    doc="Orders inside their fiscal window whose customer's retention expired but which keep "
        "non-fiscal personal fields (email_at_order, phone_at_order, ip_address).",
))


def ret_014(policy: Policy) -> str:
    return f"""
    SELECT customer_id AS subject_id, customer_id, civil_date(erased_at) AS due_date,
           {{'status': status, 'erased': civil_date(erased_at),
             'filled_fields': {filled_list('customers', 'x')}}} AS evidence,
           CASE WHEN hold_covers(x.customer_id, 'customers', $as_of) THEN 'legal hold' END AS excluded
    FROM customers x
    WHERE (status IN ('erased', 'deleted', 'anonymised') OR erased_at IS NOT NULL)
      AND {personal_filled('customers', 'x')}
    """


register(Rule(
    id="RET-014", subject_table="customers", family="retention",
    needs={"customers": ("customer_id", "status")},
    optional=("legal_holds",),
    sql=ret_014,
    doc="Customers marked erased or deleted (or with erased_at set) whose personal columns are "
        "still filled.",
))
