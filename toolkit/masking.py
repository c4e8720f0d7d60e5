"""Masking: the one place that decides how personal data may appear in any output.

Every output (findings files, the findings table, terminal tables, notebooks, HTML, gate results)
shows evidence through :func:`mask_evidence`. Values are masked by the kind of personal data they
hold (``toolkit.schema`` kinds): e-mail ``j***@example.nl``, card ``411111******1111``,
BSN ``12*****82``, IBAN ``NL91********4300``, phone ``06******78``; names and free text never
appear. On top of that, every other string is scanned and anything that looks like an e-mail
address, card number, IBAN or phone number is masked too, so a rule that forgets to declare a
value's kind cannot leak it. ``reveal=True`` (``--reveal``) lifts masking for an authorised
investigation.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from . import schema

REDACTED = "[redacted]"

# evidence keys whose values are personal data, by kind
KEY_KINDS: dict[str, str] = {
    "email": schema.EMAIL, "emails": schema.EMAIL, "email_at_order": schema.EMAIL,
    "phone": schema.PHONE, "phone_at_order": schema.PHONE, "caller_number": schema.PHONE,
    "card": schema.CARD, "pan": schema.CARD, "card_pan": schema.CARD, "card_cvv": schema.CARD,
    "iban": schema.IBAN, "bsn": "bsn",
    "name": schema.NAME, "first_name": schema.NAME, "last_name": schema.NAME,
    "billing_name": schema.NAME, "delivery_name": schema.NAME,
    "text": schema.TEXT, "body": schema.TEXT, "transcript": schema.TEXT, "notes": schema.TEXT,
    "street": schema.ADDRESS, "postcode": schema.ADDRESS, "address": schema.ADDRESS,
    "ip": schema.IP, "ip_address": schema.IP,
}

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){10,30}\b")
CARD_RE = re.compile(r"\b\d(?:[ \-]?\d){12,18}\b")
PHONE_RE = re.compile(r"(?:\+31|0031|\b0)[ \-]?[1-9](?:[ \-]?\d){8}\b")
BSN_RE = re.compile(r"\b\d{4}[. ]?\d{2}[. ]?\d{3}\b|\b\d{9}\b")
IPV4_RE = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def mask_email(v: str) -> str:
    v = v.strip()
    local, _, domain = v.rpartition("@")
    if not local:
        return REDACTED
    return f"{local[0]}***@{domain}"


def mask_pan(v: str) -> str:
    d = _digits(v)
    if len(d) < 10:
        return "*" * len(d) if d else REDACTED
    return d[:6] + "*" * (len(d) - 10) + d[-4:]


def mask_bsn(v: str) -> str:
    d = _digits(v)
    return d[:2] + "*****" + d[-2:] if len(d) >= 8 else REDACTED


def mask_iban(v: str) -> str:
    s = re.sub(r"\s", "", v).upper()
    return s[:4] + "********" + s[-4:] if len(s) >= 12 else REDACTED


def mask_phone(v: str) -> str:
    d = _digits(v)
    if len(d) < 6:
        return REDACTED
    return d[:2] + "*" * (len(d) - 4) + d[-2:]


def mask_ip(v: str) -> str:
    if ":" in v:                               # IPv6: keep the first two groups
        return ":".join(v.split(":")[:2]) + ":****"
    parts = v.split(".")
    return ".".join(parts[:2] + ["*", "*"]) if len(parts) == 4 else REDACTED


def mask_value(kind: str | None, value: Any) -> Any:
    """Mask one value of a known kind (a ``toolkit.schema`` pii kind, or ``bsn``)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [mask_value(kind, v) for v in value]
    s = str(value)
    if kind == schema.EMAIL:
        return mask_email(s)
    if kind == schema.CARD:
        return mask_pan(s)
    if kind == "bsn":
        return mask_bsn(s)
    if kind == schema.IBAN:
        return mask_iban(s)
    if kind == schema.PHONE:
        return mask_phone(s)
    if kind == schema.IP:
        return mask_ip(s)
    if kind is None:
        return scrub(s)
    return REDACTED


_NEEDS_SCRUB = re.compile(r"[0-9@]")


def scrub(text: str) -> str:
    """Mask anything in free text that looks like an e-mail, IBAN, card or phone number."""
    if not _NEEDS_SCRUB.search(text):      # nothing of the kind without a digit or an @
        return text
    text = EMAIL_RE.sub(lambda m: mask_email(m.group()), text)
    text = IBAN_RE.sub(lambda m: mask_iban(m.group()) if _looks_iban(m.group()) else m.group(), text)
    text = CARD_RE.sub(lambda m: mask_pan(m.group()), text)
    text = PHONE_RE.sub(lambda m: mask_phone(m.group()), text)
    return text


def _looks_iban(s: str) -> bool:
    s = re.sub(r"\s", "", s)
    return 15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit()


def _plain(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


def mask_evidence(evidence: dict | None, reveal: bool = False) -> dict:
    """Mask every value of an evidence record by its key (see KEY_KINDS), and scrub the rest."""
    if not evidence:
        return {}
    out: dict = {}
    for k, v in evidence.items():
        v = _plain(v)
        if reveal:
            out[k] = v
        elif isinstance(v, dict):
            out[k] = mask_evidence(v)
        elif k in KEY_KINDS:
            out[k] = mask_value(KEY_KINDS[k], v)
        elif isinstance(v, str):
            out[k] = scrub(v)
        elif isinstance(v, list):
            out[k] = [scrub(x) if isinstance(x, str) else _plain(x) for x in v]
        else:
            out[k] = v
    return out


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
