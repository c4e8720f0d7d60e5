"""One person across every table, and the Art. 15 access package, on a generated shop.

The expected records of a person come from the generated export files themselves (read with
pandas, not with the toolkit): every row of the person's accounts, and the rows hanging off their
orders and chats. On top of the shop, the fixture plants rows that only an identifier links to
the person (a guest order with the e-mail in other case and spaces, an anonymous visit with
their visitor id, an unattributed send, a call from their phone written differently) and decoys
of another person with near-identical e-mail addresses and phone numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import html5lib
import pandas as pd
import pytest
from typer.testing import CliRunner

import toolkit
from toolkit import subject
from toolkit.cli import app
from toolkit.exceptions import PrivauditError
from toolkit.generate import generate

AS_OF = "2026-10-31"
TABLES = ("customers", "visits", "orders", "order_items", "payments", "chats", "chat_messages",
          "calls", "newsletter_consent_events", "newsletter_sends", "transfers", "dsr_requests",
          "legal_holds")


def read_export(folder: Path, table: str) -> pd.DataFrame:
    f = next(folder.glob(f"{table}.*"))
    name = f.name
    if name.endswith(".jsonl"):
        return pd.read_json(f, lines=True, dtype=False)
    if name.endswith(".json"):
        return pd.read_json(f, dtype=False)
    if name.endswith(".parquet"):
        return pd.read_parquet(f)
    sep = "\t" if name.endswith(".tsv") else None
    return pd.read_csv(f, sep=sep, engine="python", dtype=str, encoding="utf-8-sig",
                       keep_default_na=False, na_values=[""])


def expected(exports: Path, accounts: list[str]) -> dict[str, set[str]]:
    """The person's records by the export files: rows of the accounts and what hangs off them."""
    t = {name: read_export(exports, name) for name in TABLES}
    acc = set(accounts)

    def of(name, col="customer_id"):
        d = t[name]
        return d[d[col].isin(acc)]
    out = {"customers": set(of("customers")["customer_id"])}
    for name, pk in (("visits", "visit_id"), ("orders", "order_id"), ("chats", "chat_id"),
                     ("calls", "call_id"), ("newsletter_consent_events", "event_id"),
                     ("newsletter_sends", "send_id"), ("dsr_requests", "dsr_id"),
                     ("legal_holds", "hold_id")):
        out[name] = set(of(name)[pk])
    orders, chats = out["orders"], out["chats"]
    out["order_items"] = set(t["order_items"][t["order_items"]["order_id"].isin(orders)]["order_item_id"])
    p = t["payments"]
    out["payments"] = set(p[p["customer_id"].isin(acc) | p["order_id"].isin(orders)]["payment_id"])
    out["chat_messages"] = set(t["chat_messages"][t["chat_messages"]["chat_id"].isin(chats)]["message_id"])
    tr = t["transfers"]
    out["transfers"] = set(tr[tr["customer_id"].isin(acc) | tr["order_id"].isin(orders)
                              | tr.get("chat_id", pd.Series(dtype=str)).isin(chats)]["transfer_id"])
    return out


def found(s: subject.Subject) -> dict[str, set[str]]:
    return {t: set(s.keys(t)) for t in TABLES}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("subject")
    exports = root / "exports"
    generate(exports, customers=300, seed=5)
    db = root / "audit.duckdb"
    toolkit.load(exports, db=db)
    cust = read_export(exports, "customers")
    tr = read_export(exports, "transfers")
    # the richest account (most transfers) is the planted person
    rich = tr["customer_id"].value_counts().index[0]
    row = cust[cust["customer_id"] == rich].iloc[0]
    email, phone = row["email"], row["phone"]
    con = duckdb.connect(str(db))
    vis = con.execute("SELECT visitor_id FROM visits WHERE customer_id = $1 AND visitor_id IS NOT NULL "
                      "LIMIT 1", [rich]).fetchone()[0]
    other = con.execute("SELECT customer_id FROM customers WHERE customer_id <> $1 AND email IS NOT NULL "
                        "ORDER BY customer_id LIMIT 1", [rich]).fetchone()[0]
    local, domain = email.split("@")
    near = [f"{local}1@{domain}", f"{local}@{domain}.com", f"x{local}@{domain}", f"{local[:-1]}@{domain}",
            f"{local.replace('.', '')}@{domain}", f"{local}@{domain.split('.')[0]}.org"]
    digits = subject_phone(con, phone)
    near_phone = digits[:-1] + ("1" if digits[-1] != "1" else "2")
    ts = "2026-06-01 10:00:00+02"
    planted = {
        # identifier-only records of the person
        "orders": "O-GUEST-1", "visits": "V-ANON-1", "newsletter_sends": "NS-UNATTR-1",
        "calls": "CALL-ANON-1",
    }
    con.execute("INSERT INTO orders (order_id, customer_id, placed_at, email_at_order) VALUES "
                "('O-GUEST-1', NULL, $1, $2)", [ts, f"  {email.upper()} "])
    con.execute("INSERT INTO order_items (order_item_id, order_id, sku) VALUES ('OI-GUEST-1', 'O-GUEST-1', 'SKU-1')")
    con.execute("INSERT INTO visits (visit_id, customer_id, visitor_id, started_at, origin, is_bot) "
                "VALUES ('V-ANON-1', NULL, $1, $2, 'web', false)", [vis, ts])
    con.execute("INSERT INTO newsletter_sends (send_id, customer_id, email, sent_at) VALUES "
                "('NS-UNATTR-1', 'C-GONE', $1, $2)", [email.replace("@", " @"), ts])
    con.execute("INSERT INTO calls (call_id, customer_id, started_at, caller_number) VALUES "
                "('CALL-ANON-1', NULL, $1, $2)", [ts, "+31 (0)" + digits[1:3] + " " + digits[3:]])
    # a row of another known account carrying the person's exact e-mail is not theirs
    con.execute("INSERT INTO orders (order_id, customer_id, placed_at, email_at_order) VALUES "
                "('O-OTHER-1', $1, $2, $3)", [other, ts, email])
    # decoys: another person with near-identical e-mail addresses and phone numbers
    con.execute("INSERT INTO customers (customer_id, person_key, created_at, status, first_name, email, "
                "phone) VALUES ('C9999001', 'P9999001', $1, 'active', 'Decoy', $2, $3)",
                [ts, near[0], near_phone])
    for i, e in enumerate(near):
        con.execute("INSERT INTO orders (order_id, customer_id, placed_at, email_at_order) "
                    "VALUES ($1, NULL, $2, $3)", [f"O-DECOY-{i}", ts, e])
        con.execute("INSERT INTO newsletter_sends (send_id, customer_id, email, sent_at) VALUES "
                    "($1, NULL, $2, $3)", [f"NS-DECOY-{i}", e, ts])
    con.execute("INSERT INTO calls (call_id, customer_id, started_at, caller_number) VALUES "
                "('CALL-DECOY-1', NULL, $1, $2)", [ts, near_phone])
    # a customer whose name would inject markup into the page
    con.execute("INSERT INTO customers (customer_id, person_key, created_at, status, first_name, "
                "last_name, email) VALUES ('C9999002', NULL, $1, 'active', "
                "'<script>alert(1)</script>', 'O''Brien & <b>Zn</b>', 'script@example.nl')", [ts])
    con.execute("ALTER TABLE customers ADD COLUMN password_hash VARCHAR")
    con.execute("UPDATE customers SET password_hash = '$2b$12$abcdefghijklmnopqrstuv' "
                "WHERE customer_id = 'C9999002'")
    con.close()
    return {"root": root, "exports": exports, "db": db, "rich": rich, "email": email,
            "phone": phone, "digits": digits, "near": near, "near_phone": near_phone,
            "planted": planted, "other": other}


def subject_phone(con, raw: str) -> str:
    subject.install(con)
    return con.execute("SELECT norm_phone($1)", [raw]).fetchone()[0]


# ---------------------------------------------------------------- normalisation

@pytest.mark.parametrize("raw", ["0612345678", "06-12345678", "06 12 34 56 78", "+31612345678",
                                 "+31 6 12345678", "+31 (0)6 1234 5678", "0031612345678",
                                 "0031 6-1234-5678", "(06) 12345678", "31612345678", "+310612345678"])
def test_dutch_mobile_numbers_normalise_alike(raw):
    con = duckdb.connect()
    assert subject_phone(con, raw) == "0612345678"


@pytest.mark.parametrize("raw,norm", [("(020) 1234567", "0201234567"), ("+31(0)20 1234567", "0201234567"),
                                      ("+32 2 123 45 67", "+3221234567"), ("0032 2 1234567", "+3221234567")])
def test_landlines_and_foreign_numbers(raw, norm):
    assert subject_phone(duckdb.connect(), raw) == norm


@pytest.mark.parametrize("raw", ["123", "06-1234567", "+31 6 1234 567 8 9", "bel me", "", "+31(0)09-3905457"])
def test_what_is_not_a_phone_number_is_refused(raw):
    con = duckdb.connect()
    assert subject_phone(con, raw) is None
    with pytest.raises(PrivauditError, match="--phone"):
        subject.normalise(con, "phone", raw)


def test_email_normalisation_is_case_and_space_only():
    con = duckdb.connect()
    subject.install(con)
    assert subject.normalise(con, "email", "  Jan.Jansen1@Ziggo.NL ") == "jan.jansen1@ziggo.nl"
    assert subject.normalise(con, "email", "jan.jansen1 @ziggo.nl") == "jan.jansen1@ziggo.nl"
    for near in ("jan.jansen11@ziggo.nl", "janjansen1@ziggo.nl", "jan.jansen1+x@ziggo.nl"):
        assert subject.normalise(con, "email", near) != "jan.jansen1@ziggo.nl"
    with pytest.raises(PrivauditError, match="--email"):
        subject.normalise(con, "email", "not-an-address")


# ---------------------------------------------------------------- finding persons

def test_every_record_of_the_person_and_nothing_else(shop):
    s = subject.find(shop["db"], customer_id=shop["rich"])
    want = expected(shop["exports"], s.accounts)
    for table, key in shop["planted"].items():
        want[table].add(key)
    want["order_items"].add("OI-GUEST-1")
    got = found(s)
    for t in TABLES:
        assert got[t] == want[t], (t, sorted(want[t] - got[t]), sorted(got[t] - want[t]))
    assert sum(len(v) for v in got.values()) > 40
    everything = {k for v in got.values() for k in v}
    assert not any(k.startswith(("O-DECOY", "NS-DECOY", "CALL-DECOY", "C9999", "O-OTHER")) for k in everything)
    by = {r["order_id"]: r["_matched_by"] for r in s.records["orders"]}
    assert by["O-GUEST-1"] == "email"
    assert {r["visit_id"]: r["_matched_by"] for r in s.records["visits"]}["V-ANON-1"] == "visitor_id"


def test_email_and_phone_lookups_find_the_same_person(shop):
    by_id = found(subject.find(shop["db"], customer_id=shop["rich"]))
    assert found(subject.find(shop["db"], email=f"  {shop['email'].upper()}")) == by_id
    d = shop["digits"]
    variant = f"+31 (0){d[1:3]}-{d[3:6]} {d[6:]}"
    try:
        by_phone = subject.find(shop["db"], phone=variant)
    except PrivauditError as e:       # the generator's phone pool can give two persons one number
        assert "different persons" in str(e)
        return
    assert found(by_phone) == by_id


@pytest.mark.parametrize("i", range(6))
def test_near_identical_emails_find_only_their_own_records(shop, i):
    e = shop["near"][i]
    s = subject.find(shop["db"], email=e)
    keys = {k for t in TABLES for k in s.keys(t)}
    assert f"O-DECOY-{i}" in keys and f"NS-DECOY-{i}" in keys
    assert shop["rich"] not in s.accounts
    assert not keys & {"O-GUEST-1", "NS-UNATTR-1", "V-ANON-1", "CALL-ANON-1"}
    assert not any(k.startswith(("O-DECOY", "NS-DECOY")) and not k.endswith(str(i)) for k in keys)
    assert s.accounts == (["C9999001"] if i == 0 else [])
    assert ("CALL-DECOY-1" in keys) == (i == 0)      # the decoy account's own phone


def test_persons_with_two_accounts_and_erased_accounts(shop):
    cust = read_export(shop["exports"], "customers")
    pairs = cust.groupby("person_key")["customer_id"].apply(list)
    pair = next(v for v in pairs if len(v) == 2)
    s = subject.find(shop["db"], customer_id=pair[1])
    assert s.accounts == sorted(pair)
    got = found(s)
    want = expected(shop["exports"], pair)
    assert all(got[t] == want[t] for t in TABLES), [t for t in TABLES if got[t] != want[t]]
    erased = cust[(cust["status"] == "erased") & cust["email"].isna()]["customer_id"].iloc[0]
    s = subject.find(shop["db"], customer_id=erased)
    assert s.accounts == [erased] and s.emails == []
    assert found(s) == expected(shop["exports"], [erased])


def test_an_identifier_of_two_persons_is_refused(shop):
    con = duckdb.connect(str(shop["db"]))
    con.execute("INSERT INTO customers (customer_id, person_key, email, phone) VALUES "
                "('C9999003', 'P9999003', 'shared@example.nl', '0611111111'), "
                "('C9999004', 'P9999004', 'Shared@Example.nl ', '06-11111111')")
    con.close()
    with pytest.raises(PrivauditError, match="2 different persons.*C9999003.*C9999004"):
        subject.find(shop["db"], email="shared@example.nl")
    with pytest.raises(PrivauditError, match="--customer-id"):
        subject.find(shop["db"], phone="+31 6 1111 1111")
    assert subject.find(shop["db"], customer_id="C9999003").accounts == ["C9999003"]
    with pytest.raises(PrivauditError, match="exactly one"):
        subject.find(shop["db"], email="a@b.nl", phone="0611111111")


def test_unknown_person_finds_nothing(shop):
    s = subject.find(shop["db"], email="niemand@example.nl")
    assert not s.found and s.accounts == []


# ---------------------------------------------------------------- the access package

ART15 = ("Art. 15(1)(a)", "Art. 15(1)(b)", "Art. 15(1)(c)", "Art. 15(1)(d)", "Art. 15(1)(e)",
         "Art. 15(1)(f)", "Art. 15(1)(g)", "Art. 15(1)(h)", "Art. 15(2)", "Art. 15(3)")


def headings(html: str) -> list[str]:
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    return ["".join(h.itertext()).strip() for h in doc.iter() if h.tag in ("h1", "h2", "h3")]


@pytest.fixture(scope="module")
def package(shop):
    out = shop["root"] / "package-nl"
    return subject.access(shop["db"], out, customer_id=shop["rich"], as_of=AS_OF)


def test_package_files_are_owner_only_and_hold_every_record(shop, package):
    assert stat.S_IMODE(os.stat(package.out_dir).st_mode) == 0o700
    for f in (package.html, package.data):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    data = json.loads(package.data.read_text(encoding="utf-8"))
    s = subject.find(shop["db"], customer_id=shop["rich"])
    assert {t: {str(r[toolkit.schema.table(t).primary_key]) for r in rows}
            for t, rows in data["tables"].items()} == {t: k for t, k in found(s).items() if k}
    cust = data["tables"]["customers"][0]
    assert cust["email"] == shop["email"] and cust["first_name"]          # unmasked
    assert shop["email"] in package.html.read_text(encoding="utf-8")
    assert data["package"]["customer_ids"] == [shop["rich"]]


def test_package_states_every_art_15_heading_per_category(package):
    html = package.html.read_text(encoding="utf-8")
    hs = headings(html)
    for h in ART15:
        assert any(x.startswith(h) for x in hs), h
    per_category = sum(1 for x in hs if x.startswith("Art. 15(1)(a)"))
    assert per_category == len(package.categories) >= 4
    assert any(x.startswith("Art. 15(1)(a) Doeleinden") for x in hs)


def test_recipients_are_the_ones_that_received_the_data(shop, package):
    con = duckdb.connect(str(shop["db"]), read_only=True)
    names = {r[0] for r in con.execute(
        "SELECT DISTINCT r.name FROM transfers t JOIN recipients r USING (recipient_id) "
        "WHERE t.customer_id = $1", [shop["rich"]]).fetchall()}
    con.close()
    shown = {r["name"] for c in package.categories for r in c["recipients"]}
    assert names and names <= shown | {None}
    assert shown <= names
    for c in package.categories:
        for r in c["recipients"]:
            assert r["first"] <= r["last"] and r["n"] >= 1


def test_retention_end_dates_are_the_persons(shop, package):
    ret = {c["id"]: c["retention"] for c in package.categories}
    con = duckdb.connect(str(shop["db"]), read_only=True)
    last = con.execute("SELECT max(started_at) FROM visits WHERE customer_id = $1 AND origin IN "
                       "('web', 'app') AND NOT is_bot", [shop["rich"]]).fetchone()[0]
    con.close()
    from toolkit.generate.calendar import add_months, nl_date
    assert ret["account"]["end"] == add_months(nl_date(last), 12).isoformat()
    assert ret["orders"]["end"].endswith("-12-31")
    assert "12" in ret["account"]["period"] and "7" in ret["orders"]["period"]


def test_english_package_and_the_log(shop, package):
    en = subject.access(shop["db"], shop["root"] / "package-en", email=shop["email"], lang="en",
                        as_of=AS_OF)
    hs = headings(en.html.read_text(encoding="utf-8"))
    assert "Art. 15(1)(a) Purposes and legal basis" in hs and "Art. 15(1)(e) Your rights" in hs
    con = duckdb.connect(str(shop["db"]), read_only=True)
    rows = con.execute("SELECT package_id, identified_by, customer_ids, lang, tables FROM access_packages "
                       "ORDER BY made_at").fetchall()
    text = repr(con.execute("SELECT * FROM access_packages").fetchall())
    con.close()
    assert [r[0] for r in rows][-2:] == [package.package_id, en.package_id]
    assert rows[-1][1:4] == ("email", [shop["rich"]], "en")
    assert shop["email"] not in text and shop["email"].split("@")[0] not in text   # not the content


def test_values_are_escaped_in_the_page(shop):
    pkg = subject.access(shop["db"], shop["root"] / "package-esc", customer_id="C9999002", as_of=AS_OF)
    html = pkg.html.read_text(encoding="utf-8")
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    assert not [e for e in doc.iter() if e.tag == "script"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "O&#39;Brien &amp; &lt;b&gt;Zn" in html
    # the password hash is withheld (Art. 15(4)) and the package says so
    data = json.loads(pkg.data.read_text(encoding="utf-8"))
    assert "password_hash" not in data["tables"]["customers"][0]
    assert data["withheld_columns"] == {"customers": ["password_hash"]}
    assert "$2b$12$" not in html and "customers.password_hash" in html


def test_nobody_found_still_gets_an_answer(shop):
    pkg = subject.access(shop["db"], shop["root"] / "package-none", email="niemand@example.nl",
                         as_of=AS_OF)
    html = pkg.html.read_text(encoding="utf-8")
    assert "geen persoonsgegevens van u gevonden" in html
    assert json.loads(pkg.data.read_text())["tables"] == {}


def test_refusals(shop, tmp_path):
    with pytest.raises(PrivauditError, match="--lang"):
        subject.access(shop["db"], tmp_path / "x", customer_id=shop["rich"], lang="de")
    with pytest.raises(PrivauditError, match="processing: missing"):
        subject.access(shop["db"], tmp_path / "x", customer_id=shop["rich"], policy="example-24-months")
    with pytest.raises(PrivauditError, match="--dsr"):
        subject.access(shop["db"], tmp_path / "x", customer_id=shop["rich"], dsr_id="DSR-NOPE")
    assert not (tmp_path / "x").exists()


def _browser() -> str | None:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium on this machine (install it "
                    "with 'make browser'); the HTML parser check above still ran")
def test_headless_browser_renders_the_art_15_headings(package):
    dom = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", package.html.resolve().as_uri()],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    hs = headings(dom)
    for h in ART15:
        assert any(x.startswith(h) for x in hs), h


# ---------------------------------------------------------------- the command line

def test_cli_find_prints_ids_not_values(shop):
    r = CliRunner().invoke(app, ["subject", "find", "--db", str(shop["db"]), "--email", shop["email"]])
    assert r.exit_code == 0, r.output
    assert shop["rich"] in r.output and "O-GUEST-1" in r.output
    assert shop["email"] not in r.output
    r = CliRunner().invoke(app, ["subject", "find", "--db", str(shop["db"]), "--phone", "12"])
    assert r.exit_code == 2 and "--phone" in r.output


def test_cli_access_warns_and_writes(shop):
    out = shop["root"] / "cli-package"
    r = CliRunner().invoke(app, ["subject", "access", "--db", str(shop["db"]), "--customer-id",
                                 shop["rich"], "--out", str(out), "--lang", "en", "--as-of", AS_OF])
    assert r.exit_code == 0, r.output
    assert "UNMASKED" in r.output and (out / "index.html").is_file()


# ---------------------------------------------------------------- open access requests

def test_open_access_requests_with_deadlines_and_packages(shop):
    reqs = subject.open_requests(shop["db"], AS_OF)
    dsr = read_export(shop["exports"], "dsr_requests")
    open_ = dsr[(dsr["type"] == "access") & dsr["answered_at"].isna()]
    assert set(reqs["dsr_id"]) == set(open_["dsr_id"]) and len(reqs) >= 2
    # the deadline is DSR-001's: the overdue ones carry the due date of its findings
    run = toolkit.audit(shop["db"], AS_OF, rules="DSR-001", store=False)
    due = {f["subject_id"]: f["due_date"] for f in run.findings}
    late = reqs[reqs["days_left"] < 0]
    assert len(late) >= 1
    assert all(due[r.dsr_id] == r.due for r in late.itertuples())
    assert set(reqs[reqs["days_left"] >= 0]["dsr_id"]).isdisjoint(due)
    assert (reqs["package"] == "yes").all()
    # a package made for a request shows up against it
    first = reqs.iloc[0]
    pkg = subject.access(shop["db"], shop["root"] / "package-dsr", customer_id=first["customer_id"],
                         dsr_id=first["dsr_id"], as_of=AS_OF)
    again = subject.open_requests(shop["db"], AS_OF)
    assert pkg.package_id in again.set_index("dsr_id").loc[first["dsr_id"], "package_made"]


def test_front_page_lists_open_access_requests(shop):
    from toolkit import analysis, frontpage
    run = analysis.open_run(shop["db"], AS_OF)
    rows = frontpage.open_access(run)
    assert {r["dsr_id"] for r in rows} == set(subject.open_requests(shop["db"], AS_OF)["dsr_id"])
    part = frontpage.environment().get_template("report_requests.html.j2")
    html = part.render(requests=rows, as_of_date=AS_OF)
    assert "<h2>Open access requests</h2>" in html
    assert all(f"<td>{r['dsr_id']}</td>" in html for r in rows)
    assert "No access request is open" in part.render(requests=[], as_of_date=AS_OF)
    assert '{% include "report_requests.html.j2" %}' in (
        frontpage.TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
