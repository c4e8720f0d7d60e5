"""Tests of the synthetic export generator (toolkit.generate).

Besides determinism, coverage and readability, an independent self-check re-derives all 25
rules of contract section 5 with small DuckDB queries (and a few lines of Python for the text
detectors) straight over the generated files, and compares them with ``_truth/findings.csv``:
this catches background rows that accidentally violate a rule, and truth rows that were
recorded but not planted. The queries are deliberately written from the contract, not from
the generator's code.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest

from toolkit import schema
from toolkit.generate import RULES, STATEMENT_RULES, generate
from toolkit.generate.writers import columns, export_columns, file_name

AS_OF = date(2026, 10, 31)


# --------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    summary = generate(out, customers=500, seed=0, as_of=AS_OF)
    return out, summary, AS_OF


@pytest.fixture(scope="module")
def clean_shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    summary = generate(out, customers=300, seed=11, as_of=AS_OF, violation_rate=0)
    return out, summary, AS_OF


@pytest.fixture(scope="module")
def other_shop(tmp_path_factory):
    """Another seed and an as_of at a month end in February (leap-year clamping around it)."""
    as_of = date(2028, 2, 29)
    out = tmp_path_factory.mktemp("other")
    summary = generate(out, customers=700, seed=7, as_of=as_of, violation_rate=0.05)
    return out, summary, as_of


def folder_hash(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_truth(folder: Path) -> set[tuple[str, str]]:
    with open(folder / "_truth" / "findings.csv", newline="", encoding="utf-8") as f:
        return {(r["rule_id"], r["subject_id"]) for r in csv.DictReader(f)}


def read_near(folder: Path) -> list[dict]:
    with open(folder / "_truth" / "near_misses.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------- determinism, truth

def test_same_seed_is_byte_identical(shop, tmp_path):
    out, _, as_of = shop
    again = tmp_path / "again"
    generate(again, customers=500, seed=0, as_of=as_of)
    assert folder_hash(out) == folder_hash(again)


def test_different_seed_differs(shop, tmp_path):
    out, _, as_of = shop
    other = tmp_path / "other"
    generate(other, customers=500, seed=1, as_of=as_of)
    a, b = folder_hash(out), folder_hash(other)
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k] != b[k]]
    assert "customers.csv" in differing and len(differing) >= 10


def test_every_rule_has_three_plants_and_three_near_misses(shop):
    out, summary, _ = shop
    truth = read_truth(out)
    flagged = Counter(r for r, _ in truth)
    near = Counter(r["rule_id"] for r in read_near(out))
    for rule in RULES:
        if rule == "TRN-003":       # subjects: the statement's processings, none can be planted
            assert flagged[rule] >= 1 and near[rule] >= 3, rule
            continue
        assert summary["planted"][rule] >= 3, rule
        assert flagged[rule] >= 3, rule
        assert near[rule] >= 3, rule
    assert set(flagged) <= set(RULES)


def test_truth_files_are_sorted_and_readme_lists_every_rule(shop):
    out, _, _ = shop
    rows = list(csv.reader(open(out / "_truth" / "findings.csv", encoding="utf-8")))
    assert rows[0] == ["rule_id", "subject_id"]
    assert rows[1:] == sorted(rows[1:])
    readme = (out / "_truth" / "README").read_text(encoding="utf-8")
    for rule in RULES:
        assert rule in readme
    # a near-miss is never a finding of its own rule
    truth = read_truth(out)
    for r in read_near(out):
        assert (r["rule_id"], r["subject_id"]) not in truth, r


def test_clean_shop_has_empty_truth(clean_shop):
    out, summary, _ = clean_shop
    # nothing planted; the shipped statement still does not disclose the shop's e-mail services,
    # payment provider and US host, predates its recipients, describes social login, and does not
    # name the call transcripts
    assert {s for r, s in read_truth(out) if r == "TRN-001"} == {"calls.transcript"}
    assert {r for r, _ in read_truth(out)} == set(STATEMENT_RULES)
    assert read_near(out) == []
    assert summary["rows"]["customers"] == 300
    assert sum(summary["planted"].values()) == 0


def test_violation_rate_scales_the_plants():
    from toolkit.generate import repetitions
    assert repetitions(500, 0) == 0
    assert repetitions(500, 0.05) == 1
    assert repetitions(1_000_000, 0.05) == 200
    assert repetitions(100_000, 0.10) > repetitions(100_000, 0.05)


def test_too_few_customers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="too few"):
        generate(tmp_path / "tiny", customers=50)


# ------------------------------------------------------------------------------ readability

def _read_sql(folder: Path, table: str) -> str:
    p = (folder / file_name(table)).as_posix()
    if p.endswith(".parquet"):
        return f"read_parquet('{p}')"
    if p.endswith(".json") or p.endswith(".jsonl"):
        return f"read_json('{p}')"
    delim = {"customers": ";", "order_items": "\\t"}.get(table, ",")
    return f"read_csv('{p}', delim='{delim}', header=true, all_varchar=true, quote='\"', escape='\"')"


def test_every_core_table_is_readable_with_its_columns(shop):
    out, summary, _ = shop
    con = duckdb.connect()
    for t in schema.TABLES:
        if not t.core:
            continue
        cur = con.execute(f"SELECT * FROM {_read_sql(out, t.name)}")
        assert [d[0] for d in cur.description] == export_columns(t.name, extras=True), t.name
        assert export_columns(t.name, extras=True)[:len(columns(t.name))] == columns(t.name)
        assert len(cur.fetchall()) == summary["rows"][t.name], t.name
    assert (out / "customers.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert con.execute(f"SELECT count(*) FROM {_read_sql(out, 'chat_messages')} "
                       "WHERE contains(body, chr(10))").fetchone()[0] > 0
    assert con.execute(f"SELECT count(*) FROM {_read_sql(out, 'calls')} "
                       "WHERE contains(transcript, chr(10))").fetchone()[0] > 0
    types = {r[0]: r[1] for r in con.execute(
        f"DESCRIBE SELECT * FROM {_read_sql(out, 'cookie_observations')}").fetchall()}
    assert types["scanned_at"] == "TIMESTAMP WITH TIME ZONE" and types["is_session"] == "BOOLEAN"
    types = {r[0]: r[1] for r in con.execute(
        f"DESCRIBE SELECT * FROM {_read_sql(out, 'transfers')}").fetchall()}
    assert types["fields"] == "VARCHAR[]"


def test_loader_rejects_nothing(shop, tmp_path):
    ingest = pytest.importorskip("toolkit.ingest")
    if not hasattr(ingest, "load"):
        pytest.skip("toolkit.ingest.load not available")
    out, summary, _ = shop
    result = ingest.load(out, db=tmp_path / "audit.duckdb")
    by_table = {f.table: f for f in result.files}
    for t, n in summary["rows"].items():
        assert by_table[t].rows_rejected == 0, (t, by_table[t])
        assert by_table[t].rows_loaded == n, t


# ----------------------------------------------------------------------- independent checks

EASTER = {2017: "04-16", 2018: "04-01", 2019: "04-21", 2020: "04-12", 2021: "04-04",
          2022: "04-17", 2023: "04-09", 2024: "03-31", 2025: "04-20", 2026: "04-05",
          2027: "03-28", 2028: "04-16", 2029: "04-01", 2030: "04-21"}


def _holidays() -> list[str]:
    from datetime import timedelta
    days = []
    for y, md in EASTER.items():
        e = date.fromisoformat(f"{y}-{md}")
        king = date(y, 4, 26) if date(y, 4, 27).isoweekday() == 7 else date(y, 4, 27)
        days += [date(y, 1, 1), e + timedelta(days=1), king, date(y, 5, 5),
                 e + timedelta(days=39), e + timedelta(days=50), date(y, 12, 25), date(y, 12, 26)]
    return [d.isoformat() for d in days]


def connect(folder: Path, as_of: date) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    r = lambda t: _read_sql(folder, t)  # noqa: E731
    ts = "CAST({0} AS TIMESTAMPTZ) AS {0}"
    con.execute(f"""CREATE VIEW customers AS SELECT customer_id,
        coalesce(nullif(person_key, ''), customer_id) AS pk, {ts.format('created_at')}, status,
        {ts.format('deauthorised_at')}, {ts.format('erased_at')}, first_name, last_name, email,
        phone, street, house_number, postcode, city, {ts.format('last_login_at')}
        FROM {r('customers')}""")
    con.execute(f"""CREATE VIEW visits AS SELECT visit_id, customer_id, {ts.format('started_at')},
        origin, is_bot = 'true' AS is_bot FROM {r('visits')}""")
    con.execute(f"""CREATE VIEW orders AS SELECT order_id, customer_id, {ts.format('placed_at')},
        billing_name, delivery_name, email_at_order, phone_at_order, ip_address,
        {ts.format('anonymised_at')} FROM {r('orders')}""")
    con.execute(f"CREATE VIEW order_items AS SELECT order_id, seller_id FROM {r('order_items')}")
    con.execute(f"CREATE VIEW payments AS SELECT payment_id, card_pan, card_cvv FROM {r('payments')}")
    con.execute(f"CREATE VIEW chats AS SELECT * FROM {r('chats')}")
    con.execute(f"CREATE VIEW chat_messages AS SELECT * FROM {r('chat_messages')}")
    con.execute(f"CREATE VIEW calls AS SELECT call_id, customer_id, transcript FROM {r('calls')}")
    con.execute(f"""CREATE VIEW events AS SELECT event_id, customer_id, newsletter_type, action,
        {ts.format('occurred_at')}, method FROM {r('newsletter_consent_events')}""")
    con.execute(f"""CREATE VIEW sends AS SELECT send_id, customer_id, newsletter_type,
        {ts.format('sent_at')}, personalised = 'true' AS personalised
        FROM {r('newsletter_sends')}""")
    con.execute(f"CREATE VIEW cookies AS SELECT * FROM {r('cookie_observations')}")
    for t in schema.TABLES:
        if t.core:
            con.execute(f'CREATE VIEW "raw_{t.name}" AS SELECT * FROM {r(t.name)}')
    con.execute(f"CREATE VIEW recipients AS SELECT * FROM {r('recipients')}")
    con.execute(f"""CREATE VIEW agreements AS SELECT agreement_id, recipient_id, agreement_type,
        CAST(signed_on AS DATE) signed_on, CAST(valid_from AS DATE) valid_from,
        CAST(valid_to AS DATE) valid_to, CAST(terminated_on AS DATE) terminated_on,
        from_json(allowed_fields, '["VARCHAR"]') AS allowed_fields, transfer_mechanism
        FROM {r('recipient_agreements')}""")
    con.execute(f"CREATE VIEW transfers AS SELECT * REPLACE ({ts.format('transferred_at')}) "
                f"FROM {r('transfers')}")
    con.execute(f"""CREATE VIEW dsr AS SELECT dsr_id, customer_id, type, {ts.format('received_at')},
        {ts.format('extension_notified_at')}, extension_reason, {ts.format('answered_at')},
        {ts.format('completed_at')} FROM {r('dsr_requests')}""")
    con.execute(f"""CREATE VIEW holds AS SELECT customer_id AS hold_customer, string_split(scope_tables, '|') AS scope,
        {ts.format('opened_at')}, {ts.format('closed_at')} FROM {r('legal_holds')}""")
    con.execute(f"CREATE TABLE p AS SELECT DATE '{as_of}' AS as_of, "
                f"CAST('{as_of} 00:00:00 Europe/Amsterdam' AS TIMESTAMPTZ) AS as_of_ts")
    con.execute("CREATE MACRO nl(t) AS CAST(timezone('Europe/Amsterdam', t) AS DATE)")
    con.execute("CREATE TABLE hol AS SELECT CAST(unnest(?) AS DATE) AS day", [_holidays()])
    con.execute("""CREATE MACRO nwd(d) AS (SELECT min(x) FROM (SELECT CAST(d + CAST(i AS INTEGER) AS DATE) x
        FROM range(0, 12) t(i)) w WHERE isodow(x) < 6 AND x NOT IN (SELECT day FROM hol))""")
    con.execute("""CREATE MACRO held(cid, tbl) AS EXISTS (SELECT 1 FROM holds h, p
        WHERE h.hold_customer = cid AND list_contains(h.scope, tbl) AND h.opened_at <= p.as_of_ts
          AND (h.closed_at IS NULL OR h.closed_at > p.as_of_ts))""")
    # retention anchor per person (RET-001 / RET-006 / NWS-006)
    con.execute("""CREATE TABLE anchor AS
        WITH hv AS (SELECT c.pk, max(v.started_at) AS lv FROM visits v JOIN customers c USING (customer_id)
                    WHERE v.origin IN ('web', 'app') AND NOT v.is_bot GROUP BY c.pk),
        fb AS (SELECT c.customer_id, greatest(c.created_at, max(o.placed_at), c.last_login_at) AS f
               FROM customers c LEFT JOIN orders o USING (customer_id)
               GROUP BY c.customer_id, c.created_at, c.last_login_at),
        ch AS (SELECT hold_customer AS customer_id, max(nl(closed_at)) AS closed FROM holds, p
               WHERE closed_at IS NOT NULL AND closed_at <= p.as_of_ts GROUP BY hold_customer)
        SELECT c.customer_id, CAST(nl(coalesce(hv.lv, fb.f)) + INTERVAL 12 MONTH AS DATE) AS due,
               greatest(CAST(nl(coalesce(hv.lv, fb.f)) + INTERVAL 12 MONTH AS DATE), ch.closed) AS due_eff
        FROM customers c LEFT JOIN hv USING (pk) JOIN fb USING (customer_id) LEFT JOIN ch USING (customer_id)""")
    con.execute("CREATE TABLE expired AS SELECT a.* FROM anchor a, p WHERE p.as_of > a.due_eff")
    return con


def ids(con, sql: str) -> set[str]:
    return {r[0] for r in con.execute(sql).fetchall()}


PII = "coalesce(first_name, last_name, email, phone, street, house_number, postcode, city)"
INVALID = "('implied_by_visit', 'continued_use', 'pre_ticked', 'bundled_terms', 'unknown')"


def check_ret001(con):
    return ids(con, f"""
        SELECT customer_id FROM expired JOIN customers USING (customer_id)
          WHERE {PII} IS NOT NULL AND NOT held(customer_id, 'customers')
        UNION SELECT customer_id FROM expired JOIN visits USING (customer_id) WHERE NOT held(customer_id, 'visits')
        UNION SELECT customer_id FROM expired JOIN chats USING (customer_id) WHERE NOT held(customer_id, 'chats')
        UNION SELECT customer_id FROM expired JOIN calls USING (customer_id) WHERE NOT held(customer_id, 'calls')
        UNION SELECT customer_id FROM expired JOIN events USING (customer_id)
          WHERE NOT held(customer_id, 'newsletter_consent_events')
        UNION SELECT customer_id FROM expired JOIN sends USING (customer_id)
          WHERE NOT held(customer_id, 'newsletter_sends')""")


def check_ret005(con):
    return ids(con, """SELECT order_id FROM orders, p WHERE anonymised_at IS NULL
        AND p.as_of > make_date(year(nl(placed_at)) + 7, 12, 31) AND NOT held(customer_id, 'orders')""")


def check_ret006(con):
    return ids(con, """SELECT o.order_id FROM orders o JOIN expired e USING (customer_id), p
        WHERE p.as_of <= make_date(year(nl(o.placed_at)) + 7, 12, 31)
          AND coalesce(o.email_at_order, o.phone_at_order, o.ip_address) IS NOT NULL
          AND NOT held(o.customer_id, 'orders')""")


def check_ret014(con):
    return ids(con, f"""SELECT customer_id FROM customers
        WHERE (status IN ('erased', 'deleted') OR erased_at IS NOT NULL) AND {PII} IS NOT NULL""")


def check_shr001(con):
    return ids(con, "SELECT transfer_id FROM transfers t ANTI JOIN recipients r USING (recipient_id)")


VALID_AG = """a.recipient_id = t.recipient_id AND a.signed_on <= nl(t.transferred_at)
    AND a.valid_from <= nl(t.transferred_at) AND (a.valid_to IS NULL OR nl(t.transferred_at) <= a.valid_to)
    AND (a.terminated_on IS NULL OR nl(t.transferred_at) < a.terminated_on)
    AND (r.role NOT IN ('processor', 'sub_processor') OR a.agreement_type = 'dpa_art28')"""


def check_shr002(con):
    return ids(con, f"""SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE r.role <> 'authority' AND NOT EXISTS (SELECT 1 FROM agreements a WHERE {VALID_AG})""")


def check_shr003(con):
    deny = "['card_pan', 'card_cvv', 'bsn', 'password_hash', 'id_document', 'birth_date']"
    return ids(con, f"""
        SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
          WHERE len(list_intersect(t.fields, {deny})) > 0
        UNION
        SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
          JOIN agreements a ON {VALID_AG}
          WHERE r.role <> 'authority'
            AND len(list_filter(t.fields, lambda f: NOT list_contains(a.allowed_fields, f))) > 0""")


def check_shr004(con):
    return ids(con, """SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE r.category = 'external_seller' AND (t.order_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM orders o JOIN order_items i USING (order_id)
          WHERE o.order_id = t.order_id AND i.seller_id = r.seller_id AND o.customer_id = t.customer_id
            AND t.transferred_at >= o.placed_at AND t.transferred_at <= o.placed_at + INTERVAL 90 DAY))""")


def check_shr005(con):
    return ids(con, """SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE r.category = 'research_agency'
          AND len(list_filter(t.fields, lambda f: f NOT IN ('email', 'invite_token'))) > 0""")


def check_shr008(con):
    eea = ("'AT','BE','BG','HR','CY','CZ','DK','EE','FI','FR','DE','GR','HU','IE','IT','LV','LT',"
           "'LU','MT','NL','PL','PT','RO','SK','SI','ES','SE','IS','LI','NO'")
    return ids(con, f"""SELECT t.transfer_id FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE coalesce(t.destination_country, r.country_code) NOT IN ({eea}) AND NOT EXISTS (
          SELECT 1 FROM agreements a WHERE {VALID_AG} AND (
            (a.transfer_mechanism = 'scc_2021' AND a.signed_on >= DATE '2021-06-27')
            OR (a.transfer_mechanism = 'scc_2010' AND a.signed_on < DATE '2021-09-27'
                AND nl(t.transferred_at) < DATE '2022-12-27')
            OR (a.transfer_mechanism = 'privacy_shield' AND nl(t.transferred_at) < DATE '2020-07-16')))""")


def check_con001(con):
    return ids(con, "SELECT event_id FROM events WHERE method IN "
                    "('implied_by_visit', 'continued_use', 'pre_ticked', 'bundled_terms')")


def check_nws001(con):
    return ids(con, f"""SELECT s.send_id FROM sends s ASOF LEFT JOIN events e
        ON s.customer_id = e.customer_id AND s.newsletter_type = e.newsletter_type AND s.sent_at >= e.occurred_at
        WHERE e.action IS NULL OR e.action NOT IN ('subscribe', 'confirm', 'resubscribe')
           OR e.method IN {INVALID}""")


def check_nws002(con):
    return ids(con, f"""WITH ps AS (SELECT * FROM sends WHERE personalised),
        pe AS (SELECT * FROM events WHERE newsletter_type = 'personalised')
        SELECT s.send_id FROM ps s ASOF LEFT JOIN pe e
          ON s.customer_id = e.customer_id AND s.sent_at >= e.occurred_at
        WHERE e.action IS NULL OR e.action NOT IN ('subscribe', 'confirm', 'resubscribe')
           OR e.method IN {INVALID}""")


def check_nws003(con):
    return ids(con, """WITH u AS (
          SELECT customer_id, newsletter_type, occurred_at AS at FROM events WHERE action = 'unsubscribe'
          UNION ALL SELECT customer_id, NULL, received_at FROM dsr
          WHERE type IN ('withdraw_consent', 'objection_marketing', 'erasure', 'deauthorisation'))
        SELECT DISTINCT s.send_id FROM sends s JOIN u ON s.customer_id = u.customer_id
          AND (u.newsletter_type IS NULL OR u.newsletter_type = s.newsletter_type)
        WHERE s.sent_at > u.at + INTERVAL 2 DAY AND NOT EXISTS (SELECT 1 FROM events r
          WHERE r.customer_id = s.customer_id AND r.newsletter_type = s.newsletter_type
            AND r.action IN ('subscribe', 'resubscribe', 'confirm') AND r.occurred_at > u.at
            AND r.occurred_at < s.sent_at)""")


def check_nws006(con):
    return ids(con, """SELECT s.send_id FROM sends s JOIN customers c USING (customer_id)
        LEFT JOIN expired e USING (customer_id)
        WHERE s.sent_at > c.erased_at OR s.sent_at > c.deauthorised_at OR nl(s.sent_at) > e.due_eff""")


def check_cke(con, rule: str):
    fp = ("(ltrim(lower(domain), '.') IN ('contractstatus.nl', 'smootdiensten.nl') OR "
          "ends_with(ltrim(lower(domain), '.'), '.contractstatus.nl') OR "
          "ends_with(ltrim(lower(domain), '.'), '.smootdiensten.nl'))")
    nonf = ("(coalesce(declared_category, 'unknown') <> 'functional' OR regexp_matches(name, "
            "'^(_ga|_gid|_gat|_gcl_|_fbp|fr$|_hj|_uet|_clck|_clsk|IDE$|test_cookie$)'))")
    cond = {"CKE-001": f"NOT {fp}",
            "CKE-002": "storage_kind IN ('local_storage', 'indexeddb') OR NOT coalesce(is_session, expires_at IS NULL)",
            "CKE-003": nonf,
            "CKE-004": f"consent_state IN ('none', 'rejected') AND ({nonf} OR NOT {fp})"}[rule]
    return ids(con, f"SELECT observation_id FROM cookies WHERE {cond}")


def check_dsr001(con):
    return ids(con, """WITH d AS (SELECT *, nwd(CAST(nl(received_at) + INTERVAL 1 MONTH AS DATE)) AS due1,
                              nwd(CAST(nl(received_at) + INTERVAL 3 MONTH AS DATE)) AS due3 FROM dsr),
        e AS (SELECT *, CASE WHEN extension_notified_at IS NOT NULL AND extension_reason IS NOT NULL
                             AND nl(extension_notified_at) <= due1 THEN due3 ELSE due1 END AS due FROM d)
        SELECT dsr_id FROM e, p WHERE (answered_at IS NULL AND p.as_of > due) OR nl(answered_at) > due""")


def check_dsr004(con):
    return ids(con, f"""WITH er AS (SELECT dsr_id, customer_id FROM dsr
            WHERE type IN ('erasure', 'deauthorisation') AND completed_at IS NOT NULL)
        SELECT dsr_id FROM er JOIN customers USING (customer_id)
          WHERE {PII} IS NOT NULL AND NOT held(customer_id, 'customers')
        UNION SELECT dsr_id FROM er JOIN visits USING (customer_id) WHERE NOT held(customer_id, 'visits')
        UNION SELECT dsr_id FROM er JOIN chats USING (customer_id) WHERE NOT held(customer_id, 'chats')
        UNION SELECT dsr_id FROM er JOIN calls USING (customer_id) WHERE NOT held(customer_id, 'calls')
        UNION SELECT dsr_id FROM er JOIN events USING (customer_id)
          WHERE NOT held(customer_id, 'newsletter_consent_events')
        UNION SELECT dsr_id FROM er JOIN sends USING (customer_id) WHERE NOT held(customer_id, 'newsletter_sends')
        UNION SELECT dsr_id FROM er JOIN orders USING (customer_id)
          WHERE coalesce(email_at_order, phone_at_order, ip_address) IS NOT NULL
            AND NOT held(customer_id, 'orders')""")


def _luhn(s: str) -> bool:
    digits = [int(c) for c in s][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
               for i, d in enumerate(digits)) % 10 == 0


def _bsn(s: str) -> bool:
    return s != "000000000" and (sum(int(s[i]) * (9 - i) for i in range(8)) - int(s[8])) % 11 == 0


def _iban(s: str) -> bool:
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97 == 1


def _texts(con):
    return (con.execute("SELECT message_id, body FROM chat_messages").fetchall()
            + con.execute("SELECT call_id, transcript FROM calls").fetchall())


def check_sec(con, rule: str):
    hits = set()
    for sid, text in _texts(con):
        text = text or ""
        if rule == "SEC-002":
            for m in re.findall(r"(?:\d[ -]?){12,18}\d", text):
                d = re.sub(r"[ -]", "", m)
                if _luhn(d) and re.match(r"^(4|5[0-5]|2[2-7]|3[0-9]|6)", d):
                    hits.add(sid)
        elif rule == "SEC-004":
            for m in re.findall(r"\b(\d{9}|\d{4}[. ]\d{2}[. ]\d{3})\b", text):
                if _bsn(re.sub(r"[. ]", "", m)):
                    hits.add(sid)
        else:
            for m in re.findall(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b", text):
                if _iban(m):
                    hits.add(sid)
    return hits


def check_trn001(con):
    """Columns the schema does not know whose filled values are mostly (60 %) e-mail addresses,
    phone numbers or IP addresses (the kinds an export's extra columns hold here)."""
    kinds = (r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", r"(?=(?:\D*\d){9,12}\D*$)[+(]?[0-9][0-9 ()\-]+",
             r"([0-9]{1,3}\.){3}[0-9]{1,3}")
    found = set()
    for t in schema.TABLES:
        if not t.core:
            continue
        names = [r[0] for r in con.execute(f'DESCRIBE SELECT * FROM "raw_{t.name}"').fetchall()]
        for col in names:
            if t.has(col.lower()):
                continue
            values = [str(v).strip() for (v,) in con.execute(
                f'SELECT "{col}" FROM "raw_{t.name}"').fetchall() if v is not None and str(v).strip()]
            best = max((sum(1 for v in values if re.fullmatch(k, v)) for k in kinds), default=0)
            if values and best >= 3 and best / len(values) >= 0.6:
                found.add(f"{t.name}." + re.sub(r"[^a-z0-9_]+", "_", col.lower()).strip("_"))
    # the data model's personal columns of a kind the shipped statement does not name (birth date,
    # gender, browser or device data, call recordings and transcripts) that hold a value
    for t, col in (("customers", "birth_date"), ("customers", "gender"), ("visits", "user_agent"),
                   ("orders", "user_agent"), ("newsletter_consent_events", "declared_birth_date"),
                   ("calls", "transcript")):
        names = [r[0] for r in con.execute(f'DESCRIBE SELECT * FROM "raw_{t}"').fetchall()]
        if col in names and con.execute(f'SELECT count(*) FROM "raw_{t}" WHERE '
                                        f'trim(CAST("{col}" AS VARCHAR)) <> \'\'').fetchone()[0]:
            found.add(f"{t}.{col}")
    return found


def check_sec001(con):
    out = set()
    for pid, pan, cvv in con.execute("SELECT payment_id, card_pan, card_cvv FROM payments").fetchall():
        d = re.sub(r"[ -]", "", pan or "")
        if cvv or (d.isdigit() and 13 <= len(d) <= 19 and _luhn(d)):
            out.add(pid)
    return out


def check_nws001_person(con):
    """NWS-001 matched per person (person_key) instead of per account: must agree."""
    return ids(con, f"""WITH s AS (SELECT s.*, c.pk FROM sends s JOIN customers c USING (customer_id)),
        e AS (SELECT e.*, c.pk FROM events e JOIN customers c USING (customer_id))
        SELECT s.send_id FROM s ASOF LEFT JOIN e
        ON s.pk = e.pk AND s.newsletter_type = e.newsletter_type AND s.sent_at >= e.occurred_at
        WHERE e.action IS NULL OR e.action NOT IN ('subscribe', 'confirm', 'resubscribe')
           OR e.method IN {INVALID}""")


def check_nws003_person(con):
    """NWS-003 with withdrawals of any account of the same person: must agree."""
    return ids(con, """WITH c AS (SELECT customer_id, pk FROM customers),
        u AS (SELECT c.pk, newsletter_type, occurred_at AS at FROM events JOIN c USING (customer_id)
              WHERE action = 'unsubscribe'
              UNION ALL SELECT c.pk, NULL, received_at FROM dsr JOIN c USING (customer_id)
              WHERE type IN ('withdraw_consent', 'objection_marketing', 'erasure', 'deauthorisation')),
        s AS (SELECT s.*, c.pk FROM sends s JOIN c USING (customer_id)),
        e AS (SELECT e.*, c.pk FROM events e JOIN c USING (customer_id))
        SELECT DISTINCT s.send_id FROM s JOIN u ON s.pk = u.pk
          AND (u.newsletter_type IS NULL OR u.newsletter_type = s.newsletter_type)
        WHERE s.sent_at > u.at + INTERVAL 2 DAY AND NOT EXISTS (SELECT 1 FROM e r
          WHERE r.pk = s.pk AND r.newsletter_type = s.newsletter_type
            AND r.action IN ('subscribe', 'resubscribe', 'confirm') AND r.occurred_at > u.at
            AND r.occurred_at < s.sent_at)""")


# the seed statement as the shipped policy codifies it (transparency section, statement date)
DISCLOSED = "('delivery', 'distribution_centre', 'external_seller', 'cs_outsourcer', 'research_agency', 'authority')"
EEA_SQL = ("('AT','BE','BG','HR','CY','CZ','DK','EE','FI','FR','DE','GR','HU','IE','IT','LV','LT',"
           "'LU','MT','NL','PL','PT','RO','SK','SI','ES','SE','IS','LI','NO')")


def check_trn002(con):
    return ids(con, f"""SELECT DISTINCT r.recipient_id FROM transfers t JOIN recipients r USING (recipient_id)
        WHERE r.category NOT IN {DISCLOSED}
           OR coalesce(nullif(t.destination_country, ''), r.country_code) NOT IN {EEA_SQL}""")


def check_trn003(con):
    described = {
        "delivery": "SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'delivery'",
        "distribution_centre": "SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'distribution_centre'",
        "external_sellers": "SELECT (SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'external_seller') + (SELECT count(*) FROM order_items WHERE seller_id <> '')",
        "cs_outsourcer": "SELECT (SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'cs_outsourcer') + (SELECT count(*) FROM chats WHERE handled_by_recipient_id <> '')",
        "research_invitations": "SELECT (SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'research_agency') + (SELECT count(*) FROM sends WHERE newsletter_type = 'research')",
        "general_newsletters": "SELECT count(*) FROM sends WHERE newsletter_type = 'general'",
        "personalised_newsletters": "SELECT count(*) FROM sends WHERE personalised OR newsletter_type = 'personalised'",
        "customer_service_chats": "SELECT count(*) FROM chats",
        "call_records": "SELECT count(*) FROM calls",
        "site_personalisation": "SELECT count(*) FROM cookies WHERE declared_category = 'personalisation'",
        "social_login": "SELECT (SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'social_network') + (SELECT count(*) FROM cookies WHERE declared_category = 'social')",
        "social_sharing": "SELECT count(*) FROM transfers JOIN recipients USING (recipient_id) WHERE category = 'social_network'",
    }
    return {p for p, sql in described.items() if con.execute(sql).fetchone()[0] == 0}


def check_trn005(con):
    return ids(con, """WITH f AS (SELECT recipient_id, min(nl(transferred_at)) AS first FROM transfers GROUP BY 1),
        a AS (SELECT recipient_id, min(least(signed_on, valid_from)) AS first FROM agreements GROUP BY 1)
        SELECT f.recipient_id FROM f LEFT JOIN a USING (recipient_id) LEFT JOIN recipients r USING (recipient_id)
        WHERE least(f.first, coalesce(a.first, f.first)) > DATE '2018-05-13'
          AND coalesce(r.role, '') <> 'authority' AND coalesce(r.category, '') <> 'authority'""")


CHECKS = {
    "RET-001": check_ret001, "RET-005": check_ret005, "RET-006": check_ret006,
    "RET-014": check_ret014, "SHR-001": check_shr001, "SHR-002": check_shr002,
    "SHR-003": check_shr003, "SHR-004": check_shr004, "SHR-005": check_shr005,
    "SHR-008": check_shr008, "CON-001": check_con001, "NWS-001": check_nws001,
    "NWS-002": check_nws002, "NWS-003": check_nws003, "NWS-006": check_nws006,
    "CKE-001": lambda c: check_cke(c, "CKE-001"), "CKE-002": lambda c: check_cke(c, "CKE-002"),
    "CKE-003": lambda c: check_cke(c, "CKE-003"), "CKE-004": lambda c: check_cke(c, "CKE-004"),
    "DSR-001": check_dsr001, "DSR-004": check_dsr004, "SEC-001": check_sec001,
    "SEC-002": lambda c: check_sec(c, "SEC-002"), "SEC-004": lambda c: check_sec(c, "SEC-004"),
    "SEC-006": lambda c: check_sec(c, "SEC-006"), "TRN-001": check_trn001,
    "TRN-002": check_trn002, "TRN-003": check_trn003, "TRN-005": check_trn005,
}


def test_transparency_truth_uses_the_shipped_policy():
    from toolkit.generate import plant_transparency as pt
    from toolkit.policy import load_policy
    pol = load_policy()
    assert pol.statement.date == pt.STATEMENT_DATE
    assert set(pol.transparency.disclosed_recipient_categories) == pt.DISCLOSED_CATEGORIES
    assert set(pol.transparency.disclosed_countries) == pt.DISCLOSED_COUNTRIES
    assert tuple(pol.transparency.described_processing) == pt.DESCRIBED
    assert set(pol.transparency.disclosed_data_categories) == pt.DISCLOSED_DATA


@pytest.mark.parametrize("dataset", ["shop", "clean_shop", "other_shop"])
def test_self_check_rederives_the_truth(dataset, request):
    """Every rule re-derived from the files equals _truth exactly (no stray background hits,
    no truth rows that the data do not show), on the default, a clean and another shop."""
    folder, _, as_of = request.getfixturevalue(dataset)
    truth = read_truth(folder)
    near = read_near(folder)
    con = connect(folder, as_of)
    problems = []
    for rule in RULES:
        found = CHECKS[rule](con)
        expected = {s for r, s in truth if r == rule}
        if found != expected:
            problems.append(f"{rule}: missing {sorted(expected - found)[:5]}, "
                            f"extra {sorted(found - expected)[:5]}")
        wrongly = [n["subject_id"] for n in near if n["rule_id"] == rule and n["subject_id"] in found]
        if wrongly:
            problems.append(f"{rule}: near-misses flagged {wrongly[:5]}")
    for rule, variant in (("NWS-001", check_nws001_person), ("NWS-003", check_nws003_person)):
        if variant(con) != {s for r, s in truth if r == rule}:
            problems.append(f"{rule}: person-level matching disagrees with the truth")
    assert not problems, "\n".join(problems)
