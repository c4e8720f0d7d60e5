"""Planted scenarios for the security rules: SEC-001 (card data in payments), SEC-002 (card
numbers in free text), SEC-004 (BSNs) and SEC-006 (IBANs).

Every planted text is checked with ``checks.text_hits`` (strict catalogue regexes and looser
variants): a violation must be found, a near-miss must not, whatever variant a rule uses.
Card numbers are written without anything digit-like right after them, IBANs in compact form
(no spaced groups), BSNs as nine digits or as ``1234.56.782``.
"""

from __future__ import annotations

from .checks import (bsn, broken_iban, card_number, group, nl_iban, non_luhn, not_bsn,
                     text_hits)
from .commerce import make_order
from .context import Ctx
from .scenarios import active, commit, near_miss, violation
from .service import call_text, make_call, make_chat, script

KIND = {"SEC-002": "card", "SEC-004": "bsn", "SEC-006": "iban"}


def _check(text: str, expect: set[str]) -> None:
    found = {k for k, v in text_hits(text).items() if v}
    if found != expect:
        raise AssertionError(f"planted text finds {found}, expected {expect}: {text!r}")


def _chat(ctx: Ctx, cid: str, rule: str, kind: str, name: str, text: str,
          reply: str = "Dank u. Let op: deel nooit betaal- of identiteitsgegevens via de chat.",
          also: tuple[str, ...] = ()) -> str:
    """A chat where the customer's second message holds ``text``; records the truth."""
    _check(text, ({KIND[rule]} if kind == "violation" else set()) | {KIND[a] for a in also})
    c = commit(ctx, active(ctx, cid))
    opening = script(ctx, c)[:1]
    _, ids = make_chat(ctx, c, ctx.days_ago(ctx.rng.randint(10, 250)),
                       opening + [("customer", text), ("agent", reply)], channel="chat")
    mid = ids[1]
    (ctx.flag if kind == "violation" else ctx.miss)(rule, mid, name)
    for a in also:
        ctx.flag(a, mid, name, primary=False)
    return mid


def _call(ctx: Ctx, cid: str, rule: str, kind: str, name: str, line: str) -> str:
    c = commit(ctx, active(ctx, cid))
    text = call_text(ctx, c) + "\n" + line + "\nAgent: Dat noteer ik, maar u hoeft dit niet te geven."
    _check(text, {KIND[rule]} if kind == "violation" else set())
    call = make_call(ctx, c, ctx.days_ago(ctx.rng.randint(10, 250)), text, recorded=True)
    (ctx.flag if kind == "violation" else ctx.miss)(rule, call, name)
    return call


# ---------------------------------------------------------------------------------- SEC-001

def _payment(ctx: Ctx, cid: str, **cols) -> str:
    c = commit(ctx, active(ctx, cid))
    o = make_order(ctx, c, ctx.days_ago(ctx.rng.randint(10, 400)), status="delivered",
                   payment={"method": "creditcard", **cols})
    return o["payment"]["payment_id"]


@violation("SEC-001", "full_pan_in_card_pan")
def sec001_pan(ctx: Ctx, cids):
    """payments.card_pan holds a full, Luhn-valid Visa number."""
    n = card_number(ctx.rng, "visa")
    ctx.flag("SEC-001", _payment(ctx, cids[0], card_pan=n, card_last4=n[-4:]), "full_pan_in_card_pan")


@violation("SEC-001", "full_pan_with_spaces")
def sec001_pan_spaced(ctx: Ctx, cids):
    """payments.card_pan holds a full Mastercard number written in groups of four."""
    n = card_number(ctx.rng, "mastercard")
    ctx.flag("SEC-001", _payment(ctx, cids[0], card_pan=group(n, (4, 4, 4, 4)), card_last4=n[-4:]),
             "full_pan_with_spaces")


@violation("SEC-001", "cvv_stored")
def sec001_cvv(ctx: Ctx, cids):
    """payments.card_cvv is filled (card_pan empty, last4 kept)."""
    ctx.flag("SEC-001", _payment(ctx, cids[0], card_cvv="%03d" % ctx.rng.randint(100, 999),
                                 card_last4="%04d" % ctx.rng.randint(0, 9999)), "cvv_stored")


@near_miss("SEC-001", "masked_pan")
def sec001_nm_masked(ctx: Ctx, cids):
    """card_pan holds a masked number (BIN + ****** + last 4)."""
    n = card_number(ctx.rng, "visa")
    ctx.miss("SEC-001", _payment(ctx, cids[0], card_pan=n[:6] + "******" + n[-4:], card_last4=n[-4:]),
             "masked_pan")


@near_miss("SEC-001", "psp_token")
def sec001_nm_token(ctx: Ctx, cids):
    """card_pan holds the payment provider's token, not a card number."""
    tok = "tok_" + "".join(ctx.rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ")
                           for _ in range(24))
    ctx.miss("SEC-001", _payment(ctx, cids[0], card_pan=tok), "psp_token")


@near_miss("SEC-001", "x_masked_pan")
def sec001_nm_x(ctx: Ctx, cids):
    """card_pan holds 'XXXX XXXX XXXX 1234' as printed on receipts."""
    last4 = "%04d" % ctx.rng.randint(0, 9999)
    ctx.miss("SEC-001", _payment(ctx, cids[0], card_pan="XXXX XXXX XXXX " + last4, card_last4=last4),
             "x_masked_pan")


# ---------------------------------------------------------------------------------- SEC-002

@violation("SEC-002", "card_number_with_cvc_in_chat")
def sec002_cvc(ctx: Ctx, cids):
    """'Mijn creditcard is 4xxx xxxx xxxx xxxx, vervaldatum 08/27 en cvc 123' (catalogue A)."""
    n = card_number(ctx.rng, "visa")
    text = (f"iDEAL werkt niet bij mij. Mijn creditcard is {group(n, (4, 4, 4, 4))}, vervaldatum "
            f"08/27 en cvc {ctx.rng.randint(100, 999)}.\nKunnen jullie de betaling handmatig doen?")
    _chat(ctx, cids[0], "SEC-002", "violation", "card_number_with_cvc_in_chat", text)


@violation("SEC-002", "card_number_with_dashes_in_chat")
def sec002_dashes(ctx: Ctx, cids):
    """A Mastercard number written with dashes in a multi-line chat message."""
    n = card_number(ctx.rng, "mastercard")
    text = f"Het kaartnummer is {group(n, (4, 4, 4, 4), '-')}.\nGraag bevestigen of het gelukt is."
    _chat(ctx, cids[0], "SEC-002", "violation", "card_number_with_dashes_in_chat", text)


@violation("SEC-002", "amex_in_chat")
def sec002_amex(ctx: Ctx, cids):
    """A 15-digit American Express number in 4-6-5 groups."""
    n = card_number(ctx.rng, "amex")
    text = f"Betaal maar met mijn American Express: {group(n, (4, 6, 5))}. Is dat voldoende?"
    _chat(ctx, cids[0], "SEC-002", "violation", "amex_in_chat", text)


@violation("SEC-002", "card_number_in_call_transcript")
def sec002_call(ctx: Ctx, cids):
    """The agent's transcript of a call records the card number the customer read out."""
    n = card_number(ctx.rng, "visa")
    _call(ctx, cids[0], "SEC-002", "violation", "card_number_in_call_transcript",
          f"Klant: Mijn kaartnummer is {n}.")


@near_miss("SEC-002", "order_number_14_digits_fails_luhn")
def sec002_nm_order(ctx: Ctx, cids):
    """A 14-digit order number that fails Luhn (catalogue Appendix A)."""
    text = f"Mijn ordernummer is {non_luhn(ctx.rng, 14, '2024')}, wanneer wordt het geleverd?"
    _chat(ctx, cids[0], "SEC-002", "near_miss", "order_number_14_digits_fails_luhn", text)


@near_miss("SEC-002", "card_number_with_typo")
def sec002_nm_typo(ctx: Ctx, cids):
    """A 16-digit number starting with 4 in a card context, but failing Luhn (a typo)."""
    text = f"Mijn kaartnummer is {group(non_luhn(ctx.rng, 16, '4'), (4, 4, 4, 4))}, klopt dat?"
    _chat(ctx, cids[0], "SEC-002", "near_miss", "card_number_with_typo", text)


@near_miss("SEC-002", "masked_card_number")
def sec002_nm_masked(ctx: Ctx, cids):
    """A masked card number as printed on a statement."""
    n = card_number(ctx.rng, "visa")
    text = f"Op mijn afschrift staat kaart {n[:4]} **** **** {n[-4:]} twee keer."
    _chat(ctx, cids[0], "SEC-002", "near_miss", "masked_card_number", text)


# ---------------------------------------------------------------------------------- SEC-004

@violation("SEC-004", "bsn_dotted_with_order_number")
def sec004_dotted(ctx: Ctx, cids):
    """'mijn bsn is 1234.56.782, order 2024…' (catalogue A): the BSN is flagged; the 14-digit
    order number fails Luhn and is not a card number (SEC-002 must not flag it)."""
    b = bsn(ctx.rng)
    text = (f"Voor de garantie vroegen jullie om identificatie: mijn bsn is {b[:4]}.{b[4:6]}.{b[6:]}, "
            f"order {non_luhn(ctx.rng, 14, '2024')}.")
    mid = _chat(ctx, cids[0], "SEC-004", "violation", "bsn_dotted_with_order_number", text)
    ctx.miss("SEC-002", mid, "bsn_dotted_with_order_number")


@violation("SEC-004", "bsn_plain_multiline")
def sec004_plain(ctx: Ctx, cids):
    """Nine plain digits after 'burgerservicenummer' in a multi-line message."""
    text = f"Mijn burgerservicenummer is {bsn(ctx.rng)}.\nIk heb ook een kopie van mijn paspoort."
    _chat(ctx, cids[0], "SEC-004", "violation", "bsn_plain_multiline", text)


@violation("SEC-004", "bsn_without_context")
def sec004_bare(ctx: Ctx, cids):
    """A valid BSN pasted without any context word."""
    text = f"Dit is het nummer dat u vroeg: {bsn(ctx.rng)}"
    _chat(ctx, cids[0], "SEC-004", "violation", "bsn_without_context", text)


@violation("SEC-004", "bsn_in_call_transcript")
def sec004_call(ctx: Ctx, cids):
    """The agent wrote the customer's BSN into the call transcript."""
    _call(ctx, cids[0], "SEC-004", "violation", "bsn_in_call_transcript",
          f"Klant: Mijn BSN is {bsn(ctx.rng)}, hebben jullie dat nodig?")


@near_miss("SEC-004", "nine_digits_fail_11_proof")
def sec004_nm_fail(ctx: Ctx, cids):
    """Nine digits after the word 'bsn' that fail the 11-proof."""
    _chat(ctx, cids[0], "SEC-004", "near_miss", "nine_digits_fail_11_proof",
          f"Is mijn bsn {not_bsn(ctx.rng, '1')} nodig voor de retour?")


@near_miss("SEC-004", "mobile_number_ten_digits")
def sec004_nm_phone(ctx: Ctx, cids):
    """A ten-digit mobile number (no nine-digit window passes the 11-proof)."""
    while True:
        phone = "06" + "".join(ctx.rng.choice("0123456789") for _ in range(8))
        if not text_hits(phone)["bsn"]:
            break
    _chat(ctx, cids[0], "SEC-004", "near_miss", "mobile_number_ten_digits",
          f"Kunt u mij terugbellen op {phone}?")


@near_miss("SEC-004", "carrier_reference_nine_digits")
def sec004_nm_ref(ctx: Ctx, cids):
    """A nine-digit carrier reference that fails the 11-proof."""
    _chat(ctx, cids[0], "SEC-004", "near_miss", "carrier_reference_nine_digits",
          f"Referentie van de vervoerder: {not_bsn(ctx.rng, '3')}.")


# ---------------------------------------------------------------------------------- SEC-006

@violation("SEC-006", "iban_for_refund")
def sec006_refund(ctx: Ctx, cids):
    """'Kunt u het bedrag terugstorten op NL..?' with a valid Dutch IBAN."""
    _chat(ctx, cids[0], "SEC-006", "violation", "iban_for_refund",
          f"Kunt u het bedrag terugstorten op {nl_iban(ctx.rng)}? Alvast bedankt.")


@violation("SEC-006", "iban_on_own_line")
def sec006_line(ctx: Ctx, cids):
    """A valid IBAN on its own line of a multi-line message."""
    _chat(ctx, cids[0], "SEC-006", "violation", "iban_on_own_line",
          f"Hierbij mijn rekeningnummer voor de retour:\n{nl_iban(ctx.rng)}\nMet vriendelijke groet")


@violation("SEC-006", "iban_in_call_transcript")
def sec006_call(ctx: Ctx, cids):
    """The agent noted the customer's IBAN in the call transcript."""
    _call(ctx, cids[0], "SEC-006", "violation", "iban_in_call_transcript",
          f"Klant: Mijn IBAN is {nl_iban(ctx.rng)}.")


@near_miss("SEC-006", "iban_wrong_check_digits")
def sec006_nm_check(ctx: Ctx, cids):
    """A Dutch IBAN with wrong check digits (fails mod-97)."""
    _chat(ctx, cids[0], "SEC-006", "near_miss", "iban_wrong_check_digits",
          f"Mijn rekening is {broken_iban(ctx.rng)}.")


@near_miss("SEC-006", "iban_truncated")
def sec006_nm_short(ctx: Ctx, cids):
    """The first fourteen characters of an IBAN only."""
    _chat(ctx, cids[0], "SEC-006", "near_miss", "iban_truncated",
          f"Mijn IBAN begint met {nl_iban(ctx.rng)[:14]}, de rest stuur ik later.")


@near_miss("SEC-006", "iban_masked")
def sec006_nm_masked(ctx: Ctx, cids):
    """A masked IBAN as printed on a statement."""
    i = nl_iban(ctx.rng)
    _chat(ctx, cids[0], "SEC-006", "near_miss", "iban_masked",
          f"Op het afschrift staat {i[:4]} **** **** {i[-4:]}.")
