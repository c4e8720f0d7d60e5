"""Masking: the formats of contract section 6, and the scrub that catches undeclared values."""

from __future__ import annotations

import pytest

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


# ---------------------------------------------------------------- one definition, as data

def test_every_kind_is_data_that_python_and_duckdb_both_read():
    import duckdb
    con = duckdb.connect()
    corpus = ["mail piet@ziggo.nl nu", "NL91ABNA0417164300", "4111 1111 1111 1111", "111222333",
              "06-12345678", "83.84.85.86", "1234 AB", "2001:db8::1", "geen"]
    for name, k in masking.KINDS.items():
        assert k.normalise in ("trim", "digits", "compact_upper"), name
        assert k.check in ("none", "luhn", "bsn", "iban", "phone"), name
        for rx, hidden in k.shapes:
            assert masking.re.compile(rx).groups == 3, (name, rx)
        for text in corpus:      # RE2 (DuckDB) and Python's re agree on whether it occurs
            py = masking.re.search(k.pattern, text) is not None
            sql = con.execute("SELECT regexp_matches($1, $2)", [text, k.pattern]).fetchone()[0]
            assert py == sql, (name, text)
    assert list(masking.SCAN_ORDER) == list(masking.KINDS)


@pytest.mark.parametrize("kind,value,shown", [
    ("email", " Jan.Jansen@Ziggo.nl ", "J***@Ziggo.nl"),
    ("card", "5500 0000 0000 0004", "550000******0004"),
    ("iban", "nl91 abna 0417 1643 00", "NL91********4300"),
    ("bsn", "111-222-333", "11*****33"),
    ("phone", "06-12345678", "06******78"),
    ("ip", "2001:db8:85a3::8a2e:370:7334", "2001:db8:****"),
    ("postcode", "1234ab", "1234 **"),
    ("email", "geen adres", masking.REDACTED),
])
def test_mask_as_each_kind(kind, value, shown):
    assert masking.mask_as(kind, value) == shown


def test_names_addresses_and_free_text_never_show():
    for kind in masking.WHOLLY_REDACTED:
        assert masking.mask_value(kind, "Piet Pietersen, Dorpsstraat 1") == masking.REDACTED


# ---------------------------------------------------------------- scrubbing: no holes

ISSUE_URL = ("https://www.contractstatus.nl/bedankt?email=piet%40ziggo.nl&bsn=111222333"
             "&naam=Piet%20Pietersen&ip=83.84.85.86")


def test_the_issue_url_leaks_nothing():
    s = masking.scrub(ISSUE_URL)
    for secret in ("piet@ziggo.nl", "piet%40ziggo.nl", "111222333", "Piet", "Pietersen",
                   "83.84.85.86", "85.86"):
        assert secret not in s, s
    assert s == ("https://www.contractstatus.nl/bedankt?email=p***@ziggo.nl&bsn=11*****33"
                 "&naam=[redacted]&ip=83.84.*.*")


@pytest.mark.parametrize("url,secrets", [
    # by key, whatever the value looks like
    ("https://x.nl/?voornaam=Piet&achternaam=de+Vries&tel=0612345678", ["Piet", "Vries", "12345678"]),
    ("https://x.nl/?first_name=Piet&Last-Name=Jansen&token=abc123secret", ["Piet", "Jansen", "abc123secret"]),
    ("https://x.nl/p#email=piet%40ziggo.nl&naam=Piet", ["piet@", "Piet"]),
    # by value, under any key
    ("https://x.nl/?q=piet%40ziggo.nl&ref=NL91ABNA0417164300", ["piet@", "0417164300"]),
    ("https://x.nl/?utm=1&x=%2B31612345678", ["612345678"]),
    # double encoding, the path, user info, an IP host
    ("https://x.nl/unsubscribe/piet%2540ziggo.nl", ["piet@", "piet%"]),
    ("https://piet:geheim@x.nl/", ["piet:", "geheim"]),
    ("http://83.84.85.86/admin", ["85.86"]),
    # a whole URL encoded inside a parameter or a text
    ("https%3A%2F%2Fx.nl%2F%3Femail%3Dpiet%2540ziggo.nl%26naam%3DPiet%2520Pietersen", ["piet@", "Pietersen"]),
    ("https://x.nl/r?next=https%3A%2F%2Fy.nl%2F%3Fbsn%3D111222333", ["111222333"]),
])
def test_urls_are_masked_by_key_and_by_value(url, secrets):
    s = masking.scrub(url)
    for secret in secrets:
        assert secret not in s, (url, s)


@pytest.mark.parametrize("text,secret", [
    ("mijn kaart is 4111 1111 1111 1111 12/27 cvc 123", "1111 1111 1111"),
    ("IBAN NL91ABNA0417164300 bsn 111222333", "111222333"),
    ("rekening NL91ABNA0417164300 4111111111111111", "4111111111111111"),
    ("rekening NL 91 ABNA 0417 1643 00 graag", "0417 1643"),
    ("mijn bsn is 111222333 2511 CV Den Haag", "111222333"),
    ("bel (020) 123 4567 of +31 (0)6 1234 5678", "1234 5678"),
    ("bel 0031 6 12345678", "12345678"),
    ("ip 83.84.85.86, v6 2001:db8:85a3::8a2e:370:7334", "85.86"),
    ("ip 83.84.85.86, v6 2001:db8:85a3::8a2e:370:7334", "8a2e"),
    ("adres 2511 CV", "2511 CV"),
    ("mail jan.jansen%40ziggo.nl", "jansen"),
])
def test_one_number_never_hides_another(text, secret):
    assert secret not in masking.scrub(text)


@pytest.mark.parametrize("text", [
    "due 2025-02-28, order o-1234, 14 days, 2024-01-31 23:30",
    "scanned 2025-02-01T10:00:00+01:00",
    "order 100000123 and 4111111111111112",          # 11-proof and Luhn fail: not a BSN, not a card
    "C0000001", "V000000123", "SCAN-202501-none-desktop", "INV2025-000123", "OI000000012",
    "residue: chats 1, visits 12; share 0.833", "https://www.contractstatus.nl/cart?step=2",
    "_ga", "NWS-003", "S2",
])
def test_scrub_leaves_dates_ids_and_near_misses_alone(text):
    assert masking.scrub(text) == text


def test_customer_and_subject_ids_are_scrubbed_in_evidence_keys_too():
    m = masking.mask_evidence({"residue": {"piet@ziggo.nl": 2}, "subject": "piet@ziggo.nl"})
    assert m == {"residue": {"p***@ziggo.nl": 2}, "subject": "p***@ziggo.nl"}


# ---------------------------------------------------------------- the SQL masks

SQL_CORPUS = [
    None, "", " ", "a", "ab", "@", "a@", "@b", "a@b", "x@y.nl", "jan.devries@example.nl",
    "  Piet@Ziggo.NL\t", "\u2003anne@voorbeeld.nl\u3000", "é@é.nl", "😀@smile.example", "a\n@b.nl",
    "ø", "Ĳsselmeer", "😀", "e\u0301", "\u00a0", "\n", "06-12345678", "+31 6 12345678",
    "0031612345678", "(020) 123 4567", "12", "123", "1234", "12345", "123456", "4111111111111111",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "123456782", "1234.56.782",
    "NL91ABNA0417164300", "nl91 abna 0417 1643 00", "NL91-ABNA-0417-1643-00", "DE89370400440532013000",
    "NL9", "NL91", "GB82WEST12345698765432", "192.168.10.20", "10.0.0.1", "2001:db8::1",
    "fe80:0000:0000:0000:0202:b3ff:fe1e:8329", "1234 AB", "1234ab", "9999 zz", "1234 A",
    "Damrak 1, 1012 LG Amsterdam", "geen nummer", "O'Brien", "'; DROP TABLE x; --", "12ab34cd56",
    "٣٤٥٦٧٨٩٠١٢", "１２３４５６７８９０", "1\u00b2345678901",
]


def _sql_masks(values):
    import duckdb
    con = duckdb.connect()
    masking.install_sql(con)
    kinds = [*masking.KINDS, *masking.WHOLLY_REDACTED]
    con.execute("CREATE TABLE corpus (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO corpus VALUES (?, ?)", list(enumerate(values)))
    cols = ", ".join(f"{masking.sql_macro_name(k)}(v)" for k in kinds)
    rows = con.execute(f"SELECT {cols} FROM corpus ORDER BY i").fetchall()
    return kinds, rows


def test_the_sql_masks_equal_the_python_masks_on_a_corpus():
    """One definition (KINDS): the macros generated from it show every value as mask_value does
    (unicode, empty, NULL, short values, e-mails, phones, cards, BSNs, IBANs, IPs, postcodes)."""
    kinds, rows = _sql_masks(SQL_CORPUS)
    for v, row in zip(SQL_CORPUS, rows):
        for kind, got in zip(kinds, row):
            assert got == masking.mask_value(kind, v), (kind, v)


def test_the_sql_masks_equal_the_python_masks_on_random_text():
    import random
    rng = random.Random(16)
    alphabet = "0123456789" * 4 + "abcXYZ@.-+ ()%:/\t\n\u00a0\u2003é😀ß'"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    kinds, rows = _sql_masks(values)
    for v, row in zip(values, rows):
        for kind, got in zip(kinds, row):
            assert got == masking.mask_value(kind, v), (kind, v)


def test_the_sql_masks_are_plain_sql_expressions():
    """No lambdas or DuckDB-only list functions: what SQLGlot can render for another engine."""
    for kind in (*masking.KINDS, *masking.WHOLLY_REDACTED):
        sql = masking.sql_mask(kind, "col")
        assert "->" not in sql and "list_" not in sql.lower() and "lambda" not in sql.lower()
