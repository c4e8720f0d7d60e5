"""Security rules: SEC-001, SEC-002, SEC-004, SEC-006 (rule-catalogue.md section 2.10).

Free text (every column the schema marks ``free_text``: chat messages, call transcripts, customer
notes, order comments, CS notes) is scanned in DuckDB: one regular expression cuts the card, BSN
and IBAN candidates out of every text in one pass (``text_candidates``, built once per audit),
and each rule validates its kind with the ``toolkit.detect`` macros (Luhn and issuer prefix, the BSN
11-proof, IBAN mod-97 with the country's length). One finding per message or call, listing every
valid number in it (masked by ``toolkit.masking``), where it starts, and a context score.
"""

from __future__ import annotations

from typing import Callable

from .. import detect
from ..policy import Policy
from . import Rule, register

MACROS: list[str] = detect.macros()


def sec_001(policy: Policy) -> str:
    return """
    WITH p AS (
        SELECT payment_id, customer_id, card_pan, card_cvv, digits_only(card_pan) AS digits,
               regexp_full_match(coalesce(card_pan, ''), '[0-9 \\-]+') AS numeric
        FROM payments)
    SELECT payment_id AS subject_id, customer_id, NULL::DATE AS due_date,
           {'card': CASE WHEN numeric AND luhn_ok(digits) THEN digits END,
            'full_card_number': numeric AND luhn_ok(digits),
            'cvv_stored': coalesce(trim(card_cvv) <> '', false)} AS evidence
    FROM p
    WHERE (numeric AND luhn_ok(digits)) OR coalesce(trim(card_cvv) <> '', false)
    """


register(Rule(
    id="SEC-001", subject_table="payments", family="security",
    needs={"payments": ("payment_id", "card_pan", "card_cvv")},
    sql=sec_001,
    doc="Payments whose card_pan holds a full card number (13-19 digits passing Luhn), or whose "
        "card_cvv is filled.",
))


def _scan(kind: str, valid: str, value: str, key: str) -> Callable[[Policy], str]:
    def sql(policy: Policy) -> str:
        return f"""
        WITH hits AS (
            SELECT *, {value} AS v FROM text_candidates WHERE kind = '{kind}' AND {valid})
        SELECT id AS subject_id, tbl AS subject_table, customer_id, NULL::DATE AS due_date,
               {{'{key}': list(v ORDER BY pos), 'positions': list(pos ORDER BY pos),
                 'column': tbl || '.' || any_value(col),
                 'context_score': max(context_score(near, '{kind}'))}} AS evidence
        FROM hits
        GROUP BY tbl, id, customer_id
        """
    return sql


TEXT_POPULATION = lambda p: f"SELECT count(*) FROM ({detect.texts_sql()})"  # noqa: E731
TEXT_NEEDS = {"chat_messages": ("message_id", "body")}
TEXT_OPTIONAL = ("calls", "chats", "customers", "orders", "cs_notes")

for _id, _kind, _valid, _value, _key, _doc in (
    ("SEC-002", "card", "luhn_ok(digits_only(raw)) AND card_prefix_ok(digits_only(raw))",
     "digits_only(raw)", "card",
     "Messages and calls whose text holds a card number (13-19 digits, spaces or dashes allowed, "
     "Luhn-valid, with a card issuer's prefix)."),
    ("SEC-004", "bsn", "bsn_ok(digits_only(raw))", "digits_only(raw)", "bsn",
     "Messages and calls whose text holds a citizen service number (9 digits, dots or spaces "
     "allowed) passing the 11-proof."),
    ("SEC-006", "iban", "iban_ok(iban_norm(raw))", "iban_norm(raw)", "iban",
     "Messages and calls whose text holds a valid IBAN (mod-97, the country's length)."),
):
    register(Rule(id=_id, subject_table="chat_messages", family="security", needs=TEXT_NEEDS,
                  optional=TEXT_OPTIONAL, sql=_scan(_kind, _valid, _value, _key),
                  setup=lambda p: [detect.candidates_sql()], population=TEXT_POPULATION, doc=_doc,
                  subjects="chat_messages, calls (and any other free-text column)"))
