"""privaudit statement review: the seed statement's defects found with their quotes, hand-written
complete statements (Dutch Markdown, English HTML) with nothing missing, the outputs and exit
codes, and unusable input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.statement import review
from toolkit.statement.document import parse, read_statement

SEED = Path("/work/shared/seed/privacy-statement-contractstatus.nl.txt")
DATA = Path(__file__).parent / "data" / "statements"
if not SEED.is_file():                      # a fresh clone: shared/ sits beside the repository
    SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / SEED.name
SEED_COPY = Path(__file__).parents[1] / "toolkit" / "policies" / "contractstatus.nl.statement.txt"
AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def seed():
    return review(SEED_COPY, as_of=AS_OF)


def test_the_seed_copy_is_the_shared_seed():
    if SEED.is_file():
        assert SEED.read_bytes() == SEED_COPY.read_bytes()


def test_seed_is_split_into_the_catalogue_clauses(seed):
    doc = seed.document
    assert doc.language == "nl" and doc.format == "text"
    subheads = {s.clause: s.subheading for s in doc.sentences if s.subheading}
    assert subheads == {"1.1": "Persoonlijk", "1.2": "Doel", "1.3": "Bestelling", "1.4": "Uw account",
                        "1.5": "Klantenservice", "1.6": "Nieuwsbrieven",
                        "1.7": "Verbetering van diensten Smootdiensten", "1.8": "Social media"}
    assert {s.clause for s in doc.sentences} >= {"3.1", "4.1", "5.1", "6.1", "7.1", "8.1"}
    last = doc.sentences[-1]
    assert last.text == "De huidige Privacy Verklaring is bijgewerkt op 13-05-2018."
    assert last.line == 57 and last.clause == "8.1"


# the "done when": each defect found, with its quote
SEED_DEFECTS = {
    "REPEALED-LAW": ("outdated", "Wet bescherming persoonsgegevens"),
    "CONSENT-BY-VISITING": ("invalid", "Door middel van het bezoeken van"),
    "CONSENT-BY-CONTINUED-USE": ("invalid", "Door na wijzigingen gebruik te maken"),
    "TRN-004": ("invalid", "contrachtstatus.nl"),
    "ART13-LEGAL-BASIS": ("missing", None),
    "RIGHT-COMPLAINT": ("missing", None),
    "RIGHT-RESTRICTION": ("missing", None),
    "RIGHT-OBJECTION": ("missing", None),
    "RIGHT-PORTABILITY": ("missing", None),
    "RIGHT-WITHDRAW-CONSENT": ("missing", "afmelden via info@smootdiensten.nl"),
    "ART13-TRANSFERS": ("missing", None),
    "PROFILING-OBJECTION": ("missing", "persoonlijke nieuwsbrieven"),
    "TRN-005-DATE": ("outdated", "bijgewerkt op 13-05-2018"),
    "COOKIES-FUNCTIONAL-CLAIM": ("inconsistent", "functioneel van aard"),
    "ART13-DPO": ("missing", None),
}


@pytest.mark.parametrize("check_id", sorted(SEED_DEFECTS))
def test_seed_defects(seed, check_id):
    verdict, quote = SEED_DEFECTS[check_id]
    c = seed.check(check_id)
    assert c.verdict == verdict, (check_id, c.verdict, c.explanation)
    if quote:
        assert any(quote in q.text for q in c.quotes), [q.text for q in c.quotes]
    assert c.explanation and "\n" not in c.explanation


def test_seed_elements_that_are_there(seed):
    for check_id in ("ART13-CONTROLLER", "ART13-RECIPIENTS", "ART13-RETENTION", "RIGHT-ACCESS",
                     "RIGHT-RECTIFICATION", "RIGHT-ERASURE"):
        c = seed.check(check_id)
        assert c.verdict == "present" and c.quotes, check_id
    assert "12 maanden na uw laatste bezoek" in seed.check("ART13-RETENTION").quotes[0].text
    assert seed.check("RIGHT-ACCESS").quotes[0].where == "art. 4.1, line 41"
    # two sentences of one line quoted: the place is named once (the CSV's and the CLI's "where")
    erasure = seed.check("RIGHT-ERASURE")
    assert [q.where for q in erasure.quotes] == ["art. 4.1, line 41"] * 2
    assert erasure.places() == erasure.places(2) == erasure.row()["where"] == "art. 4.1, line 41"


def test_seed_explanations_name_the_specifics(seed):
    assert "101 months old" in seed.check("TRN-005-DATE").explanation
    assert "before the GDPR applied" in seed.check("TRN-005-DATE").explanation
    assert "Only legal obligation" in seed.check("ART13-LEGAL-BASIS").explanation
    assert seed.check("TRN-004").quotes[0].clause == "1.2"
    assert seed.exit_code == 1


def test_repealed_law_is_judged_at_the_review_date():
    before = review(SEED_COPY, as_of="2018-05-20")
    assert before.check("REPEALED-LAW").verdict == "present"
    assert before.check("TRN-005-DATE").verdict == "outdated"       # predates the GDPR
    assert review(SEED_COPY, as_of="2018-05-25").check("REPEALED-LAW").verdict == "outdated"


@pytest.mark.parametrize("name,language,fmt", [("complete.nl.md", "nl", "markdown"),
                                                ("complete.en.html", "en", "html")])
def test_complete_statements_have_nothing_missing(name, language, fmt):
    res = review(DATA / name, as_of=AS_OF)
    assert res.document.language == language and res.document.format == fmt
    bad = [(c.check_id, c.verdict, c.explanation) for c in res.checks if c.verdict != "present"]
    assert not bad, bad
    assert res.exit_code == 0
    assert res.statement_date.isoformat() == "2026-03-01"
    # the authority's domain is named but is not a typo of the controller's
    assert "autoriteitpersoonsgegevens.nl" in res.check("TRN-004").explanation or language == "en"


def test_complete_statement_goes_stale_after_the_review_interval():
    res = review(DATA / "complete.nl.md", as_of="2027-03-02")
    c = res.check("TRN-005-DATE")
    assert c.verdict == "outdated" and "12 months" in c.explanation
    assert review(DATA / "complete.nl.md", as_of="2027-03-01").check("TRN-005-DATE").verdict == "present"


def test_html_script_and_style_are_not_read():
    doc = read_statement(DATA / "complete.en.html")
    assert not any("tracking" in s.text or "font-family" in s.text for s in doc.sentences)
    assert doc.title == "Privacy statement - contractstatus.nl"
    assert any("https://www.contractstatus.nl" in s.text for s in doc.sentences)   # link kept


def test_sentences_do_not_break_at_abbreviations():
    doc = parse("Wij gebruiken o.a. uw naam, bijv. voor de bezorging door PostNL B.V. aan uw adres. "
                "Zie art. 6 AVG. Dat is alles.")
    assert [s.text for s in doc.sentences] == [
        "Wij gebruiken o.a. uw naam, bijv. voor de bezorging door PostNL B.V. aan uw adres.",
        "Zie art. 6 AVG.", "Dat is alles."]


# ---------------------------------------------------------------- outputs and the CLI

def test_outputs_one_row_per_check(tmp_path, seed):
    res = review(SEED_COPY, as_of=AS_OF, out=tmp_path)
    with open(tmp_path / "statement_findings.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["check_id"] for r in rows] == [c.check_id for c in res.checks]
    assert len({r["check_id"] for r in rows}) == len(rows)
    assert set(rows[0]) == {"check_id", "gdpr_ref", "verdict", "title", "quote", "where",
                            "explanation"}
    assert {r["verdict"] for r in rows} <= {"missing", "invalid", "outdated", "inconsistent",
                                            "present"}
    visiting = next(r for r in rows if r["check_id"] == "CONSENT-BY-VISITING")
    assert visiting["gdpr_ref"] == "Art. 4(11)" and "contrachtstatus" in visiting["quote"]
    data = json.loads((tmp_path / "statement_findings.json").read_text(encoding="utf-8"))
    assert data["statement"]["date"] == "2018-05-13" and data["as_of"] == AS_OF
    assert len(data["checks"]) == len(rows)
    assert data["checks"][0]["quotes"][0]["line"] == 7
    assert data["summary"]["missing"] == sum(r["verdict"] == "missing" for r in rows)


def test_outputs_are_private_and_spreadsheet_safe(tmp_path):
    """A statement is anyone's text: a sentence that starts with a formula character is written
    quoted (toolkit.outputs, OWASP), and the folder and files are owner-only whatever the umask."""
    import os
    import stat

    from .test_outputs import assert_spreadsheet_safe
    text = SEED_COPY.read_text(encoding="utf-8")
    hostile = tmp_path / "hostile.txt"
    hostile.write_text(text.replace("Door middel van het bezoeken", "=Door middel van het bezoeken"),
                       encoding="utf-8")
    old = os.umask(0)
    try:
        res = review(hostile, as_of=AS_OF, out=tmp_path / "out")
    finally:
        os.umask(old)
    assert res.check("CONSENT-BY-VISITING").row()["quote"].startswith("=Door")
    with open(tmp_path / "out" / "statement_findings.csv", newline="", encoding="utf-8") as f:
        quote = next(r for r in csv.DictReader(f) if r["check_id"] == "CONSENT-BY-VISITING")["quote"]
    assert quote.startswith("'=Door")
    assert assert_spreadsheet_safe(tmp_path / "out" / "statement_findings.csv") > 0
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    for name in ("statement_findings.csv", "statement_findings.json"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o600


def test_cli_exit_codes(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["statement", "review", str(SEED_COPY), "--as-of", AS_OF,
                            "--out", str(tmp_path / "seed")])
    assert r.exit_code == 1, r.output
    assert (tmp_path / "seed" / "statement_findings.csv").is_file()
    assert "CONSENT-BY-VISITING" in r.output
    r = runner.invoke(app, ["statement", "review", str(DATA / "complete.nl.md"), "--as-of", AS_OF])
    assert r.exit_code == 0, r.output
    empty = tmp_path / "empty.txt"
    empty.write_text("Privacy.\n", encoding="utf-8")
    binary = tmp_path / "scan.pdf"
    binary.write_bytes(b"%PDF-1.4\x00\x01\x02")
    for bad, msg in ((empty, "too short"), (binary, "binary"), (tmp_path / "nope.txt", "not found")):
        r = runner.invoke(app, ["statement", "review", str(bad)])
        assert r.exit_code == 2, r.output
        assert msg in r.output and "Traceback" not in r.output


def test_windows_1252_statement(tmp_path):
    p = tmp_path / "cp1252.txt"
    p.write_bytes(SEED_COPY.read_text(encoding="utf-8").encode("cp1252"))
    res = review(p, as_of=AS_OF)
    assert res.check("CONSENT-BY-VISITING").verdict == "invalid"
    assert any("geïnformeerd" in s.text for s in res.document.sentences)


def test_policy_domains_and_review_interval(tmp_path):
    pol = tmp_path / "p.yaml"
    text = (Path(__file__).parents[1] / "toolkit" / "policies" / "contractstatus.nl.yaml").read_text(
        encoding="utf-8")
    text = text.replace("review_months: 12", "review_months: 1200").replace(
        "first_party_domains: [contractstatus.nl, smootdiensten.nl]",
        "first_party_domains: [contractstatus.nl, smootdiensten.nl, contrachtstatus.nl]")
    pol.write_text(text, encoding="utf-8")
    res = review(SEED_COPY, policy=pol, as_of=AS_OF)
    assert res.check("TRN-004").verdict == "present"
    date_check = res.check("TRN-005-DATE")
    assert date_check.verdict == "outdated" and "before the GDPR" in date_check.explanation
    assert "review interval" not in date_check.explanation
