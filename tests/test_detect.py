"""The detectors: SQL macros and Python checks agree with python-stdnum; the IIN table with the
card networks' published test numbers; the scan finds every number at its position, whatever
stands next to it (the reproductions of issue 21)."""

from __future__ import annotations

import random
import re

import duckdb
import pytest
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum.be import iban as std_be_iban
from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.nl import bsn as std_bsn

from toolkit import detect


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    detect.install(c)
    yield c
    c.close()


def _luhn_complete(rnd, prefix, length):
    body = prefix + "".join(rnd.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + std_luhn.calc_check_digit(body)


def test_luhn_against_stdnum(con):
    rnd = random.Random(11)
    numbers = [_luhn_complete(rnd, rnd.choice(["4", "51", "37", "6011", "2221"]), rnd.randint(13, 19))
               for _ in range(400)]
    numbers += ["".join(rnd.choice("0123456789") for _ in range(rnd.randint(13, 19))) for _ in range(600)]
    sql = dict(con.execute("SELECT n, luhn_ok(n) FROM unnest($1) t(n)", [numbers]).fetchall())
    for n in numbers:
        assert sql[n] == detect.luhn(n) == std_luhn.is_valid(n), n
    assert sum(sql.values()) >= 400


def test_bsn_against_stdnum(con):
    rnd = random.Random(12)
    numbers = ["".join(rnd.choice("0123456789") for _ in range(9)) for _ in range(3000)]
    numbers += ["111222333", "123456782", "000000000", "999999990"]
    sql = dict(con.execute("SELECT n, bsn_ok(n) FROM unnest($1) t(n)", [numbers]).fetchall())
    for n in numbers:
        expected = std_bsn.is_valid(n) and n != "000000000"
        assert sql[n] == detect.bsn(n) == expected, n
    assert 150 < sum(sql.values()) < 400          # about 1 in 11


def _stdnum_iban_ok(n: str) -> bool:
    """stdnum's verdict, without its Belgian bank-code registry (a deliberate difference: a bank
    list goes stale, the BBAN's own check digits do not)."""
    if not n.startswith("BE"):
        return std_iban.is_valid(n)
    try:
        std_be_iban.validate(n)
        return True
    except InvalidComponent:                 # unknown bank code: checksums held
        return std_iban.is_valid(n, check_country=False)
    except ValidationError:
        return False


def _random_bban(rnd, structure: str) -> str:
    pools = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"}
    return "".join(rnd.choice(pools[k]) for n, k in re.findall(r"(\d+)!([nac])", structure)
                   for _ in range(int(n)))


def test_iban_against_stdnum(con):
    """Every registry country: well-formed numbers with correct check digits (many fail a national
    check), wrong check digits, wrong length, a letter where the structure has a digit."""
    rnd = random.Random(13)
    good = []
    for cc, structure in sorted(detect.IBAN_STRUCTURES.items()):
        for _ in range(6):
            bban = _random_bban(rnd, structure)
            good.append(cc + std_iban.calc_check_digits(cc + "00" + bban) + bban)
    bad = [g[:2] + f"{(int(g[2:4]) + 1) % 100:02d}" + g[4:] for g in good]   # wrong check digits
    bad += [g + "0" for g in good[:80]]                                       # wrong length
    for g in good:                     # a letter where the structure has a digit (check fixed)
        classes = "".join(k * int(n) for n, k in re.findall(r"(\d+)!([nac])", detect.IBAN_STRUCTURES[g[:2]]))
        if "n" not in classes:
            continue
        i = 4 + classes.index("n")
        body = g[:i] + "A" + g[i + 1:]
        bad.append(body[:2] + std_iban.calc_check_digits(body) + body[4:])
    real = ["NL91ABNA0417164300", "DE89370400440532013000", "GB29NWBK60161331926819", "BE71096123456769"]
    everything = good + bad + real
    sql = dict(con.execute("SELECT n, iban_ok(n) FROM unnest($1) t(n)", [everything]).fetchall())
    for n in everything:
        assert sql[n] == detect.iban(n) == _stdnum_iban_ok(n), n
    assert all(sql[n] for n in real)
    assert sum(sql[n] for n in good) > len(good) * 0.9    # only national checks refuse some
    assert not any(sql[n] for n in bad)


def test_iban_structures_are_stdnum_registry():
    assert detect.IBAN_LENGTHS["NL"] == 18 and detect.IBAN_LENGTHS["NO"] == 15
    assert detect.IBAN_STRUCTURES["NL"] == "4!a10!n"
    for cc, length in detect.IBAN_LENGTHS.items():
        bban = _random_bban(random.Random(cc), detect.IBAN_STRUCTURES[cc])
        number = cc + std_iban.calc_check_digits(cc + "00" + bban) + bban
        assert len(number) == length
        std_iban.validate(number, check_country=False)      # structure and length agree


# ---------------------------------------------------------------- card issuers

# Published test numbers: Stripe's testing page (docs.stripe.com/testing), Braintree's and
# Cybersource's test cards, and the numbers of Presidio's credit-card tests.
PUBLISHED_TEST_CARDS = {
    "4242424242424242": "Visa", "4012888888881881": "Visa", "4000056655665556": "Visa",
    "4111111111111111": "Visa", "4917300800000000": "Visa", "4484070000000000": "Visa",
    "4222222222222": "Visa",                                     # 13 digits
    "5555555555554444": "Mastercard", "2223003122003222": "Mastercard",
    "5200828282828210": "Mastercard", "5105105105105100": "Mastercard",
    "2222420000001113": "Mastercard", "2223000048400011": "Mastercard",
    "378282246310005": "American Express", "371449635398431": "American Express",
    "6011111111111117": "Discover", "6011000990139424": "Discover", "6011981111111113": "Discover",
    "6011000400000000": "Discover", "6555900000604105": "Discover",
    "3056930009020004": "Diners Club", "36227206271667": "Diners Club",
    "30569309025904": "Diners Club", "38520000023237": "Diners Club", "36259600000004": "Diners Club",
    "3566002020360505": "JCB", "3530111333300000": "JCB", "3528000700000000": "JCB",
    "6200000000000005": "UnionPay", "6200000000000047": "UnionPay",
    "6205500000000000004": "UnionPay",                           # 19 digits
    "5019717010103742": "Dankort",
    "6759649826438453": "Maestro", "6759411100000008": "Maestro", "6304000000000000": "Maestro",
    "50339619890917": "Maestro", "586824160825533338": "Maestro", "5641821111166669": "Maestro",
    "6759560045005727054": "Maestro",
    "135412345678911": "UATP", "122000000000003": "UATP",
}


def test_published_test_cards_have_their_issuer(con):
    numbers = list(PUBLISHED_TEST_CARDS)
    sql = dict(con.execute("SELECT n, card_issuer(n) FROM unnest($1) t(n)", [numbers]).fetchall())
    for n, issuer in PUBLISHED_TEST_CARDS.items():
        assert std_luhn.is_valid(n), n
        assert sql[n] == detect.card_issuer(n) == issuer, n


@pytest.mark.parametrize("number", [
    "22209999" + "00000000",       # just below Mastercard's 2-series
    "27210000" + "00000000",       # just above it
    "4" * 14, "4" * 15, "4" * 17,  # no 14-, 15- or 17-digit Visa
    "34" + "0" * 14,               # American Express has 15 digits only
    "51" + "0" * 13, "51" + "0" * 17,   # Mastercard has 16
    "7" + "0" * 15, "0" * 16, "9" * 16,  # no issuer
])
def test_lengths_outside_an_issuer_are_refused(con, number):
    assert detect.card_issuer(number) is None
    assert con.execute("SELECT card_issuer($1)", [number]).fetchone()[0] is None


def test_issuer_sql_and_python_agree(con):
    rnd = random.Random(14)
    numbers = ["".join(rnd.choice("0123456789") for _ in range(rnd.randint(13, 19))) for _ in range(3000)]
    numbers += [p + "0" * (16 - len(p)) for p in ("2221", "2720", "2200", "2204", "2205", "3527", "3528",
                                                    "3589", "3590", "300", "305", "306", "3095", "644", "643")]
    sql = dict(con.execute("SELECT n, card_issuer(n) FROM unnest($1) t(n)", [numbers]).fetchall())
    for n in numbers:
        assert sql[n] == detect.card_issuer(n), n


# ---------------------------------------------------------------- the scan

def _found(scanned: dict, text: str) -> list[tuple[str, str, str]]:
    return [(h.kind, h.value, text[h.start:h.end]) for h in scanned[text]]


# issue 21: (message, [(kind, value, the characters found)])
REPRODUCTIONS = [
    ("mijn kaart is 4111 1111 1111 1111 12/27 cvc 123",
     [("card", "4111111111111111", "4111 1111 1111 1111")]),
    ("4111 1111 1111 1111 123", [("card", "4111111111111111", "4111 1111 1111 1111")]),
    ("IBAN NL91ABNA0417164300 bsn 111222333",
     [("iban", "NL91ABNA0417164300", "NL91ABNA0417164300"), ("bsn", "111222333", "111222333")]),
    ("rekening NL91ABNA0417164300 4111111111111111",
     [("iban", "NL91ABNA0417164300", "NL91ABNA0417164300"),
      ("card", "4111111111111111", "4111111111111111")]),
    ("mijn bsn is 111222333 2511 CV Den Haag", [("bsn", "111222333", "111222333")]),
    ("NL 91 ABNA 0417 1643 00", [("iban", "NL91ABNA0417164300", "NL 91 ABNA 0417 1643 00")]),
    ("BE 68 5390 0754 7034", [("iban", "BE68539007547034", "BE 68 5390 0754 7034")]),
    ("ES 58 0049 0290 3424 1352 8341", [("iban", "ES5800490290342413528341", "ES 58 0049 0290 3424 1352 8341")]),
    ("NL91-ABNA-0417-1643-00", [("iban", "NL91ABNA0417164300", "NL91-ABNA-0417-1643-00")]),
    ("AL47-2121-1009-0000-0002-3569-8741",
     [("iban", "AL47212110090000000235698741", "AL47-2121-1009-0000-0002-3569-8741")]),
    ("NO07.8380.08.06006", [("iban", "NO0783800806006", "NO07.8380.08.06006")]),
    ("mijn nummer is BE 46 6528 2264 2736 graag", [("iban", "BE46652822642736", "BE 46 6528 2264 2736")]),
    ("bsn 111-222-333", [("bsn", "111222333", "111-222-333")]),
    ("NL56 3003 0A17 1643 00", []),
    ("NL91ABNA0417164300 en nogmaals NL91ABNA0417164300",
     [("iban", "NL91ABNA0417164300", "NL91ABNA0417164300")] * 2),
]


@pytest.mark.parametrize("text, expected", REPRODUCTIONS, ids=[t for t, _ in REPRODUCTIONS])
def test_issue_21_reproductions(scanned, text, expected):
    assert _found(scanned, text) == expected


def test_duplicates_are_reported_at_each_position(scanned):
    text = "NL91ABNA0417164300 en nogmaals NL91ABNA0417164300"
    assert [h.start for h in scanned[text]] == [0, 31]


LAYOUTS = [
    # separators: single or double spaces, dashes and dots, one kind within a number
    ("pas 4111  1111  1111  1111", [("card", "4111111111111111", "4111  1111  1111  1111")]),
    ("pas 4111.1111.1111.1111", [("card", "4111111111111111", "4111.1111.1111.1111")]),
    ("pas 4111 1111-1111 1111", []),
    ("bsn 1234.56.782 of 123 456 782", [("bsn", "123456782", "1234.56.782"),
                                       ("bsn", "123456782", "123 456 782")]),
    ("bsn 1234 56-782", []),
    ("nummer 12 3456 782", []),               # nine digits, but not a BSN's layout
    # an 8-digit BSN (leading zero dropped) only where the text says BSN just before it
    ("mijn bsn is 11222335", [("bsn", "011222335", "11222335")]),
    ("klantnummer 11222335", []),
    ("burgerservicenummer: 11222335.", [("bsn", "011222335", "11222335")]),
    ("bsn 11222334", []),                      # padded, it fails the 11-proof
    # a Luhn-valid 15-digit number starting with 1 is a UATP card only next to a card word
    ("referentie 122000000000003", []),
    ("mijn creditcard 122000000000003", [("card", "122000000000003", "122000000000003")]),
    # an IBAN written in lower case; mixed case follows the registry's classes
    ("iban nl91 abna 0417 1643 00", [("iban", "NL91ABNA0417164300", "nl91 abna 0417 1643 00")]),
    ("LV80 bANK 0000 4351 9500 1", []),
    ("MC11 1273 9000 7000 1111 1000 h79",
     [("iban", "MC1112739000700011111000H79", "MC11 1273 9000 7000 1111 1000 h79")]),
    # a mistyped IBAN (capital country code) claims its characters: no card inside it
    ("RS35 2600 0560 1001 6113 70", []),
    # a word that looks like a country code hides nothing
    ("ik betaal om 12 4111 1111 1111 1111 met", [("card", "4111111111111111", "4111 1111 1111 1111")]),
    # two cards in one chain of groups, and two numbers glued by a separator
    ("4111 1111 1111 1111 5555 5555 5555 4444",
     [("card", "4111111111111111", "4111 1111 1111 1111"), ("card", "5555555555554444", "5555 5555 5555 4444")]),
    ("order 20240131123456", []),
    ("NL91ABNA0417164300.", [("iban", "NL91ABNA0417164300", "NL91ABNA0417164300")]),
    ("NL91ABNA0417164300X", []),
    ("Slash: AL47/2121/1009/0000/0002/3569/8741", []),
    # an IPv4 address is not a dotted BSN (118.112.235 passes the 11-proof; a Remote Addr column
    # of an export holds thousands of addresses), but a BSN next to one is still found
    ("ingelogd vanaf 176.118.112.235", []),
    ("176.118.112.235", []),
    ("ip 176.118.112.235, bsn 123.456.782", [("bsn", "123456782", "123.456.782")]),
    ("111.222.333.4444", [("bsn", "111222333", "111.222.333")]),       # no address: 4444 > 255
]


@pytest.mark.parametrize("text, expected", LAYOUTS, ids=[t for t, _ in LAYOUTS])
def test_scan_layouts_and_boundaries(scanned, text, expected):
    assert _found(scanned, text) == expected


@pytest.fixture(scope="module")
def scanned(con):
    """Every text of this module scanned at once (one DuckDB pass, as an audit does)."""
    texts = sorted({t for t, _ in REPRODUCTIONS + LAYOUTS})
    return dict(zip(texts, detect.scan(texts, con)))


def test_every_bsn_found_whatever_follows(con):
    """A valid BSN followed by a postcode, a house number, a date or another number."""
    rnd = random.Random(15)
    texts, numbers = [], []
    for _ in range(60):
        while True:
            b = "".join(rnd.choice("0123456789") for _ in range(9))
            if std_bsn.is_valid(b) and b[0] != "0":
                break
        tail = rnd.choice([" 2511 CV", " 12", " 12-05-2024", " 0612345678", " 4111", "", " en 123"])
        texts.append(f"mijn bsn is {b}{tail} groet")
        numbers.append(b)
    for text, b, hits in zip(texts, numbers, detect.scan(texts, con)):
        assert ("bsn", b, b) in [(h.kind, h.value, text[h.start:h.end]) for h in hits], text


def test_positions_count_characters_not_bytes(con):
    text = "Één café: ÿ NL91ABNA0417164300 — pas 4111111111111111"
    hits = detect.scan([text], con)[0]
    assert [text[h.start:h.end] for h in hits] == ["NL91ABNA0417164300", "4111111111111111"]


def test_candidates_keep_where_and_how_the_number_was_written(con):
    con.execute("CREATE OR REPLACE TEMP TABLE src AS SELECT 'customers' AS tbl, 'notes' AS col, "
                "'c1' AS id, 'c1' AS customer_id, NULL::VARCHAR AS chat_id, "
                "'iban NL91-ABNA-0417-1643-00 ok' AS txt")
    for stmt in detect.scan_statements("SELECT * FROM src", "cands"):
        con.execute(stmt)
    assert con.execute("SELECT tbl, col, id, customer_id, kind, value, pos, len, raw FROM cands").fetchall() == [
        ("customers", "notes", "c1", "c1", "iban", "NL91ABNA0417164300", 6, 22, "NL91-ABNA-0417-1643-00")]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'free_text_%'"
                       ).fetchone()[0] == 0          # the scratch tables are dropped


def test_no_ip_address_is_a_number(con):
    """Random IPv4 addresses (about one in 25 holds three octets that pass the 11-proof) yield
    nothing, alone or in a sentence."""
    rnd = random.Random(4)
    ips = [".".join(str(rnd.randint(0, 255)) for _ in range(4)) for _ in range(2000)]
    octets = [ip.split(".") for ip in ips]
    look_alike = sum(any(all(len(o) == 3 for o in q[i:i + 3]) and detect.bsn("".join(q[i:i + 3]))
                         for i in (0, 1)) for q in octets)
    assert look_alike >= 20                  # the trap is there
    hits = detect.scan(ips + [f"login vanaf {ip} om 10:00" for ip in ips[:200]], con)
    assert not any(hits), [h for h in hits if h][:3]
