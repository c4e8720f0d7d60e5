"""Masking: the one place that decides how personal data may appear in any output.

Every value that leaves the database (a finding's subject and customer ids and evidence, rule
errors, terminal tables, notebooks, HTML, gate results) goes through this module: values under a
key that names a kind of personal data (:data:`KEY_KINDS`) are masked by that kind, and every
other string is *scrubbed*: one pass that finds e-mail addresses, IBANs, card numbers, BSNs,
phone numbers, IP addresses and postcodes wherever they sit and masks each, so a rule that forgets
to declare a value's kind cannot leak it. ``reveal=True`` (``--reveal``) is the only way around it.

One definition, as data
    :data:`KINDS` holds, per kind, the pattern that finds it in text (written in the common subset
    of Python's ``re`` and DuckDB's RE2), how a candidate is checked (``check``: Luhn, the BSN
    11-proof, IBAN mod-97, a digit count), and how it is shown: the value is normalised
    (``normalise``: trim, digits only, or compact upper case) and matched against one of its
    ``shapes``, each ``(regex with three groups, hidden)``: the first and third groups are kept,
    the second is replaced by ``hidden`` (or one ``*`` per character when ``hidden`` is None).
    Contract section 6: e-mail ``j***@example.nl``, card ``411111******1111``, BSN ``12*****82``,
    IBAN ``NL91********4300``; also phone ``06******78``, IP ``83.84.*.*``, postcode ``1234 **``.
    A value that fits no shape is shown as ``[redacted]``. Names, addresses and free text never
    appear: their kinds mask to ``[redacted]`` whole.

How text is scrubbed (:func:`scrub`)
    1. URLs are taken apart: user and password are dropped, a host that is an IP address is
       masked, the path is URL-decoded and scrubbed, and each parameter of the query string and
       the fragment is masked *by key* (``email=``, ``bsn=``, ``naam=``, ``tel=``, ... see
       :data:`URL_KEYS`) and otherwise *by value* (decoded, then scrubbed).
    2. The rest is URL-decoded (``piet%40ziggo.nl`` is an e-mail address) and scanned for every
       kind at once: at each position the earliest candidate wins (the more specific kind on a
       tie: e-mail, IBAN, card, BSN, phone, IP, postcode); a candidate that fails its check is
       skipped and the scan goes on inside it, so one number never hides another.

A number that fails its checksum (a 16-digit order number that is no valid card number, a
9-digit one that fails the 11-proof) is not that kind of number and stays as it is.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import unquote

from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.nl import bsn as _bsn

from . import schema

REDACTED = "[redacted]"
BSN = "bsn"
POSTCODE = "postcode"


# ---------------------------------------------------------------- the kinds, as data

@dataclass(frozen=True)
class Kind:
    """One kind of personal data: how it is found in text, checked, and shown masked."""
    name: str
    pattern: str                                # finds candidates in text (re and RE2)
    normalise: str                              # trim | digits | compact_upper
    shapes: tuple[tuple[str, str | None], ...]  # (regex with 3 groups, hidden) on the normalised value
    check: str = "none"                         # none | luhn | bsn | iban | phone
    doc: str = ""


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind(schema.EMAIL,
         r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
         "trim", ((r"(.)([^@]*)(@.+)", "***"),),
         doc="first character of the local part and the domain"),
    Kind(schema.IBAN,
         r"\b[A-Za-z]{2}[ \-.]?[0-9]{2}(?:[ \-.]?[A-Za-z0-9]){10,30}\b",
         "compact_upper", ((r"([A-Z]{2}[0-9]{2})(.+)(.{4})", "********"),), check="iban",
         doc="country, check digits and the last four characters"),
    Kind(schema.CARD,
         r"\b[0-9](?:[ \-]?[0-9]){12,18}\b",
         "digits", ((r"([0-9]{6})([0-9]+)([0-9]{4})", None),), check="luhn",
         doc="issuer number (six digits) and the last four, as PCI DSS allows"),
    Kind(BSN,
         r"\b(?:[0-9]{9}|[0-9]{4}[. ][0-9]{2}[. ][0-9]{3}|[0-9]{3}[. \-][0-9]{3}[. \-][0-9]{3})\b",
         "digits", ((r"([0-9]{2})([0-9]+)([0-9]{2})", "*****"),), check="bsn",
         doc="first two and last two digits"),
    Kind(schema.PHONE,
         r"(?:\+|\b00)[1-9][0-9]?(?:[ \-.]?\(?[0-9]\)?){7,13}\b|\(?\b0[0-9](?:[ \-.]?\)?[ \-.]?[0-9]){8}\b",
         "digits", ((r"([0-9]{2})([0-9]{2,})([0-9]{2})", None),), check="phone",
         doc="first two and last two digits"),
    Kind(schema.IP,
         r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
         r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b"
         r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
         r"|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?\b",
         "trim", ((r"([0-9]+\.[0-9]+)(\.[0-9]+\.[0-9]+)()", ".*.*"),
                  (r"([0-9A-Fa-f]*:[0-9A-Fa-f]*)(:.*)()", ":****")),
         doc="IPv4: the first two octets; IPv6: the first two groups"),
    Kind(POSTCODE,
         r"\b[1-9][0-9]{3} ?[A-Z]{2}\b",
         "compact_upper", ((r"([0-9]{4})([A-Z]{2})()", " **"),),
         doc="Dutch postcode: the four digits (the area), not the letters (the street)"),
)}

# the order in which kinds win a tie at the same position: the more specific first
SCAN_ORDER = (schema.EMAIL, schema.IBAN, schema.CARD, BSN, schema.PHONE, schema.IP, POSTCODE)

# kinds of toolkit.schema that are never shown, not even in part
WHOLLY_REDACTED = (schema.NAME, schema.TEXT, schema.ADDRESS, schema.BIRTH, schema.CREDENTIAL,
                   schema.IDENT)

# evidence keys whose values are personal data, by kind
KEY_KINDS: dict[str, str] = {
    "email": schema.EMAIL, "emails": schema.EMAIL, "email_at_order": schema.EMAIL,
    "phone": schema.PHONE, "phone_at_order": schema.PHONE, "caller_number": schema.PHONE,
    "card": schema.CARD, "pan": schema.CARD, "card_pan": schema.CARD, "card_cvv": schema.CREDENTIAL,
    "iban": schema.IBAN, "bsn": BSN,
    "name": schema.NAME, "first_name": schema.NAME, "last_name": schema.NAME,
    "billing_name": schema.NAME, "delivery_name": schema.NAME,
    "text": schema.TEXT, "body": schema.TEXT, "transcript": schema.TEXT, "notes": schema.TEXT,
    "street": schema.ADDRESS, "address": schema.ADDRESS, "postcode": POSTCODE,
    "ip": schema.IP, "ip_address": schema.IP,
}

# query-string and fragment keys (lower case, without - and _) whose values are personal data
URL_KEYS: dict[str, str] = {
    **{k: schema.EMAIL for k in ("email", "mail", "emailaddress", "emailadres", "mailadres",
                                 "username", "user", "login", "to", "recipient", "ontvanger")},
    **{k: schema.PHONE for k in ("phone", "tel", "telephone", "telefoon", "telefoonnummer",
                                 "mobile", "mobiel", "gsm", "msisdn", "phonenumber")},
    **{k: schema.NAME for k in ("naam", "name", "voornaam", "achternaam", "firstname", "lastname",
                                "fullname", "fname", "lname", "fn", "ln", "surname", "givenname",
                                "tussenvoegsel", "initialen", "initials")},
    **{k: schema.ADDRESS for k in ("adres", "address", "straat", "street", "huisnummer",
                                   "housenumber", "woonplaats", "city", "plaats", "zip",
                                   "zipcode", "postalcode", "postcode", "geboortedatum", "dob",
                                   "birthdate", "birthday")},
    **{k: schema.CREDENTIAL for k in ("password", "pass", "pwd", "wachtwoord", "token",
                                      "accesstoken", "apikey", "key", "secret", "auth",
                                      "session", "sessionid", "sid", "code", "otp")},
    **{k: BSN for k in ("bsn", "burgerservicenummer", "sofinummer")},
    **{k: schema.IBAN for k in ("iban", "rekening", "rekeningnummer", "bankaccount")},
    **{k: schema.CARD for k in ("card", "cardnumber", "pan", "creditcard", "kaartnummer")},
    **{k: schema.IP for k in ("ip", "ipaddress", "clientip", "remoteaddr")},
}


# ---------------------------------------------------------------- masking one value of a kind

def _normalise(how: str, v: str) -> str:
    if how == "digits":
        return re.sub(r"[^0-9]", "", v)
    if how == "compact_upper":
        return re.sub(r"[^0-9A-Za-z]", "", v).upper()
    return v.strip()


_SHAPES = {k.name: [(re.compile(rx), hidden) for rx, hidden in k.shapes] for k in KINDS.values()}


def mask_as(kind: str, value: str) -> str:
    """``value`` shown as ``kind`` of :data:`KINDS` (``[redacted]`` when it fits no shape)."""
    k = KINDS[kind]
    v = _normalise(k.normalise, value)
    for rx, hidden in _SHAPES[kind]:
        m = rx.fullmatch(v)
        if m:
            return m.group(1) + ("*" * len(m.group(2)) if hidden is None else hidden) + m.group(3)
    return REDACTED


def mask_email(v: str) -> str:
    return mask_as(schema.EMAIL, v)


def mask_pan(v: str) -> str:
    return mask_as(schema.CARD, v)


def mask_bsn(v: str) -> str:
    return mask_as(BSN, v)


def mask_iban(v: str) -> str:
    return mask_as(schema.IBAN, v)


def mask_phone(v: str) -> str:
    return mask_as(schema.PHONE, v)


def mask_ip(v: str) -> str:
    return mask_as(schema.IP, v)


def mask_value(kind: str | None, value: Any) -> Any:
    """Mask one value of a known kind (a ``toolkit.schema`` pii kind, ``bsn`` or ``postcode``);
    a value of no declared kind (None) is scrubbed."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [mask_value(kind, v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(kind, v) for k, v in value.items()}
    if kind is None:
        return scrub(value) if isinstance(value, str) else _plain(value)
    if kind in KINDS:
        return mask_as(kind, str(_plain(value)))
    return REDACTED


# ---------------------------------------------------------------- checks of candidates

def _phone_ok(digits: str, raw: str) -> bool:
    if raw.startswith("+") or raw.startswith("00"):
        return 9 <= len(digits) <= 15                   # international (E.164)
    return len(digits) == 10                            # Dutch national: 0 + nine digits


def _accept(kind: str, raw: str) -> int:
    """How many characters of the candidate ``raw`` are a value of ``kind`` (0: none)."""
    if kind == schema.IBAN:
        # the candidate may run on into the next word or number: take the longest valid IBAN
        # that ends on a character boundary of the candidate
        ends = [i + 1 for i, ch in enumerate(raw) if ch.isalnum()]
        for n in range(min(34, len(ends)), 14, -1):
            if _iban.is_valid(raw[:ends[n - 1]]):
                return ends[n - 1]
        return 0
    if kind == schema.CARD:
        # a card number followed by more digits (expiry, CVC): the longest Luhn-valid prefix
        # of 13-19 digits that ends where a group ends
        ends = [i + 1 for i, ch in enumerate(raw) if ch.isdigit()]
        for n in range(min(19, len(ends)), 12, -1):
            end = ends[n - 1]
            if (end == len(raw) or not raw[end].isdigit()) and _luhn.is_valid(
                    re.sub(r"[^0-9]", "", raw[:end])):
                return end
        return 0
    if kind == BSN:
        return len(raw) if _bsn.is_valid(re.sub(r"[^0-9]", "", raw)) else 0
    if kind == schema.PHONE:
        return len(raw) if _phone_ok(re.sub(r"[^0-9]", "", raw), raw) else 0
    return len(raw)


# ---------------------------------------------------------------- scrubbing text

_RX = {name: re.compile(KINDS[name].pattern) for name in SCAN_ORDER}
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
URL_RE = re.compile(r"\b(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s<>\"'`]+")
# nothing of any kind, and no URL, without one of these characters
_NEEDS_SCRUB = re.compile(r"[0-9@%:=]")


def decode(text: str, rounds: int = 3) -> str:
    """``text`` URL-decoded (``%40`` is ``@``), repeatedly for double encoding."""
    for _ in range(rounds):
        if not _PCT.search(text):
            break
        text = unquote(text, errors="replace")
    return text


def _scan(text: str) -> str:
    """Every kind masked wherever it sits in ``text`` (no URL handling)."""
    out: list[str] = []
    pos = 0
    nxt: dict[str, re.Match | None] = {}
    while True:
        best = None
        for name in SCAN_ORDER:
            m = nxt.get(name, ...)
            if m is ... or (m is not None and m.start() < pos):
                m = _RX[name].search(text, pos)
                nxt[name] = m
            if m is not None and (best is None or m.start() < best[1].start()):
                best = (name, m)
        if best is None:
            break
        name, m = best
        n = _accept(name, m.group())
        if n == 0:
            # not this kind here: look for it again one character further, inside the candidate
            nxt[name] = _RX[name].search(text, m.start() + 1)
            continue
        out.append(text[pos:m.start()])
        out.append(mask_as(name, m.group()[:n]))
        pos = m.start() + n
    out.append(text[pos:])
    return "".join(out)


def _key(k: str) -> str:
    return re.sub(r"[\s_\-.\[\]]", "", decode(k).lower())


def _param(part: str) -> str:
    key, eq, value = part.partition("=")
    if not eq:
        return _scan(decode(part))
    kind = URL_KEYS.get(_key(key)) or KEY_KINDS.get(_key(key))
    shown_key = _scan(decode(key))
    if not value:
        return f"{shown_key}="
    value = decode(value.replace("+", " ") if kind in (schema.NAME, schema.ADDRESS) else value)
    if kind is None:
        return f"{shown_key}={_scan(value)}"
    if kind in KINDS:
        return f"{shown_key}={mask_as(kind, value)}"
    return f"{shown_key}={REDACTED}"


def _params(s: str) -> str:
    return "&".join(";".join(_param(p) for p in chunk.split(";")) for chunk in s.split("&"))


def _url(m: re.Match) -> str:
    url = m.group()
    trail = ""
    while url and url[-1] in ".,;:!?)]}":     # sentence punctuation after a URL
        trail, url = url[-1] + trail, url[:-1]
    rest, hash_, fragment = url.partition("#")
    rest, q, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if not sep:
        scheme, after = "", rest
    host, slash, path = after.partition("/")
    if "@" in host:                                     # user:password@host
        host = REDACTED + "@" + host.rpartition("@")[2]
    out = (scheme + sep if sep else "") + _scan(decode(host)) + slash + _scan(decode(path))
    if q:
        out += "?" + _params(query)
    if hash_:
        out += "#" + _params(fragment)
    return out + trail


def scrub(text: str) -> str:
    """``text`` with every e-mail address, IBAN, card number, BSN, phone number, IP address and
    postcode masked, URLs masked by parameter key and value (see the module's docstring)."""
    if not isinstance(text, str):
        return text
    if not _NEEDS_SCRUB.search(text):
        return text
    return _scrub(text)


@functools.lru_cache(maxsize=1 << 16)
def _scrub(text: str) -> str:
    # (exports repeat values a lot: the same page URL, campaign or column on many findings)
    parts = []
    pos = 0
    for m in URL_RE.finditer(text):
        parts.append(_between(text[pos:m.start()]))
        parts.append(_url(m))
        pos = m.end()
    parts.append(_between(text[pos:]))
    return "".join(parts)


def _between(segment: str) -> str:
    """Text outside URLs: decoded, then scanned (an encoded URL in it is taken apart too)."""
    if not segment:
        return segment
    once = decode(segment, rounds=1)
    if once != segment and URL_RE.search(once):
        return scrub(once)          # one round only: the URL's own parts are decoded part by part
    return _scan(decode(once))


# ---------------------------------------------------------------- evidence and finding rows

def _plain(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def _masked(kind: str | None, v: Any, reveal: bool) -> Any:
    if reveal:
        return _plain(v)
    if kind is not None:
        return mask_value(kind, v)
    if isinstance(v, str):
        return scrub(v)
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10 ** 7:
        shown = scrub(str(v))             # a phone or BSN that a rule left as a number
        return v if shown == str(v) else shown
    if isinstance(v, (datetime, date, Decimal, int, float, bool)) or v is None:
        return _plain(v)                  # dates, amounts and counts are no one's personal data
    if isinstance(v, dict):
        return mask_evidence(v)
    if isinstance(v, (list, tuple)):
        return [_masked(None, x, reveal) for x in v]
    return scrub(str(v))


def mask_evidence(evidence: dict | None, reveal: bool = False, premasked=()) -> dict:
    """Every value of an evidence record masked by its key (see KEY_KINDS), the rest scrubbed;
    map keys are scrubbed too (a residue map is keyed by table names, a count map may not be).
    The values of the keys in ``premasked`` were masked by their kind already (in SQL, by
    :func:`sql_mask`: the Spark engine) and are kept as they are."""
    if not evidence:
        return {}
    if reveal:
        return {k: _masked(None, v, True) for k, v in evidence.items()}
    return {_key_shown(k): v if k in premasked else _masked(KEY_KINDS.get(k), v, False)
            for k, v in evidence.items()}


@functools.lru_cache(maxsize=1 << 12)
def _key_shown(k: Any) -> str:
    return scrub(str(k))


def mask_text(value: Any, reveal: bool = False) -> Any:
    """One value of no declared kind as it may leave the database: scrubbed unless ``reveal``."""
    if value is None or reveal:
        return value
    return scrub(str(value))


def masker(reveal: bool) -> Callable[[Any], Any]:
    """The function that shows one undeclared value (identity with ``reveal``)."""
    return (lambda v: v) if reveal else (lambda v: None if v is None else scrub(str(v)))


def evidence_text(evidence: dict) -> str:
    """A short one-line rendering of (already masked) evidence: ``key: value; key: value``."""
    parts = []
    for k, v in evidence.items():
        if v is None or v == [] or v == {}:
            continue
        if isinstance(v, dict):
            inner = ", ".join(f"{ik} {iv}" for ik, iv in v.items() if iv not in (None, 0))
            parts.append(f"{k}: {inner}")
        elif isinstance(v, list):
            parts.append(f"{k}: {', '.join(str(x) for x in v)}")
        elif isinstance(v, bool):
            parts.append(f"{k}: {'yes' if v else 'no'}")
        else:
            parts.append(f"{k}: {v}")
    return "; ".join(parts)


def evidence_json(evidence: dict) -> str:
    return json.dumps(evidence, ensure_ascii=False, sort_keys=False, default=str)


# ---------------------------------------------------------------- the same masks in SQL

# Python's str.strip() whitespace (every code point whose str.isspace() is true), as a regular
# expression class: the SQL ``trim`` normalisation strips exactly what Python strips
_SPACE_CLASS = "[" + "".join(f"\\x{{{c:04x}}}" for c in range(0x110000) if chr(c).isspace()) + "]"
_SQL_NORMALISE = {
    "trim": f"regexp_replace({{v}}, '^{_SPACE_CLASS}+|{_SPACE_CLASS}+$', '', 'g')",
    "digits": "regexp_replace({v}, '[^0-9]', '', 'g')",
    "compact_upper": "upper(regexp_replace({v}, '[^0-9A-Za-z]', '', 'g'))",
}


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_mask(kind: str, value: str) -> str:
    """The SQL expression that shows the VARCHAR expression ``value`` as ``kind`` (the SQL twin
    of :func:`mask_value` for a declared kind; NULL stays NULL).

    Generated from :data:`KINDS` (normalisation and shapes), so the Python and SQL masks are one
    definition: plain SQL (``CASE``, ``regexp_replace``, ``regexp_matches``, ``regexp_extract``,
    ``upper``, ``repeat``, ``length``), no lambdas, so SQLGlot renders it for other engines
    (``sqlglot.transpile(sql_mask("email", "col"), read="duckdb", write="spark")``). A kind that
    is never shown (a name, an address, free text) is ``'[redacted]'`` for every non-NULL value.
    """
    if kind not in KINDS:
        return f"CASE WHEN ({value}) IS NULL THEN NULL ELSE {_sql_literal(REDACTED)} END"
    k = KINDS[kind]
    n = _SQL_NORMALISE[k.normalise].replace("{v}", f"CAST(({value}) AS VARCHAR)")
    whens = []
    for rx, hidden in k.shapes:
        full = _sql_literal(f"^(?:{rx})$")
        g = [f"regexp_extract({n}, {full}, {i})" for i in (1, 2, 3)]
        middle = f"repeat('*', length({g[1]}))" if hidden is None else _sql_literal(hidden)
        whens.append(f"WHEN regexp_matches({n}, {full}) THEN {g[0]} || {middle} || {g[2]}")
    return (f"CASE WHEN ({value}) IS NULL THEN NULL {' '.join(whens)} "
            f"ELSE {_sql_literal(REDACTED)} END")


def sql_macro_name(kind: str) -> str:
    """The name of the SQL macro that masks ``kind`` (``mask_email``, ``mask_bsn``, ...)."""
    return f"mask_{kind}"


def sql_macros() -> list[str]:
    """``CREATE OR REPLACE TEMP MACRO mask_<kind>(v)`` for every kind of :data:`KINDS` and every
    wholly redacted kind: :func:`sql_mask` as DuckDB macros (:func:`install_sql`)."""
    return [f"CREATE OR REPLACE TEMP MACRO {sql_macro_name(kind)}(v) AS ({sql_mask(kind, 'v')})"
            for kind in (*KINDS, *WHOLLY_REDACTED)]


def install_sql(con) -> None:
    """Install the masking macros (:func:`sql_macros`) on a DuckDB connection."""
    for stmt in sql_macros():
        con.execute(stmt)
