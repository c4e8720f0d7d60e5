"""Transparency rules (rule-catalogue.md section 2.11): what the data shows against what people
were told. The family runs last: it reads what the audit set up and the other rules found.

TRN-001, data categories collected but not disclosed (its data half): the extra columns kept from
the exports (``toolkit.personal_data``) whose values are mostly one category of personal data
(e-mail addresses, phone numbers, IBANs, card numbers, BSNs, postcodes with a house number, IP
addresses; thresholds in the policy's ``personal_data``). The schema declares no such column, so
no register, retention rule or statement accounts for it. One finding per column, with the
category, the share of matching values, the fill rate and the first row that holds one.
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
