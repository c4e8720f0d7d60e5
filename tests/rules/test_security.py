"""SEC-001/002/004/006: planted numbers and their near-misses; nothing leaves unmasked."""

from __future__ import annotations

import json

AS_OF = "2025-03-02"

MESSAGES = {
    "card": "Mijn pas: 4111 1111 1111 1111 cvc 123",
    "card_dashes": "kaartnummer 5555-5555-5555-4444 vervalt 12/27",
    "order_number": "bestelling 20240131123456 is niet aangekomen",          # 14 digits, fails Luhn
    "bsn": "mijn bsn is 1234.56.782",
    "not_bsn": "klantnummer 123456789",                                      # fails the 11-proof
    "iban": "graag terugstorten op NL91 ABNA 0417 1643 00 alstublieft",
    "bad_iban": "rekening NL92ABNA0417164300",                               # wrong check digits
    "two": "4111111111111111 en ook 5555555555554444",
    "plain": "Hallo, waar blijft mijn pakket?",
}


def tables():
    return {"chats": [{"chat_id": "k1", "customer_id": "c1"}],
            "chat_messages": [{"message_id": k, "chat_id": "k1", "body": v} for k, v in MESSAGES.items()],
            "calls": [{"call_id": "call1", "customer_id": "c2",
                       "transcript": "Agent noteert bsn 111222333 voor verificatie"}],
            "payments": [{"payment_id": "p1", "card_pan": "4111111111111111", "card_cvv": None},
                         {"payment_id": "p2", "card_pan": "411111******1111", "card_cvv": "737"},
                         {"payment_id": "p3", "card_pan": "tok_4111111111111111", "card_cvv": ""},
                         {"payment_id": "p4", "card_pan": None, "card_cvv": None},
                         {"payment_id": "p5", "card_pan": "4111111111111112", "card_cvv": None}]}


def test_sec_rules_find_the_planted_numbers_and_skip_the_near_misses(audit_of):
    got = audit_of(tables(), AS_OF, "SEC-*")
    assert set(got["SEC-001"]) == {"p1", "p2"}
    assert set(got["SEC-002"]) == {"card", "card_dashes", "two"}
    assert set(got["SEC-004"]) == {"bsn", "call1"}
    assert set(got["SEC-006"]) == {"iban"}
    assert got["SEC-004"]["call1"]["subject_table"] == "calls"
    assert got["SEC-004"]["call1"]["customer_id"] == "c2"
    two = json.loads(got["SEC-002"]["two"]["details"])
    assert two["card"] == ["411111******1111", "555555******4444"] and two["positions"] == [1, 25]
    assert json.loads(got["SEC-004"]["bsn"]["details"])["bsn"] == ["12*****82"]
    assert json.loads(got["SEC-006"]["iban"]["details"])["iban"] == ["NL91********4300"]
    assert json.loads(got["SEC-001"]["p2"]["details"]) == {"card": None, "full_card_number": False,
                                                           "cvv_stored": True}
    assert audit_of.last.rules[1].population == len(MESSAGES) + 1


def test_no_number_leaves_unmasked(audit_of):
    got = audit_of(tables(), AS_OF, "SEC-*")
    text = json.dumps([f for r in got.values() for f in r.values()], default=str)
    for secret in ("4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444", "123456782",
                   "1234.56.782", "NL91ABNA0417164300", "0417 1643", "111222333", "737"):
        assert secret not in text, secret


def test_context_score_is_recorded_not_used_to_suppress(audit_of):
    got = audit_of({"chats": [{"chat_id": "k", "customer_id": "c"}],
                    "chat_messages": [{"message_id": "bare", "chat_id": "k", "body": "123456782"}]},
                   AS_OF, "SEC-004")["SEC-004"]
    assert json.loads(got["bare"]["details"])["context_score"] == 0
