"""Detectors for payment data and Dutch identifiers in free text, vectorised in DuckDB.

Every free-text value is cut into *tokens* by one regular expression (``TOKEN_PATTERN``), in one
pass per table however many of its columns are scanned (``setup_statements``):

- an **IBAN-shaped token**: a country code (either case), an optional space, two check digits,
  then exactly the country's BBAN length of characters of the classes the IBAN registry gives
  for that country (``IBAN_STRUCTURES``, read from python-stdnum's copy of the SWIFT registry),
  each optionally preceded by a separator: one or two spaces, a dash or a dot;
- a **digit chain**: eight or more digits in groups joined by those separators.

Tokens never overlap and neither kind can start inside the other, so no greedy match hides a
number. An IBAN-shaped token that fails validation and starts with a word in lower case
(``om 12 4111 ...``) is cut again into digit chains; one with a capital country code is a
mistyped IBAN and keeps its characters (no "card" is reported inside ``RS35 2600 0560 ...``).

An IBAN token is valid when its separators are consistent (one kind inside the BBAN; the
country code and the check digits may be set off by a space), its letters follow the registry's
classes (``a`` capitals, ``c`` either case; a number written wholly in lower case is read as
capitals), its structure is the country's, ISO 13616 mod-97 holds and, for Belgium, Spain,
Montenegro and Norway, the national check digits inside the BBAN hold (as python-stdnum checks
them; its Belgian bank-code list is not used: a bank list goes stale).

A digit chain is tried at **every boundary between its groups**: each run of consecutive groups
with one kind of separator is a candidate

- **card**: 13-19 digits, a length its issuer uses (IIN ranges as data in
  ``toolkit/data/card_iin.csv``: Mastercard 2221-2720 and 51-55 with 16 digits, Visa 13, 16 or
  19, American Express 15, ...), Luhn-valid; UATP airline cards (15 digits starting with 1)
  only with a card word nearby;
- **BSN**: 9 digits written ``123456782``, ``123 456 782``, ``111-222-333`` or ``1234.56.782``
  (any of the separators, consistently) passing the 11-proof; an 8-digit group (a BSN whose
  leading zero was dropped) only when "bsn", "burgerservicenummer" or "sofi" stands in the 40
  characters before it.

Within a chain every valid candidate claims its characters: card before BSN, more digits first,
leftmost first. So ``4111 1111 1111 1111 12/27``, ``NL91ABNA0417164300 4111111111111111`` and
``bsn 111222333 2511 CV`` each yield every number they hold, each at its own position, and two
identical IBANs in one message are two hits at two positions.

Context words near a hit ("bsn", "pas", "creditcard", "iban", ...) give a score that helps a
reviewer; it never suppresses a checksum-valid hit (except the two cases above that need it).

The checks also exist in Python (``luhn``, ``bsn``, ``iban``, ``card_issuer``) to document them;
the tests cross-check them against python-stdnum, published test card numbers and the SQL
macros. ``scan(texts)`` runs the SEC rules' SQL on a list of strings.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

DATA = Path(__file__).parent / "data"

# ---------------------------------------------------------------- reference data


def _iban_structures() -> dict[str, str]:
    """{country: BBAN structure} from python-stdnum's copy of the SWIFT IBAN registry
    (``4!a10!n``: four capitals, ten digits; ``c``: letters of either case or digits)."""
    text = resources.files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([A-Z]{2}) .*\bbban="([^"]+)"', line)
        if m:
            out[m.group(1)] = m.group(2)
    if len(out) < 60:                      # the registry has 89 countries (stdnum 2.2)
        raise RuntimeError("python-stdnum's iban.dat has an unexpected format")
    return out


IBAN_STRUCTURES: dict[str, str] = _iban_structures()
_PARTS = re.compile(r"(\d+)!([nac])")
IBAN_LENGTHS: dict[str, int] = {
    cc: 4 + sum(int(n) for n, _ in _PARTS.findall(s)) for cc, s in IBAN_STRUCTURES.items()}


@dataclass(frozen=True)
class IinRange:
    issuer: str
    first: str                 # prefix, e.g. "2221"
    last: str                  # prefix of the same length, e.g. "2720"
    lengths: tuple[int, ...]
    needs_context: bool


def _lengths(spec: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.split():
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return tuple(out)


def _iin_ranges() -> list[IinRange]:
    with open(DATA / "card_iin.csv", newline="", encoding="utf-8") as f:
        rows = [IinRange(r["issuer"], r["first"], r["last"], _lengths(r["lengths"]),
                         r["needs_context"] == "yes") for r in csv.DictReader(f)]
    for r in rows:
        if len(r.first) != len(r.last) or r.first > r.last or not (r.first + r.last).isdigit():
            raise ValueError(f"card_iin.csv: bad range {r}")
    return rows


IIN_RANGES: list[IinRange] = _iin_ranges()

SEPARATOR = r"(?: {1,2}|[-.])"            # one or two spaces, a dash or a dot
_CLASS = {"n": "[0-9]", "a": "[A-Za-z]", "c": "[A-Za-z0-9]"}


def _iban_token(cc: str, structure: str) -> str:
    body = "".join(f"(?:{SEPARATOR}?{_CLASS[k]}){{{n}}}" for n, k in _PARTS.findall(structure))
    return f"[{cc[0]}{cc[0].lower()}][{cc[1]}{cc[1].lower()}] ?[0-9]{{2}}{body}"


IBAN_TOKEN = r"\b(?:" + "|".join(_iban_token(cc, s) for cc, s in sorted(IBAN_STRUCTURES.items())) + r")\b"
CHAIN_PATTERN = rf"\b[0-9](?:{SEPARATOR}?[0-9]){{7,}}\b"
# IBAN-shaped tokens first: a chain cannot start inside one (no word boundary), nor they in it
TOKEN_PATTERN = f"(?:{IBAN_TOKEN})|(?:{CHAIN_PATTERN})"
# how every IBAN-shaped token starts: a text without it has digit chains only, which the small
# CHAIN_PATTERN cuts out (the same tokens, without the cost of the per-country alternation)
IBAN_START_PATTERN = r"\b[A-Za-z]{2} ?[0-9]{2}"
# a compact IBAN of the country's structure; 'a' is a capital, 'c' a letter of either case
_STRICT = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}
IBAN_STRUCTURE_PATTERN = "(?:" + "|".join(
    cc + "[0-9]{2}" + "".join(f"{_STRICT[k]}{{{n}}}" for n, k in _PARTS.findall(structure))
    for cc, structure in sorted(IBAN_STRUCTURES.items())) + ")"

# a digit chain that is all of an IPv4 address (four dotted octets, 0-255) is an address, not a
# number: 176.118.112.235 holds no BSN 118.112.235 (one IPv4 address in 25 would pass the 11-proof)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"{_OCTET}(?:\.{_OCTET}){{3}}"

BSN_LAYOUTS = ([9], [3, 3, 3], [4, 2, 3])
BSN_BARE_WINDOW = 40                       # characters before an 8-digit BSN that must say "bsn"
NEAR = 60                                  # characters either side read for the context score

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


def _issuer_case() -> str:
    """SQL: the issuer whose IIN range and lengths fit (``p6``: the first six digits as a
    number, ``n``: the length), first match in ``card_iin.csv``; else NULL."""
    arms = []
    for r in IIN_RANGES:
        k = len(r.first)
        lo, hi = int(r.first) * 10 ** (6 - k), (int(r.last) + 1) * 10 ** (6 - k) - 1
        lengths = " OR ".join(f"n = {n}" for n in r.lengths)
        arms.append(f"WHEN p6 BETWEEN {lo} AND {hi} AND ({lengths}) THEN {_sql_str(r.issuer)}")
    return "CASE " + " ".join(arms) + " END"


def macros() -> list[str]:
    needs_context = ", ".join(_sql_str(i) for i in sorted({r.issuer for r in IIN_RANGES if r.needs_context}))
    return [
        # Luhn: from the right, every second digit doubled (minus 9 when over 9), sum % 10 = 0
        """CREATE OR REPLACE TEMP MACRO luhn_ok(s) AS (
             length(s) BETWEEN 13 AND 19 AND regexp_full_match(s, '[0-9]+') AND
             list_sum(list_transform(string_split(reverse(s), ''), lambda c, i:
                CASE WHEN i % 2 = 0 THEN CAST(c AS INTEGER) * 2 - CASE WHEN c >= '5' THEN 9 ELSE 0 END
                     ELSE CAST(c AS INTEGER) END)) % 10 = 0)""",
        f"CREATE OR REPLACE TEMP MACRO card_issuer_at(p6, n) AS ({_issuer_case()})",
        """CREATE OR REPLACE TEMP MACRO card_issuer(s) AS CASE WHEN regexp_full_match(s, '[0-9]{13,19}')
             THEN card_issuer_at(CAST(left(s, 6) AS INTEGER), length(s)) END""",
        f"CREATE OR REPLACE TEMP MACRO card_needs_context(issuer) AS "
        f"coalesce(list_contains([{needs_context or 'NULL'}], issuer), false)",
        # BSN 11-proof: weights 9..2 for the first eight digits, -1 for the last
        """CREATE OR REPLACE TEMP MACRO bsn_ok(s) AS (
             regexp_full_match(s, '[0-9]{9}') AND s <> '000000000' AND
             list_sum(list_transform(string_split(s, ''), lambda c, i:
                CAST(c AS INTEGER) * CASE WHEN i = 9 THEN -1 ELSE 10 - i END)) % 11 = 0)""",
        # ISO 13616: country and check digits moved to the end, letters read as 10..35, mod 97 = 1
        """CREATE OR REPLACE TEMP MACRO iban_mod97_ok(s) AS (
             regexp_full_match(s, '[A-Z]{2}[0-9]{2}[A-Z0-9]+') AND
             list_reduce(list_transform(string_split(substr(s, 5) || substr(s, 1, 4), ''),
                   lambda ch: CASE WHEN ch >= 'A' THEN ascii(ch) - 55 ELSE CAST(ch AS INTEGER) END),
                 lambda acc, v: (acc * CASE WHEN v >= 10 THEN 100 ELSE 10 END + v) % 97, 0) = 1)""",
        f"CREATE OR REPLACE TEMP MACRO iban_structure_ok(s) AS "
        f"regexp_full_match(s, {_sql_str(IBAN_STRUCTURE_PATTERN)})",
        # national check digits inside the BBAN, as python-stdnum's be/es/me/no.iban check them
        """CREATE OR REPLACE TEMP MACRO es_ccc_digit(n) AS (
             CASE WHEN list_sum(list_transform(string_split(n, ''), lambda ch, i:
                          CAST(ch AS INTEGER) * [1, 2, 4, 8, 5, 10, 9, 7, 3, 6][i])) % 11 < 2
                  THEN list_sum(list_transform(string_split(n, ''), lambda ch, i:
                          CAST(ch AS INTEGER) * [1, 2, 4, 8, 5, 10, 9, 7, 3, 6][i])) % 11
                  ELSE 11 - list_sum(list_transform(string_split(n, ''), lambda ch, i:
                          CAST(ch AS INTEGER) * [1, 2, 4, 8, 5, 10, 9, 7, 3, 6][i])) % 11 END)""",
        """CREATE OR REPLACE TEMP MACRO iban_national_ok(u) AS CASE left(u, 2)
             WHEN 'BE' THEN coalesce(nullif(TRY_CAST(substr(u, 5, 10) AS BIGINT) % 97, 0), 97)
                            = TRY_CAST(substr(u, 15, 2) AS INTEGER)
             WHEN 'ME' THEN TRY_CAST(substr(u, 5) AS HUGEINT) % 97 = 1
             WHEN 'ES' THEN CAST(es_ccc_digit('00' || substr(u, 5, 8)) AS VARCHAR)
                            || CAST(es_ccc_digit(substr(u, 15, 10)) AS VARCHAR) = substr(u, 13, 2)
             WHEN 'NO' THEN CAST(list_sum(list_transform(string_split(substr(u, 5, 10), ''),
                                 lambda ch, i: CAST(ch AS INTEGER) * [6, 7, 8, 9, 4, 5, 6, 7, 8, 9][i])) % 11
                                 AS VARCHAR) = substr(u, 15, 1)
             ELSE true END""",
        # s: the compact IBAN as written, u: the same in capitals; the registry's classes apply
        # as written, except to a number written wholly in lower case
        """CREATE OR REPLACE TEMP MACRO iban_valid(s, u) AS CASE
             WHEN iban_structure_ok(CASE WHEN s = lower(s) THEN u ELSE s END) AND iban_mod97_ok(u)
             THEN iban_national_ok(u) ELSE false END""",
        "CREATE OR REPLACE TEMP MACRO iban_ok(s) AS iban_valid(s, upper(s))",
        # separators: one kind inside the BBAN (seps: the distinct ones); after the check digits
        # (lead: what follows them) a space is also allowed
        """CREATE OR REPLACE TEMP MACRO iban_layout_ok(lead, seps) AS
             len(seps) <= 1 AND (lead IN ('', ' ') OR len(seps) = 0 OR lead = seps[1])""",
        "CREATE OR REPLACE TEMP MACRO digits_only(s) AS regexp_replace(s, '[^0-9]', '', 'g')",
        # a run of digit groups worth validating: 13-19 digits (a card), 9 digits in one group or
        # in three (a BSN's layouts), 8 digits in one group (a BSN without its leading zero)
        "CREATE OR REPLACE TEMP MACRO span_shape_ok(n, groups) AS "
        "n BETWEEN 13 AND 19 OR (n = 9 AND groups IN (1, 3)) OR (n = 8 AND groups = 1)",
        # 1-based start of each match, from the pieces between matches (regexp_split_to_array)
        """CREATE OR REPLACE TEMP MACRO match_starts(toks, pieces) AS
             list_transform(range(1, len(toks) + 1), lambda k: CAST(
                 1 + list_sum(list_transform(pieces[1:k], lambda p: length(p)))
                   + coalesce(list_sum(list_transform(toks[1:k - 1], lambda q: length(q))), 0)
                 AS BIGINT))""",
        f"""CREATE OR REPLACE TEMP MACRO context_score(near, kind) AS CASE kind
             WHEN 'card' THEN len(regexp_extract_all(lower(near), {_sql_str(CONTEXT['card'])}))
             WHEN 'bsn' THEN len(regexp_extract_all(lower(near), {_sql_str(CONTEXT['bsn'])}))
             ELSE len(regexp_extract_all(lower(near), {_sql_str(CONTEXT['iban'])})) END""",
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    for sql in macros():
        con.execute(sql)


# ---------------------------------------------------------------- the scan

TEXT_COLUMNS = ("tbl", "col", "id", "customer_id", "chat_id", "txt")


SCRATCH = ("free_text_src", "free_text_tokens", "free_text_ibans", "free_text_digit_hits")


def scan_statements(source: str, target: str = "text_candidates") -> list[str]:
    """SQL statements creating the temp table ``target``: every valid card, BSN and IBAN in the
    texts of ``source``, one row per number.

    ``source`` is a query with the columns ``TEXT_COLUMNS``. ``target`` has tbl, col, id,
    customer_id, chat_id, kind ('card', 'bsn', 'iban'), value (digits, a BSN padded to nine,
    or the compact IBAN in capitals), pos (1-based character position of the number's first
    character), len and raw (its characters as written) and context (the context score).

    One regular-expression pass per text; tokens are validated without positions, and only
    texts holding a valid number are split again to place them. Each step is its own temp table
    (``SCRATCH``, dropped at the end) so that DuckDB evaluates every check once, on the rows
    that need it."""
    tok, chain = _sql_str(TOKEN_PATTERN), _sql_str(CHAIN_PATTERN)
    ibanish = _sql_str(IBAN_START_PATTERN)
    keys = "tbl, col, id, customer_id, chat_id"
    layouts = _sql_str("|".join(SEPARATOR.join(f"[0-9]{{{n}}}" for n in lay) for lay in BSN_LAYOUTS))
    bsn_words, card_words = _sql_str(CONTEXT["bsn"]), _sql_str(CONTEXT["card"])
    ipv4 = _sql_str(IPV4_PATTERN)
    src, tokens, ibans, digit_hits = SCRATCH
    return [
        # the texts holding at least one token (the one pass over every text)
        f"""CREATE OR REPLACE TEMP TABLE {src} AS
        SELECT hash(tbl, col, id, txt) AS rid, {keys}, txt, ibanish,
               CASE WHEN ibanish THEN regexp_extract_all(txt, {tok})
                    ELSE regexp_extract_all(txt, {chain}) END AS toks
        FROM (SELECT *, regexp_matches(txt, {ibanish}) AS ibanish
              FROM ({source}) WHERE txt IS NOT NULL AND regexp_matches(txt, {tok}))""",
        f"""CREATE OR REPLACE TEMP TABLE {tokens} AS
        SELECT rid, unnest(toks) AS tok, unnest(range(1, len(toks) + 1)) AS k FROM {src}""",
        f"""CREATE OR REPLACE TEMP TABLE {ibans} AS
        SELECT rid, k, tok, iban_layout_ok(lead, seps) AND iban_valid(c, upper(c)) AS ok
        FROM (SELECT *, regexp_replace(tok, '[ .-]', '', 'g') AS c,
                     regexp_extract(regexp_replace(tok, '^[A-Za-z]{{2}} ?[0-9]{{2}}', ''), '^[ .-]*') AS lead,
                     list_distinct(regexp_extract_all(
                         regexp_replace(tok, '^[A-Za-z]{{2}} ?[0-9]{{2}}[ .-]*', ''), '[ .-]+')) AS seps
              FROM {tokens} WHERE regexp_matches(tok, '^[A-Za-z]'))""",
        # digit chains: every run of consecutive groups with one kind of separator is tried;
        # base: where the chain starts in its token (a failed IBAN-shaped token that starts with
        # a word, 'om 12 ...', hides no digit chain; one with a capital country code is a
        # mistyped IBAN and claims its characters)
        f"""CREATE OR REPLACE TEMP TABLE {digit_hits} AS
        WITH chains AS (
            SELECT rid, k, tok, 0 AS base FROM {tokens}
            WHERE NOT regexp_matches(tok, '^[A-Za-z]') AND NOT regexp_full_match(tok, {ipv4})
            UNION ALL
            SELECT rid, k, unnest(ct) AS tok, unnest(match_starts(ct, cp)) - 1 AS base
            FROM (SELECT *, regexp_split_to_array(tok, {chain}) AS cp
                  FROM (SELECT *, regexp_extract_all(tok, {chain}) AS ct FROM {ibans}
                        WHERE NOT ok AND NOT regexp_matches(tok, '^[A-Z]{{2}}'))
                  WHERE len(ct) > 0)),
        grouped AS (         -- chains with separators (plain digits take the short way)
            SELECT rid, k, base, tok, g, s, match_starts(g, gp) AS go,
                   match_starts(g, list_transform(gp, lambda x: '')) AS cs   -- in the digits
            FROM (SELECT *, regexp_extract_all(tok, '[0-9]+') AS g,
                         regexp_extract_all(tok, '[^0-9]+') AS s,
                         regexp_split_to_array(tok, '[0-9]+') AS gp
                  FROM chains WHERE NOT regexp_full_match(tok, '[0-9]+'))),
        spans AS (
            SELECT rid, k, base, 0 AS off, length(tok) AS len, true AS single, tok AS digits,
                   tok AS raw
            FROM chains WHERE regexp_full_match(tok, '[0-9]+') AND length(tok) <= 19
            UNION ALL
            SELECT rid, k, base, go[sp.i] - 1 AS off,
                   go[sp.j] + length(g[sp.j]) - go[sp.i] AS len, sp.i = sp.j AS single,
                   array_to_string(g[sp.i:sp.j], '') AS digits,
                   substr(tok, go[sp.i], go[sp.j] + length(g[sp.j]) - go[sp.i]) AS raw
            FROM (SELECT *, unnest(list_filter(
                      flatten(list_transform(range(1, len(g) + 1), lambda i:
                          list_transform(range(i, len(g) + 1), lambda j: {{'i': i, 'j': j}}))),
                      lambda sp: len(list_distinct(s[sp.i:sp.j - 1])) <= 1
                          AND span_shape_ok(cs[sp.j] + length(g[sp.j]) - cs[sp.i], sp.j - sp.i + 1)
                      )) AS sp
                  FROM grouped)),
        judged AS MATERIALIZED (
            SELECT *, card_issuer_at(p6, n) AS issuer
            FROM (SELECT *, length(digits) AS n, TRY_CAST(left(digits, 6) AS INTEGER) AS p6
                  FROM spans))
        -- need: the context word a hit still needs ('card': UATP, 'bsn': eight digits, or '')
        SELECT rid, k, base, 'card' AS kind, digits AS value, off, len,
               CASE WHEN card_needs_context(issuer) THEN 'card' ELSE '' END AS need
        FROM judged WHERE issuer IS NOT NULL AND luhn_ok(digits)
        UNION ALL
        SELECT rid, k, base, 'bsn', lpad(digits, 9, '0'), off, len,
               CASE WHEN n = 8 THEN 'bsn' ELSE '' END
        FROM judged
        WHERE (n = 9 AND regexp_full_match(raw, {layouts}) AND bsn_ok(digits))
           OR (n = 8 AND single AND bsn_ok('0' || digits))""",
        # within a chain every valid number claims its characters: card before BSN, more digits
        # first, leftmost first, a hit that still needs a context word last; then only the texts
        # holding a number are split again to place their tokens
        f"""CREATE OR REPLACE TEMP TABLE {target} AS
        WITH claimed AS (
            SELECT rid, k, unnest(CASE WHEN len(c) = 1 THEN c ELSE list_reduce(
                       list_transform(c, lambda x: [x]),
                       lambda acc, x: CASE WHEN list_bool_or(list_transform(acc, lambda a:
                                            a.off < x[1].off + x[1].len AND x[1].off < a.off + a.len))
                                          THEN acc ELSE list_concat(acc, x) END) END) AS h
            FROM (SELECT rid, k, base, list_sort(list({{
                             'late': need <> '', 'bsn': kind <> 'card', 'short': -length(value),
                             'off': base + off, 'len': len, 'kind': kind, 'value': value,
                             'need': need}})) AS c
                  FROM {digit_hits} GROUP BY rid, k, base)),
        hits AS (
            SELECT rid, k, 'iban' AS kind, upper(regexp_replace(tok, '[ .-]', '', 'g')) AS value,
                   0 AS off, length(tok) AS len, '' AS need
            FROM {ibans} WHERE ok
            UNION ALL
            SELECT rid, k, h.kind, h.value, h.off, h.len, h.need FROM claimed),
        texts AS MATERIALIZED (  -- a single token found once in its text is where it stands
            SELECT rid, {keys}, txt, toks, ibanish,
                   CASE WHEN len(toks) = 1 THEN strpos(txt, toks[1]) END AS first
            FROM {src} WHERE rid IN (SELECT rid FROM hits)),
        split AS MATERIALIZED (
            SELECT rid, {keys}, txt, toks, CASE WHEN ibanish THEN regexp_split_to_array(txt, {tok})
                                           ELSE regexp_split_to_array(txt, {chain}) END AS pieces
            FROM texts
            WHERE first IS NULL OR strpos(substr(txt, first + 1), toks[1]) > 0),
        placed AS (
            SELECT rid, {keys}, txt, [first] AS starts FROM texts
            WHERE first IS NOT NULL AND strpos(substr(txt, first + 1), toks[1]) = 0
            UNION ALL
            SELECT rid, {keys}, txt, match_starts(toks, pieces) FROM split),
        located AS (
            SELECT h.*, p.{keys.replace(', ', ', p.')}, p.starts[h.k] + h.off AS pos,
                   substr(p.txt, p.starts[h.k] + h.off, h.len) AS raw,
                   substr(p.txt, greatest(p.starts[h.k] + h.off - {NEAR}, 1), h.len + 2 * {NEAR}) AS near,
                   substr(p.txt, greatest(p.starts[h.k] + h.off - {BSN_BARE_WINDOW}, 1),
                          least(p.starts[h.k] + h.off - 1, {BSN_BARE_WINDOW})) AS before
            FROM hits h JOIN placed p USING (rid))
        SELECT {keys}, kind, value, pos, len, raw, context_score(near, kind) AS context
        FROM located
        WHERE need = ''
           OR (need = 'card' AND regexp_matches(lower(near), {card_words}))
           OR (need = 'bsn' AND regexp_matches(lower(before), {bsn_words}))
        ORDER BY tbl, col, id, pos""",
        *(f"DROP TABLE IF EXISTS {t}" for t in SCRATCH),
    ]


def _lit(expr: str) -> str:
    """SQL (inside the builder) quoting a string expression as a SQL literal."""
    return f"('''' || replace({expr}, '''', '''''') || '''')"


def _ident(expr: str) -> str:
    return f"('\"' || replace({expr}, '\"', '\"\"') || '\"')"


_EMPTY = ("SELECT NULL::VARCHAR AS tbl, NULL::VARCHAR AS col, NULL::VARCHAR AS id, "
          "NULL::VARCHAR AS customer_id, NULL::VARCHAR AS chat_id, NULL::VARCHAR AS txt WHERE false")
_EMPTY_COUNTS = ("SELECT NULL::VARCHAR AS tbl, NULL::VARCHAR AS col, NULL::BIGINT AS texts, "
                 "NULL::BOOLEAN AS extra WHERE false")


def sources_sql() -> str:
    """SQL setting two session variables from the database's real columns:

    - ``privaudit_free_text``: a query (columns ``TEXT_COLUMNS``) over every text column the
      schema marks as free text and every extra VARCHAR column an export brought (columns of a
      canonical table the schema does not know), one scan per table however many columns,
      limited to rows dated at or before ``as_of`` like the audit's views;
    - ``privaudit_free_text_counts``: per such column the number of non-empty values scanned.

    The engine's views show only schema columns, so the base tables are read (``query()``);
    needs the ``audit_params`` table of ``toolkit.findings.prepare``."""
    from . import schema
    spec = ", ".join(
        f"({_sql_str(t.name)}, {_sql_str(t.primary_key)}, "
        f"{_sql_str(t.event_time) if t.event_time else 'NULL'}, "
        f"[{', '.join(_sql_str(c.name) for c in t.columns if c.free_text)}]::VARCHAR[], "
        f"[{', '.join(_sql_str(c.name) for c in t.columns)}]::VARCHAR[])"
        for t in schema.TABLES)
    base = (f"{_ident('current_database()')} || '.main.' || {_ident('tbl')}")
    key = (f"{_lit('tbl')} || ' AS tbl, CAST(' || {_ident('pk')} || ' AS VARCHAR) AS id, ' || "
           "CASE WHEN has_customer THEN 'CAST(\"customer_id\" AS VARCHAR)' ELSE 'NULL::VARCHAR' END "
           "|| ' AS customer_id, ' || "
           "CASE WHEN tbl = 'chat_messages' AND has_chat THEN 'CAST(\"chat_id\" AS VARCHAR)' "
           "ELSE 'NULL::VARCHAR' END || ' AS chat_id'")
    dated = (f"CASE WHEN has_et THEN '(' || {_ident('et')} || ' IS NULL OR ' || {_ident('et')} "
             "|| ' <= (SELECT as_of FROM audit_params))' ELSE 'true' END")
    names = f"'[' || array_to_string(list_transform(scan, lambda c: {_lit('c')}), ', ') || ']'"
    values = f"'[' || array_to_string(list_transform(scan, lambda c: {_ident('c')}), ', ') || ']'"
    counts = (f"'[' || array_to_string(list_transform(scan, lambda c: 'count(' || {_ident('c')} "
              f"|| ')'), ', ') || ']'")
    extras = (f"'[' || array_to_string(list_transform(scan, lambda c: "
              f"CASE WHEN list_contains(free_cols, c) THEN 'false' ELSE 'true' END), ', ') || ']'")
    one = (f"'SELECT ' || {key} || ', ' || {_lit('scan[1]')} || ' AS col, ' || {_ident('scan[1]')} "
           f"|| ' AS txt FROM ' || {base} || ' WHERE ' || {_ident('scan[1]')} || ' IS NOT NULL AND ' "
           f"|| {dated}")
    many = (f"'SELECT * FROM (SELECT ' || {key} || ', unnest(' || {names} || ') AS col, unnest(' "
            f"|| {values} || ') AS txt FROM ' || {base} || ' WHERE ' || {dated} || ') WHERE txt IS NOT NULL'")
    count_one = (f"'SELECT ' || {_lit('tbl')} || ' AS tbl, unnest(' || {names} || ') AS col, '"
                 f"|| 'unnest(' || {counts} || ') AS texts, unnest(' || {extras} || ') AS extra FROM ' "
                 f"|| {base} || ' WHERE ' || {dated}")
    return f"""
    WITH spec(tbl, pk, et, free_cols, known_cols) AS (VALUES {spec}),
    cols AS (
        SELECT s.*, c.column_name AS col, c.data_type AS typ, c.column_index AS ix
        FROM spec s JOIN duckdb_columns() c
          ON c.table_name = s.tbl AND c.database_name = current_database()
         AND c.schema_name = 'main'),
    per AS (
        SELECT tbl, any_value(pk) AS pk, any_value(et) AS et, any_value(free_cols) AS free_cols,
               coalesce(list(col ORDER BY ix) FILTER (WHERE typ = 'VARCHAR' AND (
                   list_contains(free_cols, col) OR NOT list_contains(known_cols, col))), []) AS scan,
               bool_or(col = pk) AS has_pk, bool_or(col = et) AS has_et,
               bool_or(col = 'customer_id') AS has_customer, bool_or(col = 'chat_id') AS has_chat
        FROM cols GROUP BY tbl),
    parts AS (
        SELECT tbl, CASE WHEN len(scan) = 1 THEN {one} ELSE {many} END AS q, {count_one} AS qc
        FROM per WHERE has_pk AND len(scan) > 0)
    SELECT [coalesce(string_agg(q, ' UNION ALL BY NAME ' ORDER BY tbl), {_sql_str(_EMPTY)}),
            coalesce(string_agg(qc, ' UNION ALL BY NAME ' ORDER BY tbl), {_sql_str(_EMPTY_COUNTS)})]
    FROM parts"""


def setup_statements() -> list[str]:
    """The free-text scan, run once per audit before the SEC rules: ``text_candidates`` (one row
    per valid number, see ``scan_statements``) and ``free_text_columns`` (tbl, col, texts,
    extra: every column scanned and how many values it held)."""
    return [
        f"SET VARIABLE privaudit_free_text_sources = ({sources_sql()})",
        "SET VARIABLE privaudit_free_text = getvariable('privaudit_free_text_sources')[1]",
        "SET VARIABLE privaudit_free_text_counts = getvariable('privaudit_free_text_sources')[2]",
        "CREATE OR REPLACE TEMP TABLE free_text_columns AS "
        "SELECT * FROM query(getvariable('privaudit_free_text_counts'))",
        *scan_statements("SELECT * FROM query(getvariable('privaudit_free_text'))"),
    ]


@dataclass(frozen=True)
class Hit:
    kind: str          # 'card', 'bsn' or 'iban'
    value: str         # digits (a BSN padded to nine), or the compact IBAN in capitals
    start: int         # 0-based index of the first character in the text (Python slicing)
    end: int           # index after the last character
    context: int       # context words nearby


def scan(texts: list[str], con: duckdb.DuckDBPyConnection | None = None) -> list[list[Hit]]:
    """The card numbers, BSNs and IBANs in each text, in order of position (the same SQL as
    the SEC rules, on an in-memory DuckDB unless ``con`` is given)."""
    own = con is None
    con = con or duckdb.connect()
    try:
        install(con)
        con.execute("CREATE OR REPLACE TEMP TABLE free_text_input AS "
                    "SELECT 'texts' AS tbl, 'text' AS col, CAST(i AS VARCHAR) AS id, "
                    "NULL::VARCHAR AS customer_id, NULL::VARCHAR AS chat_id, t AS txt "
                    "FROM (SELECT unnest($texts) AS t, generate_subscripts($texts, 1) AS i)",
                    {"texts": list(texts)})
        for stmt in scan_statements("SELECT * FROM free_text_input", "free_text_scan"):
            con.execute(stmt)
        rows = con.execute("SELECT CAST(id AS INTEGER), kind, value, pos, len, context "
                           "FROM free_text_scan ORDER BY 1, pos").fetchall()
        con.execute("DROP TABLE free_text_input; DROP TABLE free_text_scan")
    finally:
        if own:
            con.close()
    out: list[list[Hit]] = [[] for _ in texts]
    for i, kind, value, pos, n, ctx in rows:
        out[i - 1].append(Hit(kind, value, pos - 1, pos - 1 + n, ctx))
    return out


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


def card_issuer(digits: str) -> str | None:
    """The issuer whose IIN range and lengths fit ``digits`` (first in ``card_iin.csv``)."""
    if not (digits.isdigit() and 13 <= len(digits) <= 19):
        return None
    for r in IIN_RANGES:
        head = digits[:len(r.first)]
        if r.first <= head <= r.last and len(digits) in r.lengths:
            return r.issuer
    return None


def bsn(number: str) -> bool:
    d = re.sub(r"[ .\-]", "", number)
    if not (d.isdigit() and len(d) == 9) or d == "000000000":
        return False
    return (sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1))) - int(d[8])) % 11 == 0


def _national_ok(s: str) -> bool:
    cc, b = s[:2], s[4:]
    if cc == "BE":
        return (int(b[:10]) % 97 or 97) == int(b[10:12])
    if cc == "ME":
        return int(b) % 97 == 1
    if cc == "ES":
        def digit(n: str) -> str:
            r = sum(int(ch) * w for ch, w in zip(n, (1, 2, 4, 8, 5, 10, 9, 7, 3, 6))) % 11
            return str(r if r < 2 else 11 - r)
        return digit("00" + b[:8]) + digit(b[10:]) == b[8:10]
    if cc == "NO":
        return str(sum(int(ch) * w for ch, w in zip(b[:10], (6, 7, 8, 9, 4, 5, 6, 7, 8, 9))) % 11) == b[10]
    return True


def iban(text: str) -> bool:
    """A valid IBAN (separators removed): structure, mod-97 and national check digits."""
    s = re.sub(r"[ .\-]", "", text)
    s = s.upper() if s == s.lower() else s
    if not re.fullmatch(IBAN_STRUCTURE_PATTERN, s):
        return False
    u = s.upper()
    digits = "".join(str(int(ch, 36)) for ch in u[4:] + u[:4])
    return int(digits) % 97 == 1 and _national_ok(u)


def contact_counts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """E-mail addresses and Dutch phone numbers found per free-text column (not findings):
    every column the SEC rules scan (schema free text and extra text columns of exports).

    Needs a connection prepared by the audit engine (``toolkit.findings.prepare``)."""
    con.execute(setup_statements()[0])
    con.execute(setup_statements()[1])
    rows = con.execute(
        f"SELECT tbl, col, count(*) AS texts, "
        f"count_if(regexp_matches(txt, {_sql_str(EMAIL_PATTERN)})) AS with_email, "
        f"sum(len(regexp_extract_all(txt, {_sql_str(EMAIL_PATTERN)}))) AS emails, "
        f"count_if(regexp_matches(txt, {_sql_str(PHONE_PATTERN)})) AS with_phone, "
        f"sum(len(regexp_extract_all(txt, {_sql_str(PHONE_PATTERN)}))) AS phones "
        f"FROM query(getvariable('privaudit_free_text')) GROUP BY tbl, col ORDER BY tbl, col"
    ).fetchall()
    keys = ["table", "column", "texts", "with_email", "emails", "with_phone", "phones"]
    return [dict(zip(keys, r)) for r in rows]
