"""Transparency rules (rule-catalogue.md section 2.11, TRN): what the data show against what
people were told. The family runs last: it reads what the audit set up and the other rules found.

TRN-001, data categories collected but not disclosed (its data half): the extra columns kept from
the exports (``toolkit.personal_data``) whose values are mostly one category of personal data
(e-mail addresses, phone numbers, IBANs, card numbers, BSNs, postcodes with a house number, IP
addresses; thresholds in the policy's ``personal_data``). The schema declares no such column, so
no register, retention rule or statement accounts for it. One finding per column, with the
category, the share of matching values, the fill rate and the first row that holds one.

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

from ..policy import Policy
from . import Rule, register

MACROS: list[str] = []

# the personal extra columns found in the data (toolkit.personal_data's profile)
FOUND = """
    found AS (
        SELECT tbl, col, category, matching, filled, rows, share, first_seen
        FROM extra_columns WHERE personal)"""


def trn_001(policy: Policy) -> str:
    return f"""
    WITH {FOUND}
    SELECT tbl || '.' || col AS subject_id, tbl AS subject_table, NULL AS customer_id,
           NULL::DATE AS due_date,
           {{'table': tbl, 'column': col, 'category': category,
             'share': round(share, 3), 'matching': matching, 'filled': filled,
             'fill_rate': round(filled / greatest(rows, 1), 3),
             'first_seen': civil_date(first_seen),
             'declared': 'no: an extra column of the export, unknown to the schema'}} AS evidence
    FROM found
    """


register(Rule(
    id="TRN-001", subject_table="extra_columns", family="transparency", needs={},
    sql=trn_001,
    population=lambda p: "SELECT count(*) FROM extra_columns",
    subjects="extra columns of the exports",
    doc="Extra export columns (unknown to the schema) whose values are mostly e-mail addresses, "
        "phone numbers, IBANs, card numbers, BSNs, postcodes with a house number or IP addresses "
        "(policy personal_data thresholds).",
))


def _present(tables: tuple[str, ...]) -> str:
    """SQL: every table in ``tables`` exists in the audited database (not only as an empty view)."""
    names = ", ".join(f"'{t}'" for t in tables)
    return (f"((SELECT count(DISTINCT table_name) FROM information_schema.tables "
            f"WHERE table_catalog = current_database() AND table_schema = 'main' "
            f"AND table_name IN ({names})) = {len(tables)})")


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
        SELECT r.recipient_id, r.name, r.role, r.category, per.*,
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
