"""Check digits for card numbers (Luhn), BSNs (11-proof) and IBANs (ISO 13616 mod-97), and
generators for valid and deliberately invalid values.

The generator plants these numbers in free text (SEC-002/004/006) and in ``payments.card_pan``
(SEC-001). ``text_hits`` is an independent detector with a strict (word-bounded, as printed in the
catalogue) and a loose (no word boundaries) variant: every planted text is checked with both so
that a violation is found and a near-miss is missed whichever variant a rule implements.
"""

from __future__ import annotations

import random
import re

from stdnum import iban as _iban

# --------------------------------------------------------------------------------------- Luhn


def luhn_ok(digits: str) -> bool:
    """Luhn checksum over a digit string (no length check)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    """Append the check digit that makes ``partial`` Luhn-valid."""
    for d in "0123456789":
        if luhn_ok(partial + d):
            return partial + d
    raise AssertionError("unreachable")


def is_card_number(digits: str) -> bool:
    """A full card number as SEC-001/002 mean it: 13-19 digits, Luhn-valid, a card issuer prefix."""
    return (13 <= len(digits) <= 19 and luhn_ok(digits)
            and re.match(r"^(4|5[0-5]|2[2-7]|3[0-9]|6)", digits) is not None)


def card_number(rng: random.Random, brand: str = "visa") -> str:
    """A Luhn-valid test card number with an issuer prefix (visa 16, mastercard 16, amex 15).

    Numbers are re-drawn until no 9-digit window passes the BSN 11-proof, so that a card number
    never doubles as a BSN hit for a detector without word boundaries.
    """
    while True:
        if brand == "visa":
            body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
        elif brand == "mastercard":
            body = str(rng.randint(51, 55)) + "".join(rng.choice("0123456789") for _ in range(13))
        elif brand == "amex":
            body = rng.choice(("34", "37")) + "".join(rng.choice("0123456789") for _ in range(12))
        else:
            raise ValueError(brand)
        n = luhn_complete(body)
        if not any(bsn_ok(n[i:i + 9]) for i in range(len(n) - 8)):
            return n


def non_luhn(rng: random.Random, length: int, prefix: str = "") -> str:
    """A digit string of ``length`` that fails Luhn, and none of whose 13+ digit windows passes."""
    while True:
        s = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))
        if not any(luhn_ok(s[i:j]) for i in range(len(s)) for j in range(i + 13, len(s) + 1)) \
                and not any(bsn_ok(s[i:i + 9]) for i in range(len(s) - 8)):
            return s


def group(digits: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, i = [], 0
    for s in sizes:
        out.append(digits[i:i + s])
        i += s
    if i < len(digits):
        out.append(digits[i:])
    return sep.join(x for x in out if x)


# ---------------------------------------------------------------------------------------- BSN


def bsn_ok(s: str) -> bool:
    """BSN 11-proof: weights 9..2 and -1 for the last digit; 000000000 is not a BSN."""
    if len(s) != 9 or not s.isdigit() or s == "000000000":
        return False
    total = sum(int(s[i]) * (9 - i) for i in range(8)) - int(s[8])
    return total % 11 == 0


def bsn(rng: random.Random) -> str:
    """A BSN that passes the 11-proof (and is not a Luhn-valid number, for cleanliness)."""
    while True:
        body = str(rng.randint(1, 6)) + "".join(rng.choice("0123456789") for _ in range(7))
        for last in "0123456789":
            if bsn_ok(body + last):
                return body + last


def not_bsn(rng: random.Random, first: str = "") -> str:
    """Nine digits that fail the 11-proof."""
    while True:
        s = first + "".join(rng.choice("0123456789") for _ in range(9 - len(first)))
        if not bsn_ok(s):
            return s


# --------------------------------------------------------------------------------------- IBAN

NL_BANKS = ("ABNA", "INGB", "RABO", "SNSB", "TRIO", "ASNB", "KNAB", "BUNQ", "RBRB")


def iban_ok(s: str) -> bool:
    """ISO 13616 mod-97 on a compact IBAN."""
    return _iban.is_valid(s)


def nl_iban(rng: random.Random) -> str:
    """A valid Dutch IBAN (compact), e.g. ``NL91ABNA0417164300``.

    Re-drawn until no 9-digit window of its account number passes the BSN 11-proof.
    """
    while True:
        bank = rng.choice(NL_BANKS)
        acct = "".join(rng.choice("0123456789") for _ in range(10))
        if any(bsn_ok(acct[i:i + 9]) for i in range(2)):
            continue
        bban = bank + acct
        num = "".join(str(int(ch, 36)) for ch in bban + "NL00")
        check = 98 - int(num) % 97
        return f"NL{check:02d}{bban}"


def broken_iban(rng: random.Random) -> str:
    """A Dutch IBAN whose check digits are wrong (fails mod-97)."""
    good = nl_iban(rng)
    while True:
        bad = f"NL{rng.randint(2, 98):02d}{good[4:]}"
        if bad != good and not iban_ok(bad):
            return bad


# ------------------------------------------------------------------------------------ detector

_CARD_STRICT = re.compile(r"(?:\d[ -]?){12,18}\d")
_BSN_STRICT = re.compile(r"\b(\d{9}|\d{4}[. ]\d{2}[. ]\d{3})\b")
_BSN_LOOSE = re.compile(r"(?=(\d{9}|\d{4}[. ]\d{2}[. ]\d{3}|\d{3}[. ]\d{3}[. ]\d{3}))")
_IBAN_STRICT = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")
_IBAN_LOOSE = re.compile(r"(?=([A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}))")


def text_hits(text: str) -> dict[str, set[str]]:
    """What SEC-002/004/006 detectors can find in ``text``: {'card'|'bsn'|'iban': {values}}.

    Union of a strict detector (the catalogue's regexes) and looser variants (no word
    boundaries, every digit window, spaced groups), so callers can assert robustness.
    """
    hits: dict[str, set[str]] = {"card": set(), "bsn": set(), "iban": set()}
    if not text:
        return hits
    for m in _CARD_STRICT.finditer(text):
        digits = re.sub(r"[ -]", "", m.group(0))
        if is_card_number(digits):
            hits["card"].add(digits)
    for run in re.findall(r"\d+", text):            # every window of every plain digit run
        for i in range(len(run)):
            for j in range(i + 13, min(len(run), i + 19) + 1):
                if is_card_number(run[i:j]):
                    hits["card"].add(run[i:j])
    for m in _BSN_STRICT.finditer(text):
        d = re.sub(r"[. ]", "", m.group(1))
        if bsn_ok(d):
            hits["bsn"].add(d)
    for m in _BSN_LOOSE.finditer(text):
        d = re.sub(r"[. ]", "", m.group(1))
        if bsn_ok(d):
            hits["bsn"].add(d)
    for m in _IBAN_STRICT.finditer(text):
        if iban_ok(m.group(0)):
            hits["iban"].add(m.group(0))
    for m in _IBAN_LOOSE.finditer(text):
        cand = m.group(1).replace(" ", "").upper()
        for end in range(15, len(cand) + 1):
            if iban_ok(cand[:end]):
                hits["iban"].add(cand[:end])
    return hits
