"""The detectors: SQL macros and Python checks agree with python-stdnum on many numbers."""

from __future__ import annotations

import random

import duckdb
import pytest
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
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


def test_iban_against_stdnum(con):
    rnd = random.Random(13)
    good = []
    for cc, length in sorted(detect.IBAN_LENGTHS.items()):
        for _ in range(3):
            bban = "".join(rnd.choice("0123456789") for _ in range(length - 4))
            good.append(cc + std_iban.calc_check_digits(cc + "00" + bban) + bban)
    bad = [g[:2] + f"{(int(g[2:4]) + 1) % 100:02d}" + g[4:] for g in good]   # wrong check digits
    bad += [g + "0" for g in good[:50]]                                       # wrong length
    real = ["NL91ABNA0417164300", "DE89370400440532013000", "GB29NWBK60161331926819", "BE71096123456769"]
    sql = dict(con.execute("SELECT n, iban_ok(n) FROM unnest($1) t(n)", [good + bad + real]).fetchall())
    for n in good + real:
        assert sql[n] and detect.iban(n), n
    for n in bad:
        assert sql[n] == detect.iban(n) == std_iban.is_valid(n), n
    assert not any(sql[n] for n in bad[: len(good)])


def test_iban_lengths_match_stdnum():
    for cc, length in detect.IBAN_LENGTHS.items():
        bban = "0" * (length - 4)
        candidate = cc + std_iban.calc_check_digits(cc + "00" + bban) + bban
        # stdnum may refuse a structurally wrong BBAN, but never for its length
        try:
            std_iban.validate(candidate)
        except std_iban.InvalidLength:
            raise AssertionError(cc)
        except std_iban.ValidationError:
            pass


def test_candidate_patterns(con):
    text = ("pas 4111 1111 1111 1111, ook 4111-1111-1111-1111; order 20240131123456; "
            "bsn 1234.56.782 of 123 456 782; iban nl91 abna 0417 1643 00 graag")
    cards = con.execute("SELECT regexp_extract_all($1, $2)", [text, detect.CARD_PATTERN]).fetchone()[0]
    assert cards == ["4111 1111 1111 1111", "4111-1111-1111-1111", "20240131123456"]
    bsns = con.execute("SELECT regexp_extract_all($1, $2)", [text, detect.BSN_PATTERN]).fetchone()[0]
    assert bsns == ["1234.56.782", "123 456 782"]
    ib = con.execute("SELECT list_transform(regexp_extract_all($1, $2), lambda x: iban_norm(x))",
                     [text, detect.IBAN_PATTERN]).fetchone()[0]
    assert ib == ["NL91ABNA0417164300"]
