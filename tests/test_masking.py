"""Masking: the formats of contract section 6, and the scrub that catches undeclared values."""

from __future__ import annotations

from toolkit import masking


def test_formats_of_the_contract():
    assert masking.mask_email("jan.devries@example.nl") == "j***@example.nl"
    assert masking.mask_pan("4111 1111 1111 1111") == "411111******1111"
    assert masking.mask_pan("4111-1111-1111-1111") == "411111******1111"
    assert masking.mask_bsn("123456782") == "12*****82"
    assert masking.mask_bsn("1234.56.782") == "12*****82"
    assert masking.mask_iban("NL91ABNA0417164300") == "NL91********4300"
    assert masking.mask_iban("NL91 ABNA 0417 1643 00") == "NL91********4300"
    assert masking.mask_phone("+31 6 12345678") == "31*******78"
    assert masking.mask_ip("192.168.10.20") == "192.168.*.*"


def test_evidence_masked_by_key_and_scrubbed_elsewhere():
    ev = {"email": "jan@example.nl", "name": "Jan de Vries", "body": "mijn pas 4111111111111111",
          "note": "contact jan@example.nl of 06-12345678, iban NL91ABNA0417164300",
          "due": "2025-02-28", "residue": {"chats": 2}, "fields": ["email_at_order"], "n": 3}
    m = masking.mask_evidence(ev)
    assert m["email"] == "j***@example.nl"
    assert m["name"] == masking.REDACTED and m["body"] == masking.REDACTED
    assert "jan@example.nl" not in m["note"] and "NL91ABNA0417164300" not in m["note"]
    assert "12345678" not in m["note"]
    assert m["due"] == "2025-02-28" and m["residue"] == {"chats": 2} and m["n"] == 3
    assert m["fields"] == ["email_at_order"]


def test_reveal_lifts_masking():
    assert masking.mask_evidence({"email": "jan@example.nl"}, reveal=True) == {"email": "jan@example.nl"}


def test_scrub_leaves_dates_and_ids_alone():
    s = "due 2025-02-28, order o-1234, 14 days, 2024-01-31 23:30"
    assert masking.scrub(s) == s


def test_evidence_text():
    assert masking.evidence_text({"anchor": "visit", "residue": {"chats": 1, "visits": 0},
                                  "held": [], "late": True, "x": None}) == \
        "anchor: visit; residue: chats 1; late: yes"
