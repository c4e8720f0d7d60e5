"""The leak test: personal data fed through ids, URLs (plain and encoded), every free-text column
and undeclared export columns reaches no output of any command: findings (CSV, Parquet, the
database's findings table), rules.csv, manifest, notebooks, HTML, the gate's JUnit, page and
JSON, the statement review against the data, the policy draft, and the terminal."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import quote

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from toolkit.cli import app

from .conftest import write_files

AS_OF = "2025-03-02"

EMAIL = "piet.pietersen@ziggo.nl"
EMAIL2 = "marietje.klaassen@kpnmail.nl"
PHONE = "06-19283746"   # (not 12345678: the rule docs quote the BSN 123456782)
BSN = "111222333"
IBAN = "NL91ABNA0417164300"
CARD = "4111 1111 1111 1111"
IP = "83.84.85.86"
NAME = "Pietersen"
STREET = "Vlinderhof"       # (not the controller's own street, which its statement names)

#: what must appear nowhere, in every spelling it was fed in
SECRETS = [EMAIL, quote(EMAIL), quote(quote(EMAIL)), "piet.pietersen", EMAIL2, "marietje.klaassen",
           "19283746", BSN, IBAN, "0417164300", "NL91 ABNA", CARD, "4111111111111111",
           "1111 1111 1111", IP, "85.86", NAME, STREET, "Klaassen"]

STATEMENT = Path(__file__).parents[1] / "toolkit" / "policies" / "contractstatus.nl.statement.txt"

ISSUE_URL = ("https://www.contractstatus.nl/bedankt?email=piet.pietersen%40ziggo.nl&bsn=111222333"
             "&naam=Piet%20Pietersen&ip=83.84.85.86")
ENCODED_URL = quote(ISSUE_URL, safe="")
PLAIN_URL = f"https://www.contractstatus.nl/account/{EMAIL}/orders?tel={PHONE}#iban={IBAN}"


def table(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def export_files() -> dict[str, str]:
    old = "2022-06-01T10:00:00Z"
    text = f"mijn kaart {CARD}, bsn {BSN}, iban {IBAN}, bel {PHONE} of mail {EMAIL}, ip {IP}"
    customers = table(
        ["customer_id", "person_key", "created_at", "status", "first_name", "last_name", "email",
         "phone", "street", "postcode", "notes", "Telefoon 2", "Contact Mail"],
        [[cid, cid, old, "active", "Piet", NAME, EMAIL, PHONE, f"{STREET} 12", "1234 AB", text,
          PHONE, mail]
         for cid, mail in ((EMAIL, EMAIL2), (quote(EMAIL2), EMAIL), ("c3", EMAIL2))])
    visits = table(["visit_id", "customer_id", "started_at", "ip_address", "origin", "is_bot",
                    "landing_url"],
                   [[f"v{i}", cid, old, IP, "web", "false", url]
                    for i, (cid, url) in enumerate(((EMAIL, ISSUE_URL), (quote(EMAIL2), ENCODED_URL),
                                                    ("c3", PLAIN_URL)))])
    orders = table(["order_id", "customer_id", "placed_at", "billing_name", "email_at_order",
                    "phone_at_order", "ip_address", "customer_comment", "Notify"],
                   [[f"o{i}", cid, old, f"Piet {NAME}", EMAIL, PHONE, IP, text, EMAIL2]
                    for i, cid in enumerate((EMAIL, quote(EMAIL2), "c3"))])
    chats = table(["chat_id", "customer_id", "channel", "started_at"],
                  [["k1", EMAIL, "web", old]])
    messages = table(["message_id", "chat_id", "sent_at", "sender_role", "body"],
                     [[f"m-{quote(EMAIL)}-{i}", "k1", old, "customer", body]
                      for i, body in enumerate((text, ISSUE_URL, ENCODED_URL))])
    calls = table(["call_id", "customer_id", "started_at", "caller_number", "transcript"],
                  [["call1", EMAIL, old, PHONE, text]])
    cookies = table(["observation_id", "scan_id", "scanned_at", "page_url", "consent_state", "name",
                     "domain", "expires_at"],
                    [[f"obs-{i}", "s1", "2025-02-01T10:00:00Z", url, "none", name, dom, exp]
                     for i, (url, name, dom, exp) in enumerate((
                         (ISSUE_URL, "_ga", ".contractstatus.nl", "2027-01-01T00:00:00Z"),
                         (ENCODED_URL, "fr", ".facebook.com", "2026-01-01T00:00:00Z"),
                         (PLAIN_URL, "zz_unknown", "www.contractstatus.nl", "")))])
    dsr = table(["dsr_id", "customer_id", "type", "channel", "received_at", "answered_at",
                 "completed_at"],
                [["d1", EMAIL, "erasure", "email", "2024-01-01T10:00:00Z", "2024-01-05T10:00:00Z",
                  "2024-01-05T10:00:00Z"],
                 [f"d-{EMAIL2}", quote(EMAIL2), "access", "email", "2024-01-01T10:00:00Z", "", ""]])
    notes = table(["note_id", "customer_id", "created_at", "author", "body"],
                  [["n1", EMAIL, old, "agent", text]])
    return {"customers.csv": customers, "visits.csv": visits, "orders.csv": orders,
            "chats.csv": chats, "chat_messages.csv": messages, "calls.csv": calls,
            "cookie_observations.csv": cookies, "dsr_requests.csv": dsr, "cs_notes.csv": notes}


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """Every command run on the planted export; (output folder, terminal output, database)."""
    root = tmp_path_factory.mktemp("leaks")
    export = write_files(root / "export", export_files())
    out = root / "out"
    runner = CliRunner()
    terminal = []
    db = out / "audit.duckdb"
    res = runner.invoke(app, ["run", str(export), "--as-of", AS_OF, "--out", str(out)])
    terminal.append(res.output)
    # exit 2: must-rules whose tables this small export lacks; everything is written all the same
    assert res.exit_code in (0, 1, 2) and "notebooks: " in res.output, res.output
    assert "failed" not in res.output.split("4. report:")[1].splitlines()[0], res.output
    for args in (["load", str(export), "--db", str(root / "again.duckdb")],
                 ["audit", "--db", str(db), "--as-of", AS_OF, "--out", str(out / "audit-again")],
                 ["gate", "--db", str(db), "--as-of", AS_OF, "--junit", str(out / "gate2" / "j.xml"),
                  "--docs", str(out / "gate2")],
                 ["statement", "review", str(STATEMENT), "--db", str(db), "--as-of", AS_OF,
                  "--out", str(out / "statement")],
                 ["policy", "draft", str(STATEMENT), "--out", str(out / "drafted.yaml")],
                 ["rules"]):
        r = runner.invoke(app, args)
        assert r.exit_code in (0, 1, 2) and "error:" not in r.output, (args, r.output)
        terminal.append(r.output)
    return out, "\n".join(terminal), db


def test_the_planted_data_made_findings(everything):
    """The planted data did reach the rules (else the test below would prove nothing)."""
    out, _, db = everything
    df = pd.read_parquet(out / "audit" / "findings.parquet")
    rules = set(df["rule_id"])
    assert {"RET-001", "DSR-004", "CKE-003", "TRN-001"} <= rules, rules
    assert {"SEC-002", "SEC-004", "SEC-006"} & rules
    assert any(s.startswith("p***@") for s in df["subject_id"])          # an id that is an e-mail
    # the statement review compared the statement with these data (TRN-001: undeclared columns)
    import json
    review = json.loads((out / "statement" / "statement_findings.json").read_text(encoding="utf-8"))
    trn = next(c for c in review["checks"] if c["check_id"] == "TRN-001")
    assert trn["verdict"] == "inconsistent" and trn["details"], trn
    # and the database still holds the raw values (they are data, not output)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM customers WHERE customer_id = $1", [EMAIL]).fetchone()[0]
    con.close()


_BLOBS = re.compile(r'"image/png": "[^"]*"|data:image/[a-z+]+;base64,[A-Za-z0-9+/=\\n]+')


def _texts(out: Path) -> dict[str, str]:
    texts = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.suffix in (".duckdb", ".wal") or ".privaudit-tmp" in p.parts:
            continue
        if p.suffix == ".parquet":
            texts[str(p)] = pd.read_parquet(p).to_csv()
        else:
            texts[str(p)] = _BLOBS.sub("", p.read_bytes().decode("utf-8", "replace"))
    return texts


def test_no_personal_data_in_any_output(everything):
    out, terminal, db = everything
    texts = _texts(out)
    kinds = {Path(k).suffix for k in texts}
    assert {".csv", ".parquet", ".json", ".ipynb", ".html", ".xml"} <= kinds, kinds
    con = duckdb.connect(str(db), read_only=True)
    texts["findings table"] = str(con.execute(
        "SELECT subject_id, customer_id, evidence, details FROM findings").fetchall())
    texts["rule_results table"] = str(con.execute("SELECT * FROM rule_results").fetchall())
    con.close()
    texts["terminal"] = terminal
    leaks = [(where, s) for where, text in texts.items() for s in SECRETS
             if s.lower() in text.lower()]
    assert not leaks, leaks[:10]


def test_masked_forms_are_there_instead(everything):
    out, _, _ = everything
    df = pd.read_parquet(out / "audit" / "findings.parquet")
    blob = df.to_csv()
    assert "p***@ziggo.nl" in blob and "11*****33" in blob or "411111******1111" in blob
    assert "email=p***@ziggo.nl" in blob and "naam=[redacted]" in blob and "83.84.*.*" in blob


def test_every_csv_written_is_spreadsheet_safe(everything):
    from .test_outputs import assert_spreadsheet_safe
    out, _, _ = everything
    written = sorted(out.rglob("*.csv"))
    assert {p.name for p in written} >= {"findings.csv", "rules.csv"}
    for p in written:
        assert assert_spreadsheet_safe(p) > 0, p


def test_every_output_is_owner_only(everything):
    import os
    import stat
    out, _, _ = everything
    for p in [out, *out.rglob("*")]:
        if ".privaudit-tmp" in p.parts:
            continue
        want = 0o700 if p.is_dir() else 0o600
        assert stat.S_IMODE(os.stat(p).st_mode) == want, (p, oct(os.stat(p).st_mode))
