"""One data subject across every table: finding a person and the Art. 15 access package.

``find(db, email=..., customer_id=... or phone=...)`` resolves one natural person:

1. the *accounts*: customer rows whose ``customer_id``, e-mail or phone matches, widened to
   every account with the same ``person_key``; an identifier that matches accounts of more than
   one person is refused (a package must never hold another person's data);
2. the person's identifiers: the given one plus the e-mail addresses and phone numbers of the
   accounts, and the visitor ids of their visits;
3. every record: rows of the accounts (``customer_id``) in every table; order lines, payments,
   invoices and transfers of their orders; messages and transfers of their chats; anonymous
   visits (no customer) with their visitor ids; cookie observations with their visitor ids (when
   the scan export has a ``visitor_id`` column); and rows that no known account owns (guest
   orders, unattributed newsletter rows, calls and requests) whose e-mail, phone or
   ``requester_email_hash`` is the person's. Rows of *another* known account are never matched
   by an identifier.

E-mail addresses match after trimming, lower-casing and dropping spaces; Dutch phone numbers
after normalising ``+31``, ``0031``, ``(0)``, spaces, dashes and brackets to ``0612345678``
(``norm_email`` and ``norm_phone`` are DuckDB macros: the given value and the stored values go
through the same one). Nothing else is fuzzy: ``jan.jansen1@x.nl`` never matches
``jan.jansen11@x.nl``.

``access(db, out, ...)`` writes the access package into ``out`` (mode 0700): ``data.json`` with
every record per table, unmasked (the copy of Art. 15(3)), and ``index.html``, rendered from
``toolkit/templates/access/package.html.j2`` in Dutch or English, which states per category of
data (the policy's ``processing`` section) the data, purposes and legal basis, the recipients
that actually received them (from ``transfers``), the retention period and its end date for this
person, the source, and the rights, as Art. 15(1)(a)-(h) list them. Both files are mode 0600.
The fact that a package was made (not its content) is logged in the table ``access_packages``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from . import __version__, minimise, outputs, schema
from .exceptions import PrivauditError, UnusableInputError
from .database import connect
from .masking import masker
from .policy import DataCategory, Policy, load_policy

TEMPLATES = Path(__file__).resolve().parent / "templates" / "access"
LANGS = ("nl", "en")

MACROS = [
    # e-mail: no surrounding or inner white space, lower case; NULL when empty
    r"""CREATE OR REPLACE TEMP MACRO norm_email(s) AS
        nullif(lower(regexp_replace(CAST(s AS VARCHAR), '\s', '', 'g')), '')""",
    # phone: digits and a leading plus; '(0)' after a country code dropped; 00 -> +;
    # +31 / 31 (11 digits) -> 0; valid Dutch numbers are 0 and 9 digits, others E.164
    r"""CREATE OR REPLACE TEMP MACRO _phone_chars(s) AS
        regexp_replace(replace(CAST(s AS VARCHAR), '(0)', ''), '[^0-9+]', '', 'g')""",
    r"""CREATE OR REPLACE TEMP MACRO _phone_intl(p) AS
        CASE WHEN p LIKE '00%' THEN '+' || substr(p, 3) ELSE p END""",
    r"""CREATE OR REPLACE TEMP MACRO _phone_nl(p) AS CASE
        WHEN p LIKE '+31%' THEN '0' || ltrim(substr(p, 4), '0')
        WHEN regexp_full_match(p, '31[1-9][0-9]{8}') THEN '0' || substr(p, 3)
        ELSE p END""",
    r"""CREATE OR REPLACE TEMP MACRO _phone_valid(p) AS CASE
        WHEN regexp_full_match(p, '0[1-9][0-9]{8}') OR regexp_full_match(p, '\+[1-9][0-9]{6,14}')
        THEN p END""",
    "CREATE OR REPLACE TEMP MACRO norm_phone(s) AS _phone_valid(_phone_nl(_phone_intl(_phone_chars(s))))",
]

# columns withheld from the package: handing them out would weaken the account's security
# (Art. 15(4)); the package says which were withheld
WITHHELD_KINDS = (schema.CREDENTIAL,)

# the order in which tables are resolved (a table's links may use earlier tables' keys)
ORDER = ("customers", "customer_addresses", "cs_notes", "visits", "orders", "order_items",
         "payments", "invoices", "chats", "chat_messages", "calls", "newsletter_consent_events",
         "newsletter_sends", "transfers", "dsr_requests", "legal_holds", "cookie_observations")


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``norm_email`` and ``norm_phone`` macros on this connection."""
    for sql in MACROS:
        con.execute(sql)


def normalise(con: duckdb.DuckDBPyConnection, kind: str, value: str) -> str:
    """The value as the matching compares it (the same macro as for the stored values)."""
    if kind == "customer_id":
        v = value.strip()
        if not v:
            raise PrivauditError("--customer-id: empty value")
        return v
    if kind == "email":
        v = con.execute("SELECT norm_email($1)", [value]).fetchone()[0]
        if v is None or v.count("@") != 1 or not v.split("@")[0] or "." not in v.split("@")[1]:
            raise PrivauditError(f"--email: {value!r} is not an e-mail address")
        return v
    if kind == "phone":
        v = con.execute("SELECT norm_phone($1)", [value]).fetchone()[0]
        if v is None:
            raise PrivauditError(f"--phone: {value!r} is not a phone number (Dutch, or +country code)")
        return v
    raise PrivauditError(f"unknown identifier kind {kind!r}")


# ---------------------------------------------------------------- finding a person

@dataclass
class Subject:
    """One person as found across the tables (values unmasked: handle as personal data)."""
    identified_by: str                      # email | customer_id | phone
    identifier: str                         # normalised
    persons: list[str]                      # person keys (a customer without one is its own)
    accounts: list[str]                     # customer ids
    emails: list[str]
    phones: list[str]
    visitor_ids: list[str]
    records: dict[str, list[dict]]          # table -> rows (every column, plus _matched_by)
    notes: list[str] = field(default_factory=list)
    withheld: dict[str, list[str]] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return any(self.records.values())

    def counts(self) -> dict[str, int]:
        return {t: len(rows) for t, rows in self.records.items() if rows}

    def keys(self, table: str) -> list[str]:
        pk = schema.table(table).primary_key
        return [str(r[pk]) for r in self.records.get(table, [])]

    def frame(self, table: str):
        import pandas as pd
        return pd.DataFrame(self.records.get(table, []))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _present(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, list[str]]]:
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_catalog = $1 AND table_schema = 'main' ORDER BY ordinal_position",
                       [catalog]).fetchall()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return catalog, out


def _links(table: str, cols: set[str], unattributed: str) -> list[tuple[str, str]]:
    """(matched_by, SQL condition on alias x) for ``table``, given its present columns."""
    has = cols.__contains__
    out: list[tuple[str, str]] = []
    if has("customer_id"):
        out.append(("account", "list_contains($accounts, x.customer_id)"))
    if table == "visits" and has("visitor_id"):
        out.append(("visitor_id", "x.customer_id IS NULL AND list_contains($visitors, x.visitor_id)"
                    if has("customer_id") else "list_contains($visitors, x.visitor_id)"))
    if table == "cookie_observations" and has("visitor_id"):
        out.append(("visitor_id", "list_contains($visitors, x.visitor_id)"))
    if table in ("order_items", "payments", "invoices", "transfers") and has("order_id"):
        out.append(("order", "list_contains($orders, x.order_id)"))
    if table in ("chat_messages", "transfers") and has("chat_id"):
        out.append(("chat", "list_contains($chats, x.chat_id)"))
    if table in ("newsletter_consent_events", "newsletter_sends", "dsr_requests") and has("person_key"):
        out.append(("person_key", "list_contains($persons, x.person_key)"))
    un = unattributed if has("customer_id") else "true"
    for col, kind in (("email_at_order", "email"), ("email", "email"), ("phone_at_order", "phone"),
                      ("caller_number", "phone")):
        if table == "customers" or not has(col):
            continue
        fn, lst = ("norm_email", "$emails") if kind == "email" else ("norm_phone", "$phones")
        out.append((kind, f"{un} AND list_contains({lst}, {fn}(x.{_q(col)}))"))
    if table == "dsr_requests" and has("requester_email_hash"):
        out.append(("email", f"{un} AND list_contains($email_hashes, lower(trim(x.requester_email_hash)))"))
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _resolve(con: duckdb.DuckDBPyConnection, kind: str, value: str) -> Subject:
    install(con)
    catalog, present = _present(con)
    ident = normalise(con, kind, value)

    def tbl(t: str) -> str:
        return f"{_q(catalog)}.main.{_q(t)}"

    accounts: list[str] = []
    persons: list[str] = []
    emails = [ident] if kind == "email" else []
    phones = [ident] if kind == "phone" else []
    notes: list[str] = []
    cust_cols = set(present.get("customers", []))
    if "customer_id" in cust_cols:
        person = ("coalesce(nullif(person_key, ''), customer_id)" if "person_key" in cust_cols
                  else "customer_id")
        seed_col = {"customer_id": "customer_id = $v", "email": "norm_email(email) = $v",
                    "phone": "norm_phone(phone) = $v"}[kind]
        needed = {"customer_id": "customer_id", "email": "email", "phone": "phone"}[kind]
        if needed in cust_cols:
            seeds = con.execute(f"SELECT DISTINCT {person} AS person, customer_id FROM {tbl('customers')} "
                                f"WHERE {seed_col} ORDER BY 1, 2", {"v": ident}).fetchall()
            by_person: dict[str, list[str]] = {}
            for p, c in seeds:
                by_person.setdefault(p, []).append(c)
            if len(by_person) > 1:
                which = "; ".join(f"person {p}: {', '.join(cs)}" for p, cs in by_person.items())
                raise PrivauditError(
                    f"--{kind.replace('_', '-')}: matches accounts of {len(by_person)} different "
                    f"persons ({which}); use --customer-id to choose one")
            persons = list(by_person)
            if persons:
                accounts = [r[0] for r in con.execute(
                    f"SELECT customer_id FROM {tbl('customers')} WHERE {person} = $p "
                    f"ORDER BY customer_id", {"p": persons[0]}).fetchall()]
                for col, bucket, fn in (("email", emails, "norm_email"), ("phone", phones, "norm_phone")):
                    if col in cust_cols:
                        for (v,) in con.execute(
                                f"SELECT DISTINCT {fn}({col}) FROM {tbl('customers')} "
                                f"WHERE list_contains($a, customer_id) AND {fn}({col}) IS NOT NULL "
                                f"ORDER BY 1", {"a": accounts}).fetchall():
                            if v not in bucket:
                                bucket.append(v)
    if kind == "customer_id" and not accounts:
        accounts = [ident]
        notes.append(f"customer {ident} has no row in customers; records are matched by its id")
    real_persons = [p for p in persons if p not in accounts]  # person keys proper, not ids

    records: dict[str, list[dict]] = {}
    withheld: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {"orders": [], "chats": [], "visitors": []}
    unattributed = (f"(x.customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM {tbl('customers')} k "
                    f"WHERE k.customer_id = x.customer_id))" if "customers" in present
                    else "true")
    if {"customer_id", "visitor_id"} <= set(present.get("visits", [])):
        keys["visitors"] = [r[0] for r in con.execute(
            f"SELECT DISTINCT visitor_id FROM {tbl('visits')} WHERE list_contains($a, customer_id) "
            f"AND visitor_id IS NOT NULL ORDER BY 1", {"a": accounts}).fetchall()]
    for t in ORDER:
        cols = present.get(t)
        if cols is None:
            continue
        links = _links(t, set(cols), unattributed)
        if t == "cookie_observations" and not any(k == "visitor_id" for k, _ in links):
            notes.append("cookie_observations: the scan export has no visitor_id column, so cookie "
                         "observations cannot be attributed to a person")
        if not links:
            continue
        meta = schema.TABLES_BY_NAME[t]
        hidden = [c.name for c in meta.columns if c.pii in WITHHELD_KINDS and c.name in cols]
        shown = [c for c in cols if c not in hidden]
        cond = " OR ".join(f"({c})" for _, c in links)
        by = "concat_ws(',', " + ", ".join(f"CASE WHEN {c} THEN '{k}' END" for k, c in links) + ")"
        sql = (f"SELECT {', '.join('x.' + _q(c) for c in shown)}, {by} AS _matched_by "
               f"FROM {tbl(t)} x WHERE {cond} ORDER BY x.{_q(meta.primary_key)}")
        params = {"accounts": accounts, "visitors": keys["visitors"], "orders": keys["orders"],
                  "chats": keys["chats"], "persons": real_persons, "emails": emails,
                  "phones": phones,
                  "email_hashes": [con.execute("SELECT sha256($1)", [e]).fetchone()[0] for e in emails]}
        used = {n for n in params if f"${n}" in sql}
        cur = con.execute(sql, {k: v for k, v in params.items() if k in used})
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        records[t] = rows
        if hidden and rows:
            withheld[t] = hidden
        if t == "orders":
            keys["orders"] = [r["order_id"] for r in rows]
        elif t == "chats":
            keys["chats"] = [r["chat_id"] for r in rows]
    return Subject(kind, ident, persons, accounts, emails, phones, keys["visitors"], records,
                   notes, withheld)


def _identifier(email: str | None, customer_id: str | None, phone: str | None) -> tuple[str, str]:
    given = [(k, v) for k, v in (("email", email), ("customer_id", customer_id), ("phone", phone))
             if v is not None]
    if len(given) != 1:
        raise PrivauditError("give exactly one of --email, --customer-id or --phone")
    return given[0]


def find(db: str | Path, email: str | None = None, customer_id: str | None = None,
         phone: str | None = None) -> Subject:
    """Every record of one person in the database ``db`` (see the module docstring)."""
    kind, value = _identifier(email, customer_id, phone)
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    con = connect(db, read_only=True)
    try:
        if kind != "customer_id":       # the e-mail and phone columns hold keyed hashes
            minimise.refuse_raw(con, db, f"subject find --{kind}")
        return _resolve(con, kind, value)
    finally:
        con.close()


# ---------------------------------------------------------------- the access package

LOG_DDL = """CREATE TABLE IF NOT EXISTS access_packages (
    package_id VARCHAR, made_at TIMESTAMPTZ, as_of_date DATE, identified_by VARCHAR,
    customer_ids VARCHAR[], dsr_id VARCHAR, lang VARCHAR, tables MAP(VARCHAR, BIGINT),
    out_dir VARCHAR, toolkit_version VARCHAR)"""


@dataclass
class AccessPackage:
    package_id: str
    out_dir: Path
    html: Path
    data: Path
    subject: Subject
    lang: str
    as_of_date: date
    categories: list[dict]

    def counts(self) -> dict[str, int]:
        return self.subject.counts()


def _text(t, lang: str) -> str:
    if t is None:
        return ""
    return (t.en or t.nl) if lang == "en" else t.nl


def _strings(lang: str) -> dict:
    """The package's fixed texts in ``lang`` (``templates/access/strings.yaml``)."""
    import yaml

    def pick(v):
        if isinstance(v, dict) and set(v) <= set(LANGS) and v:
            return v.get(lang, v.get("nl"))
        if isinstance(v, dict):
            return {k: pick(x) for k, x in v.items()}
        if isinstance(v, list):
            return [pick(x) for x in v]
        return v
    return pick(yaml.safe_load((TEMPLATES / "strings.yaml").read_text(encoding="utf-8")))


def _retention(con, policy: Policy, subject: Subject, as_of_ts: datetime, as_of_date: date) -> dict:
    """The person's retention facts: the horizon (from the audit's retention anchor), each
    order's fiscal keep-until date and the open legal holds."""
    from .findings import bind, parameters, prepare
    from .rules.retention import ANCHOR, _keep_until

    prepare(con, policy, as_of_ts)
    params = parameters(policy, as_of_ts, as_of_date)
    out: dict[str, Any] = {"horizon": None, "anchor": None, "anchor_source": None, "expired": False,
                           "fiscal": {}, "holds": []}
    if subject.accounts:
        sql = (f"SELECT max(due_date), max(civil_date(anchor_at)), any_value(anchor_source), "
               f"bool_or(expired) FROM {ANCHOR} WHERE list_contains($accounts, customer_id)")
        p = bind(sql, params | {"accounts": subject.accounts})
        due, anchor, source, expired = con.execute(sql, p).fetchone()
        out.update(horizon=due, anchor=anchor, anchor_source=source, expired=bool(expired))
    orders = subject.keys("orders")
    if orders:
        sql = (f"SELECT o.order_id, {_keep_until('o')} AS keep_until, "
               f"add_months(civil_date(o.placed_at), $inactivity_months) AS guest_horizon "
               f"FROM orders o WHERE list_contains($orders, o.order_id)")
        p = bind(sql, params | {"orders": orders})
        rows = con.execute(sql, p).fetchall()
        out["fiscal"] = {oid: ku for oid, ku, _ in rows if ku is not None}
        if out["horizon"] is None:      # no account: guest orders fall at placed + months
            guest = [g for _, _, g in rows if g is not None]
            out["horizon"] = max(guest) if guest else None
            out["expired"] = bool(guest) and as_of_date > max(guest) + policy.retention.grace_days
    for h in subject.records.get("legal_holds", []):
        opened, closed = h.get("opened_at"), h.get("closed_at")
        if opened is not None and opened <= as_of_ts and (closed is None or closed > as_of_ts):
            out["holds"].append(h)
    return out


def _recipients(con, catalog: str, present: dict, subject: Subject, tz: str) -> list[dict]:
    """Each transfer of the person with its recipient and the agreement's transfer mechanism."""
    transfers = subject.records.get("transfers", [])
    if not transfers:
        return []
    ids = [t["transfer_id"] for t in transfers]
    rc = set(present.get("recipients", []))
    ac = set(present.get("recipient_agreements", []))

    def col(alias: str, name: str, cols: set[str], typ: str = "VARCHAR") -> str:
        return f"{alias}.{_q(name)}" if name in cols else f"CAST(NULL AS {typ})"
    tq = f"{_q(catalog)}.main.{_q('transfers')}"
    rjoin = (f"LEFT JOIN {_q(catalog)}.main.{_q('recipients')} r ON r.recipient_id = t.recipient_id"
             if "recipient_id" in rc else "")
    mech = "CAST(NULL AS VARCHAR)"
    if {"recipient_id", "transfer_mechanism"} <= ac:
        from .dates import check_timezone
        d = f"CAST(timezone('{check_timezone(tz)}', t.transferred_at) AS DATE)"
        conds = ["a.recipient_id = t.recipient_id"]
        for c, expr in (("valid_from", f"a.valid_from <= {d}"), ("valid_to", f"{d} <= a.valid_to"),
                        ("terminated_on", f"{d} < a.terminated_on")):
            if c in ac:
                conds.append(f"(a.{c} IS NULL OR {expr})")
        mech = (f"(SELECT a.transfer_mechanism FROM {_q(catalog)}.main.{_q('recipient_agreements')} a "
                f"WHERE {' AND '.join(conds)} ORDER BY a.transfer_mechanism LIMIT 1)")
    tcols = set(present.get("transfers", []))
    sql = (f"SELECT t.transfer_id, {col('t', 'transferred_at', tcols, 'TIMESTAMPTZ')}, "
           f"t.recipient_id, {col('r', 'name', rc) if rjoin else 'NULL'} AS name, "
           f"{col('r', 'category', rc) if rjoin else 'NULL'} AS category, "
           f"{col('r', 'role', rc) if rjoin else 'NULL'} AS role, "
           f"{col('r', 'country_code', rc) if rjoin else 'NULL'} AS recipient_country, "
           f"{col('t', 'destination_country', tcols)} AS destination_country, "
           f"{col('t', 'fields', tcols, 'VARCHAR[]')} AS fields, "
           f"{col('t', 'purpose', tcols)} AS purpose, {mech} AS mechanism "
           f"FROM {tq} t {rjoin} WHERE list_contains($ids, t.transfer_id) ORDER BY 2, 1")
    cur = con.execute(sql, {"ids": ids})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _fmt(v: Any, s: dict) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return s["word_yes"] if v else s["word_no"]
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) or "—"
    return str(v)


def _category_fields(cat: DataCategory) -> set[str]:
    return {c for cols in cat.columns.values() for c in cols}


def _build_categories(policy: Policy, subject: Subject, present: dict, transfers: list[dict],
                      retention: dict, s: dict, lang: str, as_of_date: date) -> tuple[list, list]:
    cats, empty = [], []
    eea = set(policy.sharing.eea_countries)
    for cat in policy.processing.categories:
        tables = []
        for t, cols in cat.columns.items():
            rows = subject.records.get(t) or []
            shown = [c for c in cols if c in present.get(t, [])]
            if not rows or not shown:
                continue
            tables.append({"table": t, "title": s["tables"].get(t, t),
                           "columns": [s["columns"].get(c, c.replace("_", " ")) for c in shown],
                           "rows": [[_fmt(r.get(c), s) for c in shown] for r in rows],
                           "count": len(rows)})
        if not tables:
            empty.append(_text(cat.name, lang))
            continue
        fields = _category_fields(cat)
        recips: dict[tuple, dict] = {}
        for tr in transfers:
            got = sorted(set(tr["fields"] or []) & fields)
            if not got:
                continue
            country = tr["destination_country"] or tr["recipient_country"]
            k = (tr["recipient_id"], country)
            e = recips.setdefault(k, {"name": tr["name"] or tr["recipient_id"],
                                      "recipient_id": tr["recipient_id"],
                                      "role": s["roles"].get(tr["role"], tr["role"] or "—"),
                                      "category": s["recipient_categories"].get(tr["category"],
                                                                               tr["category"] or "—"),
                                      "country": country or "—",
                                      "outside_eea": bool(country) and country not in eea,
                                      "mechanism": tr["mechanism"], "dates": [], "fields": set(),
                                      "n": 0})
            e["n"] += 1
            if tr["transferred_at"] is not None:
                e["dates"].append(tr["transferred_at"])
            e["fields"].update(got)
        recipients = []
        for e in sorted(recips.values(), key=lambda e: (e["name"], e["country"])):
            ds = sorted(e["dates"])
            recipients.append(e | {
                "first": _fmt(ds[0].date() if ds else None, s),
                "last": _fmt(ds[-1].date() if ds else None, s),
                "fields": ", ".join(s["columns"].get(f, f) for f in sorted(e["fields"]))})
        ret = _retention_text(cat, policy, retention, s, as_of_date)
        cats.append({
            "id": cat.id, "name": _text(cat.name, lang), "tables": tables,
            "purposes": [{"text": _text(p, lang), "clause": p.clause} for p in cat.purposes],
            "basis": [{"article": a, "text": s["bases"].get(a, "")} for a in cat.basis],
            "basis_note": _text(cat.basis_note, lang),
            "recipients": recipients, "retention": ret,
            "source": s["sources"][cat.source], "source_note": _text(cat.source_note, lang)})
    return cats, empty


def _retention_text(cat: DataCategory, policy: Policy, r: dict, s: dict, as_of_date: date) -> dict:
    months, years = policy.retention.inactivity_months, policy.retention.fiscal_years
    if cat.retention == "fiscal":
        ends = sorted(r["fiscal"].values())
        return {"period": s["retention_fiscal"].format(years=years,
                                                       fy_end=policy.retention.fiscal_year_end),
                "end": _fmt(ends[-1], s) if ends else "—",
                "end_first": _fmt(ends[0], s) if len(ends) > 1 else None, "overdue": False,
                "anchor": None}
    if cat.retention == "hold":
        return {"period": s["retention_hold"], "end": s["retention_hold_open"] if r["holds"]
                else s["retention_hold_closed"], "end_first": None, "overdue": False,
                "anchor": None}
    end = r["horizon"]
    return {"period": s["retention_horizon"].format(months=months),
            "end": _fmt(end, s), "end_first": None,
            "overdue": bool(end is not None and as_of_date > end),
            "anchor": _fmt(r["anchor"], s) if r["anchor"] else None}


def _write_private(path: Path, text: str) -> None:
    outputs.write_text(path, text)


def access(db: str | Path, out: str | Path, email: str | None = None,
           customer_id: str | None = None, phone: str | None = None, lang: str = "nl",
           as_of: str | date | datetime | None = None, policy: str | Path | Policy | None = None,
           dsr_id: str | None = None) -> AccessPackage:
    """Write the Art. 15 access package of one person into ``out`` (see the module docstring).

    ``as_of`` (default: now) dates the package and the retention end dates; ``dsr_id`` records
    which access request the package answers."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from .findings import parse_as_of

    if lang not in LANGS:
        raise PrivauditError(f"--lang: {lang!r} is not one of {', '.join(LANGS)}")
    kind, value = _identifier(email, customer_id, phone)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    if pol.processing is None:
        raise PrivauditError(f"{pol.source or 'policy'}: processing: missing; the access package "
                             "needs the purposes, legal bases and sources per category of data "
                             "(see the README, 'Access requests')")
    as_of_ts, as_of_date = parse_as_of(as_of if as_of is not None else
                                       datetime.now(timezone.utc), pol.timezone)
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    out = Path(out)
    con = connect(db, timezone=pol.timezone,
                  retention_days=pol.auditor.retention_days)
    try:
        minimise.refuse_raw(con, db, "the access package")
        subject = _resolve(con, kind, value)
        catalog, present = _present(con)
        if dsr_id is not None and "dsr_requests" in present:
            known = subject.keys("dsr_requests")
            if dsr_id not in known:
                raise PrivauditError(f"--dsr {dsr_id}: not a request of this person "
                                     f"(their requests: {', '.join(known) or 'none'})")
        transfers = _recipients(con, catalog, present, subject, pol.timezone)
        retention = _retention(con, pol, subject, as_of_ts, as_of_date)
        s = _strings(lang)
        cats, empty = _build_categories(pol, subject, present, transfers, retention, s, lang,
                                        as_of_date)
        package_id = "AP-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        made_at = datetime.now(timezone.utc)
        third_country = [t for t in transfers if (t["destination_country"] or t["recipient_country"])
                         and (t["destination_country"] or t["recipient_country"])
                         not in set(pol.sharing.eea_countries)]
        env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                          autoescape=select_autoescape(["html", "j2"], default=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        html = env.get_template("package.html.j2").render(
            s=s, lang=lang, package_id=package_id, made=made_at.astimezone(ZoneInfo(pol.timezone)).strftime("%Y-%m-%d"),
            as_of=as_of_date.isoformat(), controller=pol.controller, statement=pol.statement,
            processing=pol.processing, automated=_text(pol.processing.automated_decisions, lang),
            categories=cats, empty=empty, found=subject.found, identified_by=s["by"][kind],
            accounts=subject.accounts, third_country=[
                {"name": t["name"] or t["recipient_id"],
                 "country": t["destination_country"] or t["recipient_country"],
                 "date": _fmt(t["transferred_at"].date() if t["transferred_at"] else None, s),
                 "mechanism": s["mechanisms"].get(t["mechanism"], t["mechanism"] or s["none_known"])}
                for t in third_country],
            counts=subject.counts(), tables=s["tables"], withheld=subject.withheld)
        data = {
            "package": {"package_id": package_id, "made_at": made_at.isoformat(),
                        "as_of": as_of_date.isoformat(), "controller": pol.controller.name,
                        "identified_by": kind, "customer_ids": subject.accounts,
                        "person_keys": subject.persons, "dsr_id": dsr_id, "lang": lang,
                        "toolkit_version": __version__},
            "tables": {t: [{k: _plain(v) for k, v in r.items()} for r in rows]
                       for t, rows in subject.records.items() if rows},
            "withheld_columns": subject.withheld,
            "notes": subject.notes,
        }
        outputs.private_dir(out)
        os.chmod(out, 0o700)           # the package's own folder, even when it existed
        html_path, data_path = out / "index.html", out / "data.json"
        _write_private(data_path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        _write_private(html_path, html)
        con.execute(LOG_DDL)
        counts = subject.counts()
        con.execute("INSERT INTO access_packages VALUES ($1, $2, $3, $4, $5, $6, $7, "
                    "MAP($8::VARCHAR[], $9::BIGINT[]), $10, $11)",
                    [package_id, made_at, as_of_date, kind, subject.accounts, dsr_id, lang,
                     list(counts), list(counts.values()), str(out.resolve()), __version__])
    finally:
        con.close()
    return AccessPackage(package_id, out, html_path, data_path, subject, lang, as_of_date, cats)


# ---------------------------------------------------------------- open access requests

REQUEST_COLUMNS = ["dsr_id", "customer_id", "channel", "received", "due", "days_left",
                   "extension", "package", "reason", "package_made"]


def open_requests(db: str | Path, as_of: str | date | datetime | None = None,
                  policy: str | Path | Policy | None = None, reveal: bool = False):
    """Open access requests at ``as_of`` (default now): their deadline, whether a package can be
    produced from the data, and the package made for them, if any (a DataFrame, no personal data:
    request and customer ids are masked like a finding's unless ``reveal``).

    The deadline is DSR-001's own: its query, run with the verdict date moved to the end of time,
    returns every request still unanswered at ``as_of`` with its deadline (one month from the
    Amsterdam date of receipt, rolled to the next Dutch working day; three with a timely
    extension). A package can be produced when the request names a customer (whose records are
    then found as ``find`` finds them); a request without one needs an identifier from the
    requester first."""
    import pandas as pd

    from .findings import bind, parameters, parse_as_of, prepare
    from .rules import REGISTRY

    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    as_of_ts, as_of_date = parse_as_of(as_of if as_of is not None else datetime.now(timezone.utc),
                                       pol.timezone)
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    con = connect(db, read_only=True, timezone=pol.timezone,
                  retention_days=pol.auditor.retention_days)
    try:
        minimised = minimise.is_minimised(con)
        if reveal:
            minimise.refuse_raw(con, db, "--reveal")
        catalog, present = _present(con)
        need = {"dsr_id", "customer_id", "type", "received_at", "answered_at"}
        if not need <= set(present.get("dsr_requests", [])):
            return pd.DataFrame(columns=REQUEST_COLUMNS)
        prepare(con, pol, as_of_ts)
        sql = REGISTRY["DSR-001"].sql(pol)
        params = parameters(pol, as_of_ts, as_of_date) | {"as_of_date": date(9999, 12, 31)}
        cur = con.execute(f"SELECT r.subject_id, r.due_date, r.evidence FROM ({sql}) r "
                          f"JOIN dsr_requests d ON d.dsr_id = r.subject_id "
                          f"WHERE d.type = 'access' AND r.evidence.verdict = 'open past deadline' "
                          f"ORDER BY r.due_date, r.subject_id", bind(sql, params))
        rows = cur.fetchall()
        made: dict[str, list] = {}
        try:
            for pid, dsr, cids, at in con.execute(
                    "SELECT package_id, dsr_id, customer_ids, made_at FROM access_packages "
                    "ORDER BY made_at").fetchall():
                made.setdefault(f"dsr:{dsr}", []).append(pid)
                for c in cids or []:
                    made.setdefault(f"cid:{c}", []).append((pid, at))
        except duckdb.CatalogException:
            pass
        out = []
        shown = masker(reveal)          # ids as they may leave the database (toolkit.masking)
        for dsr_id, due, ev in rows:
            ev = dict(ev)
            cid, channel, received = con.execute(
                "SELECT customer_id, channel, civil_date(received_at) FROM dsr_requests "
                "WHERE dsr_id = $1", [dsr_id]).fetchone()
            if minimised:
                can, reason = False, "a minimised database holds no raw values: make the package from a full load"
            elif cid is None:
                can, reason = False, "no customer named: ask the requester for an e-mail address or customer number"
            else:
                s = _resolve(con, "customer_id", cid)
                n = sum(s.counts().values())
                can = True
                reason = (f"{n} records in {len(s.counts())} tables" if n
                          else "no records: the package confirms that no data are held")
            pkg = list(made.get(f"dsr:{dsr_id}", []))       # made for this request, or for
            pkg += [p for p, at in made.get(f"cid:{cid}", [])   # its customer since it came in
                    if at.date() >= received and p not in pkg]
            out.append({"dsr_id": shown(dsr_id), "customer_id": shown(cid), "channel": channel,
                        "received": received, "due": due, "days_left": (due - as_of_date).days,
                        "extension": ev.get("extension"), "package": "yes" if can else "no",
                        "reason": reason, "package_made": ", ".join(pkg)})
    finally:
        con.close()
    return pd.DataFrame(out, columns=REQUEST_COLUMNS)
