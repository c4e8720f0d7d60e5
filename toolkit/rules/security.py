"""Security rules: SEC-001, SEC-002, SEC-004, SEC-006 (rule-catalogue.md section 2.10).

Free text is every column the schema marks ``free_text`` (chat messages, call transcripts,
customer notes, order comments, CS notes) and every extra text column an export brought (kept by
the loader as VARCHAR). It is scanned once per audit in DuckDB, one pass per table however many
columns (``toolkit.detect.setup_statements``): one regular expression cuts IBAN-shaped tokens and
digit chains out of every value, digit chains are tried at every boundary between their groups,
each candidate is validated (IBAN structure, mod-97 and national check digits; card issuer
length and Luhn; the BSN 11-proof) and every valid number claims its characters
(``text_candidates``). Each rule reports its kind: one finding per row, listing every number in
it (masked by ``toolkit.masking``), the column it sits in and where it starts (1-based), and a
context score.
"""

from __future__ import annotations

from typing import Callable

from .. import detect, schema
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


def _scan(kind: str, key: str) -> Callable[[Policy], str]:
    def sql(policy: Policy) -> str:
        return f"""
        SELECT h.id AS subject_id, h.tbl AS subject_table,
               coalesce(h.cust, c.customer_id) AS customer_id, NULL::DATE AS due_date,
               {{'{key}': list_transform(h.hits, lambda x: x.v),
                 'positions': list_transform(h.hits, lambda x: x.p),
                 'columns': list_transform(h.hits, lambda x: x.c),
                 'column': array_to_string(list_sort(list_distinct(
                               list_transform(h.hits, lambda x: x.c))), ', '),
                 'context_score': h.score}} AS evidence
        FROM (SELECT tbl, id, any_value(customer_id) AS cust, any_value(chat_id) AS chat,
                     list_sort(list({{'c': tbl || '.' || col, 'p': pos, 'v': value}})) AS hits,
                     max(context) AS score
              FROM text_candidates WHERE kind = '{kind}' GROUP BY tbl, id) h
        LEFT JOIN chats c ON c.chat_id = h.chat
        """
    return sql


# every value scanned, in every free-text and extra text column (see detect.setup_statements)
TEXT_POPULATION = lambda p: "SELECT coalesce(sum(texts), 0) FROM free_text_columns"  # noqa: E731
# tables with free-text columns; any table can bring extra text columns from an export
TEXT_OPTIONAL = tuple(t.name for t in schema.TABLES if any(c.free_text for c in t.columns))
FREE_TEXT = [f"{t.name}.{c.name}" for t in schema.TABLES for c in t.columns if c.free_text]


def text_missing(present: dict[str, set[str]]) -> list[str]:
    """Nothing when some free-text column or extra column (kept from an export) exists, else
    what the rules would read: evaluated on no text at all they would pass silently."""
    for t in schema.TABLES:
        cols = present.get(t.name) or set()
        if any(c.free_text and c.name in cols for c in t.columns) or cols - set(t.column_names):
            return []
    return ["a free-text column (" + ", ".join(FREE_TEXT) + ") or an extra column of an export"]

for _id, _kind, _key, _doc in (
    ("SEC-002", "card", "card",
     "Rows whose free text (any free-text or extra text column) holds a card number: 13-19 digits "
     "(spaces, dashes or dots allowed, consistently), a length its issuer uses, Luhn-valid."),
    ("SEC-004", "bsn", "bsn",
     "Rows whose free text holds a citizen service number (9 digits as 123456782, 123 456 782, "
     "111-222-333 or 1234.56.782; 8 digits only after the word bsn) passing the 11-proof."),
    ("SEC-006", "iban", "iban",
     "Rows whose free text holds a valid IBAN (the country's structure, mod-97 and national "
     "check digits; spaces, dashes or dots allowed)."),
):
    register(Rule(id=_id, subject_table="chat_messages", family="security", needs={},
                  needs_any=text_missing, optional=TEXT_OPTIONAL, sql=_scan(_kind, _key),
                  setup=lambda p: detect.setup_statements(), population=TEXT_POPULATION, doc=_doc,
                  subjects="every free-text column (chat_messages, calls, customers.notes, ...) "
                           "and every extra text column of an export"))
