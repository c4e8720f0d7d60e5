"""Transparency rules (rule-catalogue.md section 2.11, TRN): what the data show against what
people were told. The family runs last: it reads what the audit set up and the other rules found.

TRN-001, data categories collected but not disclosed: every personal column that holds a value
as of the audit and that the statement does not disclose, one finding per column (``table.column``)
with its category, how many values it holds, the fill rate and the first row that holds one:

- the data model's personal columns (``toolkit.schema``) in a category of personal data
  (:data:`DATA_CATEGORY_COLUMNS`: name, e-mail, birth date, call recordings, ...) that the
  statement does not name (the policy's ``transparency.disclosed_data_categories``); S2 for
  call recordings and transcripts (the catalogue's "recordings or profiling");
- the extra columns kept from the exports (``toolkit.personal_data``) whose values are mostly one
  kind of personal data (e-mail addresses, phone numbers, IBANs, card numbers, BSNs, postcodes
  with a house number, IP addresses; thresholds in the policy's ``personal_data``). The schema
  declares no such column, so no register, retention rule or statement accounts for it: always a
  finding, with the share of matching values.

What the statement discloses is codified in the policy's ``transparency`` section (written from
the statement by ``privaudit policy draft``; ``privaudit statement review --db`` fills it from the
statement it reads) and in ``statement.date``:

- TRN-002: recipients that received data (``transfers``) in a category the statement does not
  disclose, or in a third country (outside the EEA) it does not name; a register's own
  ``recipients.disclosed_in_statement`` overrides the category when filled.
- TRN-003: processing the statement describes for which the data show nothing at all (no
  research transfers, no social-network recipient, ...). Each processing names where the
  evidence would be; a processing whose every evidence table is missing from the export is not
  judged (the tables are listed as missing).
- TRN-005: recipients first seen (first agreement or first transfer, whichever is earlier) after
  the statement's date: practice changed and the statement did not. Authorities, which receive
  data on a legal demand, are not a change of practice.
"""

from __future__ import annotations

from .. import schema
from ..policy import DATA_CATEGORIES, Policy
from . import Rule, register

MACROS: list[str] = []

# categories of personal data a statement names (the policy's transparency.
# disclosed_data_categories, from toolkit.policy.DATA_CATEGORIES) -> the data model's personal
# columns in each. Every personal column of toolkit.schema is in exactly one (a test holds them
# equal); the statement's wordings of each are in toolkit/statement/vocabulary.yaml
# (data_categories).
DATA_CATEGORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("customers.first_name", "customers.last_name", "orders.billing_name",
             "orders.delivery_name", "payments.card_holder", "payments.account_holder",
             "customer_addresses.name", "invoices.customer_name"),
    "email": ("customers.email", "orders.email_at_order", "newsletter_consent_events.email",
              "newsletter_sends.email"),
    "phone": ("customers.phone", "orders.phone_at_order", "calls.caller_number"),
    "address": ("customers.street", "customers.house_number", "customers.postcode",
                "customers.city", "orders.billing_street", "orders.billing_postcode",
                "orders.billing_city", "orders.delivery_street", "orders.delivery_postcode",
                "orders.delivery_city", "customer_addresses.street",
                "customer_addresses.house_number", "customer_addresses.postcode",
                "customer_addresses.city", "invoices.customer_address"),
    "payment": ("payments.card_pan", "payments.card_cvv", "payments.card_expiry", "payments.iban"),
    "birth_date": ("customers.birth_date", "newsletter_consent_events.declared_birth_date"),
    "gender": ("customers.gender",),
    "ip_address": ("visits.ip_address", "orders.ip_address", "newsletter_consent_events.ip_address"),
    "device": ("visits.user_agent", "orders.user_agent"),
    "online_identifiers": ("visits.visitor_id",),
    "account": ("customers.password_hash",),
    "chats": ("chat_messages.body",),
    "call_recordings": ("calls.transcript",),
    "notes": ("customers.notes", "orders.customer_comment", "cs_notes.body"),
}
assert tuple(DATA_CATEGORY_COLUMNS) == DATA_CATEGORIES
# undisclosed, these weigh S2 (the catalogue: "S2 for recordings or profiling")
SERIOUS_DATA_CATEGORIES = ("call_recordings",)


def _by_table() -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for category, columns in DATA_CATEGORY_COLUMNS.items():
        for tc in columns:
            table, column = tc.split(".")
            out.setdefault(table, []).append((column, category))
    return out


def _declared() -> str:
    """SQL (CTEs): ``declared``, one row per personal column of the data model with its table's
    rows as of the audit, its filled values and the event time of the first row holding one.
    Each table is read once (absent tables and columns are empty views and NULLs)."""
    ctes, rows = [], []
    for table, columns in _by_table().items():
        ts = schema.table(table).event_time
        aggs = ["count(*) AS n"]
        for column, _ in columns:
            filled = f"nullif(trim(CAST(\"{column}\" AS VARCHAR)), '') IS NOT NULL"
            aggs.append(f"coalesce(count_if({filled}), 0) AS \"{column}\"")
            aggs.append(f"min(\"{ts}\") FILTER (WHERE {filled}) AS \"{column}__first\"")
        ctes.append(f"d_{table} AS (SELECT {', '.join(aggs)} FROM \"{table}\")")
        rows += [f"SELECT '{table}' AS tbl, '{column}' AS col, '{category}' AS category, "
                 f"n AS rows, \"{column}\" AS filled, \"{column}__first\" AS first_seen "
                 f"FROM d_{table}" for column, category in columns]
    union = "\n        UNION ALL ".join(rows)
    return ",\n    ".join(ctes) + f""",
    declared AS (
        {union})"""


def trn_001(policy: Policy) -> str:
    serious = ", ".join(f"'{c}'" for c in SERIOUS_DATA_CATEGORIES)
    return f"""
    WITH {_declared()},
    found AS (
        SELECT tbl, col, category, filled, rows, first_seen, NULL::DOUBLE AS share,
               NULL::BIGINT AS matching,
               'yes, as ' || replace(category, '_', ' ') || ' data; the statement does not name it'
                   AS declared
        FROM declared
        WHERE filled > 0 AND NOT list_contains($disclosed_data_categories, category)
        UNION ALL
        -- the personal extra columns found in the data (toolkit.personal_data's profile)
        SELECT tbl, col, category, filled, rows, first_seen, share, matching,
               'no: an extra column of the export, unknown to the schema'
        FROM extra_columns WHERE personal)
    SELECT tbl || '.' || col AS subject_id, tbl AS subject_table, NULL AS customer_id,
           NULL::DATE AS due_date,
           CASE WHEN category IN ({serious}) AND matching IS NULL THEN 'S2' END AS severity,
           {{'table': tbl, 'column': col, 'category': category,
             'share': round(share, 3), 'matching': matching, 'filled': filled,
             'fill_rate': round(filled / greatest(rows, 1), 3),
             'first_seen': civil_date(first_seen), 'declared': declared}} AS evidence
    FROM found
    """


def _population(policy: Policy) -> str:
    """The columns judged: the extra columns, and the data model's personal columns of the
    tables that hold rows."""
    per_table = " + ".join(
        f"(CASE WHEN EXISTS (SELECT 1 FROM \"{t}\") THEN {len(cols)} ELSE 0 END)"
        for t, cols in _by_table().items())
    return f"SELECT (SELECT count(*) FROM extra_columns) + {per_table}"


register(Rule(
    id="TRN-001", subject_table="extra_columns", family="transparency", needs={},
    sql=trn_001,
    population=_population,
    subjects="personal columns (table.column)",
    doc="Personal columns that hold values the statement does not disclose: the data model's "
        "columns in a category of personal data the statement does not name (policy "
        "transparency.disclosed_data_categories; S2 for call recordings and transcripts), and "
        "extra export columns (unknown to the schema) whose values are mostly e-mail addresses, "
        "phone numbers, IBANs, card numbers, BSNs, postcodes with a house number or IP addresses "
        "(policy personal_data thresholds).",
))


def _present(tables: tuple[str, ...]) -> str:
    """SQL: every table in ``tables`` exists in the audited database (not only as an empty view)."""
    names = ", ".join(f"'{t}'" for t in tables)
    return (f"((SELECT count(DISTINCT table_name) FROM audit_tables "
            f"WHERE table_name IN ({names})) = {len(tables)})")


def _to(category: str) -> tuple[str, tuple[str, ...], str]:
    return (f"transfers to {category} recipients", ("transfers", "recipients"),
            "SELECT count(*) FROM transfers t JOIN recipients r USING (recipient_id) "
            f"WHERE r.category = '{category}'")


# processing -> where its evidence would be: (description, tables, count query)
EVIDENCE: dict[str, list[tuple[str, tuple[str, ...], str]]] = {
    "delivery": [_to("delivery")],
    "distribution_centre": [_to("distribution_centre")],
    "external_sellers": [
        _to("external_seller"),
        ("order lines of external sellers", ("order_items",),
         "SELECT count(*) FROM order_items WHERE nullif(trim(seller_id), '') IS NOT NULL")],
    "cs_outsourcer": [
        _to("cs_outsourcer"),
        ("chats handled by another party", ("chats",),
         "SELECT count(*) FROM chats WHERE nullif(trim(handled_by_recipient_id), '') IS NOT NULL")],
    "research_invitations": [
        _to("research_agency"),
        ("research mailings", ("newsletter_sends",),
         "SELECT count(*) FROM newsletter_sends WHERE newsletter_type = 'research'")],
    "general_newsletters": [
        ("general newsletters sent", ("newsletter_sends",),
         "SELECT count(*) FROM newsletter_sends WHERE newsletter_type = 'general'")],
    "personalised_newsletters": [
        ("personalised newsletters sent", ("newsletter_sends",),
         "SELECT count(*) FROM newsletter_sends WHERE personalised "
         "OR newsletter_type = 'personalised'")],
    "customer_service_chats": [
        ("customer-service chats", ("chats",), "SELECT count(*) FROM chats")],
    "call_records": [("call records", ("calls",), "SELECT count(*) FROM calls")],
    "site_personalisation": [
        ("personalisation cookies or storage", ("cookie_observations",),
         "SELECT count(*) FROM cookie_observations WHERE declared_category = 'personalisation'")],
    "social_login": [
        _to("social_network"),
        ("social cookies or storage", ("cookie_observations",),
         "SELECT count(*) FROM cookie_observations WHERE declared_category = 'social'")],
    "social_sharing": [_to("social_network")],
}
EVIDENCE_TABLES = tuple(sorted({t for srcs in EVIDENCE.values() for _, ts, _ in srcs for t in ts}))


def trn_002(policy: Policy) -> str:
    return """
    WITH t AS (
        SELECT t.recipient_id, civil_date(t.transferred_at) AS d,
               upper(coalesce(nullif(trim(t.destination_country), ''), r.country_code)) AS country
        FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE t.transferred_at IS NOT NULL),
    per AS (
        SELECT t.recipient_id, count(*) AS transfers, min(t.d) AS first_transfer,
               max(t.d) AS last_transfer,
               coalesce(list_sort(list_distinct(list(t.country) FILTER (
                   WHERE t.country IS NOT NULL AND NOT list_contains($eea_countries, t.country)
                     AND NOT list_contains($disclosed_countries, t.country)))), []) AS countries
        FROM t GROUP BY t.recipient_id),
    x AS (
        SELECT r.recipient_id, r.name, r.role, r.category, per.transfers, per.first_transfer,
               per.last_transfer, per.countries,
               coalesce(r.disclosed_in_statement,
                        list_contains($disclosed_recipient_categories, r.category), false)
                   AS category_disclosed
        FROM per JOIN recipients r USING (recipient_id))
    SELECT recipient_id AS subject_id, NULL::VARCHAR AS customer_id, NULL::DATE AS due_date,
           CASE WHEN NOT category_disclosed AND category IN ('advertising', 'social_network')
                THEN 'S2' END AS severity,
           {'recipient': name, 'category': category, 'role': role,
            'category_disclosed': category_disclosed, 'undisclosed_countries': countries,
            'transfers': transfers, 'first_transfer': first_transfer,
            'last_transfer': last_transfer} AS evidence
    FROM x
    WHERE NOT category_disclosed OR len(countries) > 0
    """


register(Rule(
    id="TRN-002", subject_table="recipients", family="transparency",
    needs={"transfers": ("recipient_id", "transferred_at"),
           "recipients": ("recipient_id", "category")},
    sql=trn_002,
    population=lambda p: ("SELECT count(DISTINCT t.recipient_id) FROM transfers t "
                          "JOIN recipients r USING (recipient_id)"),
    doc="Recipients that received data in a category the statement does not disclose, or in a "
        "country outside the EEA the statement does not name (S2 for advertising and social "
        "networks).",
))


def trn_003(policy: Policy) -> str:
    rows = []
    for key, sources in EVIDENCE.items():
        for what, tables, count in sources:
            rows.append(f"SELECT '{key}' AS processing, '{what}' AS source, {_present(tables)} "
                        f"AS exported, CASE WHEN {_present(tables)} THEN ({count}) END AS n")
    union = "\n        UNION ALL ".join(rows)
    return f"""
    WITH ev AS (
        {union}),
    per AS (
        SELECT processing,
               list(source ORDER BY source) FILTER (WHERE exported) AS looked_in,
               coalesce(list(source ORDER BY source) FILTER (WHERE NOT exported), [])
                   AS not_exported,
               coalesce(sum(n), 0) AS found, bool_or(exported) AS judged
        FROM ev GROUP BY processing)
    SELECT processing AS subject_id, 'statement' AS subject_table, NULL::VARCHAR AS customer_id,
           NULL::DATE AS due_date,
           {{'processing': processing, 'looked_in': looked_in,
             'not_exported': not_exported}} AS evidence
    FROM per
    WHERE list_contains($described_processing, processing) AND judged AND found = 0
    """


register(Rule(
    id="TRN-003", subject_table="recipients", family="transparency", subjects="statement",
    # the register and the transfers are where most processing shows; the rest is optional
    needs={"transfers": ("recipient_id",), "recipients": ("recipient_id", "category")},
    optional=tuple(t for t in EVIDENCE_TABLES if t not in ("transfers", "recipients")),
    sql=trn_003,
    population=lambda p: "SELECT len($described_processing)",
    doc="Processing the statement describes (external sellers, a distribution centre, "
        "personalised newsletters, research, social login, calls, ...) of which the data show "
        "nothing at all (subject: the processing).",
))


def trn_005(policy: Policy) -> str:
    return """
    WITH firsts AS (
        SELECT recipient_id, count(*) AS transfers, min(civil_date(transferred_at)) AS first_transfer
        FROM transfers WHERE transferred_at IS NOT NULL AND recipient_id IS NOT NULL
        GROUP BY recipient_id),
    agreed AS (
        SELECT recipient_id, min(least(coalesce(signed_on, valid_from),
                                       coalesce(valid_from, signed_on))) AS first_agreement
        FROM recipient_agreements GROUP BY recipient_id),
    x AS (
        SELECT f.*, a.first_agreement, r.name, r.role, r.category,
               r.recipient_id IS NOT NULL AS registered,
               least(f.first_transfer, coalesce(a.first_agreement, f.first_transfer)) AS first_seen
        FROM firsts f LEFT JOIN agreed a USING (recipient_id)
        LEFT JOIN recipients r USING (recipient_id))
    SELECT recipient_id AS subject_id, NULL::VARCHAR AS customer_id, first_seen AS due_date,
           {'recipient': name, 'category': category, 'registered': registered,
            'first_seen': first_seen, 'first_agreement': first_agreement,
            'first_transfer': first_transfer, 'transfers': transfers,
            'statement_date': $statement_date,
            'category_disclosed': coalesce(list_contains($disclosed_recipient_categories, category),
                                           false)} AS evidence
    FROM x
    WHERE first_seen > $statement_date
      AND NOT coalesce(role = 'authority' OR category = 'authority', false)
    """


register(Rule(
    id="TRN-005", subject_table="recipients", family="transparency",
    needs={"transfers": ("recipient_id", "transferred_at")},
    optional=("recipients", "recipient_agreements"),
    sql=trn_005,
    population=lambda p: ("SELECT count(DISTINCT recipient_id) FROM transfers "
                          "WHERE transferred_at IS NOT NULL AND recipient_id IS NOT NULL"),
    doc="Recipients first seen (agreement or transfer) after the statement's date: practice "
        "changed and the statement was not updated (authorities excepted; the due date is the "
        "day the recipient was first seen).",
))
