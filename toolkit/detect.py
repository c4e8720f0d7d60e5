"""Detectors for payment data and Dutch identifiers in free text, vectorised in DuckDB.

Candidates are cut out of whole text columns with one regular expression each, then validated
by SQL macros, so the work stays inside DuckDB:

- ``luhn_ok(digits)``: card numbers (13-19 digits, Luhn checksum); ``card_prefix_ok`` keeps the
  issuer prefixes of real cards (4, 50-55, 22-27, 3x, 6);
- ``bsn_ok(digits)``: the BSN 11-proof (weights 9..2 and -1; 000000000 is not a BSN);
- ``iban_ok(text)``: ISO 13616 mod-97 with the length of the country (``IBAN_LENGTHS``).

The same checks in Python (``luhn``, ``bsn``, ``iban``) document them and are cross-checked
against python-stdnum in the tests. Context words near a hit ("bsn", "pas", "creditcard",
"iban", ...) give a score that helps a reviewer; it never suppresses a checksum-valid hit.
"""

from __future__ import annotations

import re

import duckdb

# IBAN length per country (SWIFT IBAN registry, as in python-stdnum 2.2)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

# candidate patterns (RE2, as DuckDB uses them)
CARD_PATTERN = r"\b\d(?:[ \-]?\d){12,18}\b"
BSN_PATTERN = r"\b(?:\d{9}|\d{4}[. ]\d{2}[. ]\d{3}|\d{3}[. ]\d{3}[. ]\d{3})\b"
IBAN_PATTERN = r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){10,30}\b"
# all three in one pass: an IBAN starts with letters, a card has 13-19 digits, a BSN 9
TEXT_PATTERN = f"(?:{IBAN_PATTERN})|(?:{CARD_PATTERN})|(?:{BSN_PATTERN})"
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
PHONE_PATTERN = r"(?:\+31|0031|\b0)[ \-]?(?:6|[1-5789]\d)(?:[ \-]?\d){7}\b"

CONTEXT = {
    "card": r"creditcard|credit card|kaartnummer|kaart|card|\bpas\b|pasnummer|visa|mastercard|"
            r"\bcvc\b|\bcvv\b|vervaldatum|expir",
    "bsn": r"\bbsn\b|burgerservicenummer|burger service nummer|sofi",
    "iban": r"\biban\b|rekeningnummer|rekening|bankrekening|terugstorten|storten",
}


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def macros() -> list[str]:
    lengths = ", ".join(f"'{k}': {v}" for k, v in sorted(IBAN_LENGTHS.items()))
    return [
        # Luhn: from the right, every second digit doubled (minus 9 when over 9), sum % 10 = 0
        """CREATE OR REPLACE TEMP MACRO luhn_ok(s) AS (
             length(s) BETWEEN 13 AND 19 AND regexp_full_match(s, '[0-9]+') AND
             list_sum(list_transform(string_split(reverse(s), ''), lambda c, i:
                CASE WHEN i % 2 = 0 THEN CAST(c AS INTEGER) * 2 - CASE WHEN c >= '5' THEN 9 ELSE 0 END
                     ELSE CAST(c AS INTEGER) END)) % 10 = 0)""",
        # issuer prefixes: Visa 4, Mastercard 51-55 and 22-27, Maestro 50/56-69, Amex, Diners,
        # JCB 3x, Discover/UnionPay 6
        """CREATE OR REPLACE TEMP MACRO card_prefix_ok(s) AS
             regexp_matches(s, '^(4|5[0-5]|2[2-7]|3[0-9]|6)')""",
        # BSN 11-proof: weights 9..2 for the first eight digits, -1 for the last
        """CREATE OR REPLACE TEMP MACRO bsn_ok(s) AS (
             regexp_full_match(s, '[0-9]{9}') AND s <> '000000000' AND
             list_sum(list_transform(string_split(s, ''), lambda c, i:
                CAST(c AS INTEGER) * CASE WHEN i = 9 THEN -1 ELSE 10 - i END)) % 11 = 0)""",
        f"CREATE OR REPLACE TEMP MACRO iban_length(cc) AS MAP {{{lengths}}}[cc]",
        # ISO 13616: country and check digits moved to the end, letters read as 10..35, mod 97 = 1
        """CREATE OR REPLACE TEMP MACRO iban_ok(s) AS (
             regexp_full_match(s, '[A-Z]{2}[0-9]{2}[A-Z0-9]+') AND length(s) = iban_length(substr(s, 1, 2))
             AND list_reduce(list_transform(string_split(substr(s, 5) || substr(s, 1, 4), ''),
                   lambda ch: CASE WHEN ch >= 'A' THEN ascii(ch) - 55 ELSE CAST(ch AS INTEGER) END),
                 lambda acc, v: (acc * CASE WHEN v >= 10 THEN 100 ELSE 10 END + v) % 97, 0) = 1)""",
        # an IBAN candidate, spaces removed, cut to its country's length (drops a trailing word)
        """CREATE OR REPLACE TEMP MACRO iban_norm(s) AS
             left(upper(replace(s, ' ', '')), coalesce(iban_length(upper(substr(s, 1, 2))), 34))""",
        "CREATE OR REPLACE TEMP MACRO digits_only(s) AS regexp_replace(s, '[^0-9]', '', 'g')",
        """CREATE OR REPLACE TEMP MACRO candidate_kind(raw) AS CASE
             WHEN regexp_matches(raw, '^[A-Za-z]') THEN 'iban'
             WHEN length(digits_only(raw)) = 9 THEN 'bsn' ELSE 'card' END""",
        f"""CREATE OR REPLACE TEMP MACRO context_score(near, kind) AS
             len(regexp_extract_all(lower(near),
                 CASE kind WHEN 'card' THEN {_sql_str(CONTEXT['card'])}
                           WHEN 'bsn' THEN {_sql_str(CONTEXT['bsn'])}
                           ELSE {_sql_str(CONTEXT['iban'])} END))""",
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    for sql in macros():
        con.execute(sql)


# ---------------------------------------------------------------- the same checks in Python

def luhn(number: str) -> bool:
    d = re.sub(r"[ \-]", "", number)
    if not (d.isdigit() and 13 <= len(d) <= 19):
        return False
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            n -= 9 if n > 9 else 0
        total += n
    return total % 10 == 0


def bsn(number: str) -> bool:
    d = re.sub(r"[ .]", "", number)
    if not (d.isdigit() and len(d) == 9) or d == "000000000":
        return False
    return (sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1))) - int(d[8])) % 11 == 0


def iban(text: str) -> bool:
    s = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s) or IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    digits = "".join(str(int(ch, 36)) for ch in s[4:] + s[:4])
    return int(digits) % 97 == 1


def text_columns() -> list[tuple[str, str, str, str | None]]:
    """(table, primary key, free-text column, how to reach the customer) of every free-text column."""
    from . import schema
    out = []
    for t in schema.TABLES:
        for c in t.columns:
            if c.free_text:
                link = "customer_id" if t.has("customer_id") else (
                    "chat" if t.name == "chat_messages" else None)
                out.append((t.name, t.primary_key, c.name, link))
    return out


def texts_sql() -> str:
    """SQL: (tbl, col, id, customer_id, txt) for every non-empty free-text value."""
    parts = []
    for table, pk, col, link in text_columns():
        if link == "chat":
            parts.append(f"SELECT '{table}' AS tbl, '{col}' AS col, x.\"{pk}\" AS id, "
                         f"ch.customer_id, x.\"{col}\" AS txt FROM \"{table}\" x "
                         f"LEFT JOIN chats ch USING (chat_id) WHERE x.\"{col}\" IS NOT NULL")
        else:
            cust = "x.customer_id" if link else "NULL"
            parts.append(f"SELECT '{table}' AS tbl, '{col}' AS col, x.\"{pk}\" AS id, "
                         f"{cust} AS customer_id, x.\"{col}\" AS txt "
                         f"FROM \"{table}\" x WHERE x.\"{col}\" IS NOT NULL")
    return "\nUNION ALL\n".join(parts)


def candidates_sql() -> str:
    """SQL creating ``text_candidates``: every card, BSN or IBAN candidate of every free text.

    One regular-expression pass over all free text; the rules then validate their own kind of
    candidate. ``near`` keeps the text around the candidate for the context score, not the
    whole message."""
    return (f"CREATE OR REPLACE TEMP TABLE text_candidates AS "
            f"SELECT tbl, col, id, customer_id, raw, candidate_kind(raw) AS kind, pos, "
            f"substr(txt, greatest(pos - 60, 1), length(raw) + 120) AS near "
            f"FROM (SELECT *, strpos(txt, raw) AS pos FROM (SELECT tbl, col, id, customer_id, txt, "
            f"unnest(regexp_extract_all(txt, {_sql_str(TEXT_PATTERN)})) AS raw "
            f"FROM ({texts_sql()})))")


def contact_counts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """E-mail addresses and Dutch phone numbers found per free-text column (not findings).

    Needs a connection prepared by the audit engine (``toolkit.findings.prepare``)."""
    rows = con.execute(
        f"SELECT tbl, col, count(*) AS texts, "
        f"count_if(regexp_matches(txt, {_sql_str(EMAIL_PATTERN)})) AS with_email, "
        f"sum(len(regexp_extract_all(txt, {_sql_str(EMAIL_PATTERN)}))) AS emails, "
        f"count_if(regexp_matches(txt, {_sql_str(PHONE_PATTERN)})) AS with_phone, "
        f"sum(len(regexp_extract_all(txt, {_sql_str(PHONE_PATTERN)}))) AS phones "
        f"FROM ({texts_sql()}) GROUP BY tbl, col ORDER BY tbl, col").fetchall()
    keys = ["table", "column", "texts", "with_email", "emails", "with_phone", "phones"]
    return [dict(zip(keys, r)) for r in rows]
