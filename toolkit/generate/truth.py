"""The answer key: ``_truth/findings.csv``, ``_truth/near_misses.csv`` and ``_truth/README``.

``findings.csv`` lists exactly the (rule_id, subject_id) pairs the contract's semantics flag in
the generated export: every planted violation and every side effect a scenario records. The
background is compliant by construction, so nothing else is flagged. ``near_misses.csv`` lists
(rule_id, subject_id, scenario) rows that the named rule must NOT flag (some are flagged by
another rule, which findings.csv then says).
"""

from __future__ import annotations

import csv
from collections import Counter

from .. import schema
from .context import Ctx
from .scenarios import Scenario
from .writers import FORMATS, columns, file_name

RULES = ("RET-001", "RET-005", "RET-006", "RET-014", "SHR-001", "SHR-002", "SHR-003", "SHR-004",
         "SHR-005", "SHR-008", "CON-001", "NWS-001", "NWS-002", "NWS-003", "NWS-006", "CKE-001",
         "CKE-002", "CKE-003", "CKE-004", "DSR-001", "DSR-004", "SEC-001", "SEC-002", "SEC-004",
         "SEC-006", "TRN-001", "TRN-002", "TRN-003", "TRN-005")
# rules whose subjects are the shop's own statement against its data, not records: even a shop
# without planted violations has them, and TRN-003's subjects are the statement's processings
STATEMENT_RULES = ("TRN-001", "TRN-002", "TRN-003", "TRN-005")

SUBJECT = {"RET-001": "customers", "RET-005": "orders", "RET-006": "orders", "RET-014": "customers",
           "CON-001": "newsletter_consent_events", "DSR-001": "dsr_requests",
           "DSR-004": "dsr_requests", "SEC-001": "payments",
           "SEC-002": "chat_messages / calls", "SEC-004": "chat_messages / calls",
           "SEC-006": "chat_messages / calls", "TRN-001": "personal columns (table.column)",
           "TRN-002": "recipients", "TRN-003": "statement (described processing)",
           "TRN-005": "recipients"}
for _r in RULES:
    SUBJECT.setdefault(_r, {"SHR": "transfers", "NWS": "newsletter_sends",
                            "CKE": "cookie_observations"}.get(_r[:3], "?"))

DECISIONS = """\
Semantics the truth assumes (where contract and catalogue leave room; rules must match)
-------------------------------------------------------------------------------------
Dates and boundaries
- as_of D: every generated timestamp lies before 00:00 Amsterdam of D, so nl_date(as_of) = D
  and nothing is filtered as "after as_of". A period is breached only when D > due (+ grace 0).
- Retention anchor: last human visit (origin web/app, is_bot false) per person_key, Amsterdam
  date; otherwise the latest of created_at, last order placed_at and last_login_at.
- Legal holds apply per customer and named table while opened_at <= as_of < closed_at; a closed
  hold's deadline is max(normal due, closed_at + grace). scope_tables is never empty here.
- DSR-001: due = next Dutch working day of add_months(Amsterdam receipt date, 1); with an
  extension notified (extension_reason filled) on or before that date: 3 months, rolled.
  Verdict on answered_at only (completed_at is never later than answered_at in the data).
  Holidays: Nieuwjaar, 2e Paasdag, Koningsdag, 5 mei (every year), Hemelvaart, 2e Pinksterdag,
  1e/2e Kerstdag.
Retention
- RET-001 residue = personal columns of customers (first_name..city) or any row in visits,
  chats, calls, newsletter_consent_events, newsletter_sends for the customer. Orders/payments/
  transfers are not RET-001 residue.
- RET-005: fiscal year = Amsterdam year of placed_at (year end 12-31), ceiling 31 Dec of
  year + 7; an order counts as anonymised when anonymised_at is set (its customer_id, names,
  addresses, e-mail, phone and IP are then all empty as well). Holds on 'orders' exempt.
- RET-006: only orders.email_at_order, phone_at_order, ip_address; customer expired as in
  RET-001; orders inside their fiscal window; holds on 'orders' exempt. Guest orders
  (customer_id NULL) older than ~11 months have these fields empty already.
- RET-014: status erased/deleted or erased_at set, with any of first_name, last_name, email,
  phone, street, house_number, postcode, city filled (person_key, country_code and
  last_login_at are not personal columns). 'deauthorised' alone is not RET-014.
Sharing
- SHR-002/003/004/005/008 evaluate transfers to registered recipients only (inner join, as the
  catalogue SQL); an unregistered recipient is SHR-001 only. Authorities need no agreement and
  are not checked against allow-lists (their transfers carry no deny-list field).
- SHR-002: agreement valid on d = nl_date(transferred_at) when signed_on <= d, valid_from <= d,
  d <= valid_to (inclusive, NULL open), d < terminated_on; processors need dpa_art28.
- SHR-003: allow-list of the agreement valid on d; where no agreement is valid, the transfer's
  fields are within the catalogue 1.4 category default anyway (delivery block; distribution
  centre order_id/sku/description/delivery block; research email), so the fallback does not
  matter. Deny-list: card_pan, card_cvv, bsn, password_hash, id_document, birth_date.
- SHR-004: the order must belong to the transfer's customer, contain a line with the seller's
  seller_id, and placed_at <= transferred_at <= placed_at + 90 days (timestamps; the near-miss
  is 90 days minus one hour, the violation 91 days plus two hours).
- SHR-005: fields subset of {email, invite_token}; violations are SHR-003 violations as well.
- SHR-008: destination_country outside the EEA; mechanism of the agreement valid on d:
  privacy_shield d < 2020-07-16; scc_2010 signed < 2021-09-27 and d < 2022-12-27; scc_2021
  signed >= 2021-06-27. No adequacy/DPF transfers are generated.
Consent and newsletters
- CON-001: events whose method is implied_by_visit, continued_use, pre_ticked or bundled_terms
  (any action; only subscribe events carry them here).
- Consent is matched per customer_id and newsletter_type (no person has newsletter activity on
  two accounts, so person-level matching gives the same result). Opt-in in force at sent_at =
  latest event with occurred_at <= sent_at (>=, same second counts) is subscribe, confirm or
  resubscribe with a valid method; invalid methods: the four CON-001 methods and 'unknown'.
  An unsubscribe ends the opt-in at once for NWS-001 (a send inside the 2-day grace is NWS-001,
  not NWS-003).
- NWS-002: personalised = true and no opt-in in force for newsletter_type 'personalised'
  (object_profiling ends it), whatever the send's newsletter_type.
- NWS-003: sent_at > withdrawal + 2 days (timestamps) with no subscribe/confirm/resubscribe of
  that type in between; withdrawal = unsubscribe event (typed) or a dsr_requests row of type
  withdraw_consent, objection_marketing, erasure, deauthorisation (received_at, all types).
  object_profiling is not an unsubscribe for NWS-003.
- NWS-006: sent_at > erased_at or deauthorised_at (a send hours before it, same day, is not
  flagged); or nl_date(sent_at) > the customer's retention due date (RET-001 anchor at as_of).
  A send on the due date itself is not flagged. Background accounts never lapse, so "retention
  had expired at send time" and "expired at as_of and sent after the due date" agree.
Cookies
- First-party: domain (leading dot removed) equals or ends with '.' + contractstatus.nl or
  smootdiensten.nl. Persistent: storage_kind local_storage/indexeddb, or is_session false
  (session_storage with is_session true is not persistent). Not functional: declared_category
  <> functional, or name matches ^(_ga|_gid|_gat|_gcl_|_fbp|fr$|_hj|_uet|_clck|_clsk|IDE$|
  test_cookie$). CKE-004: consent_state none/rejected and (not functional or third-party).
  No accepted_partial scans and no pixel_request rows are generated.
Transparency (the shipped policy's statement against the data; background included)
- TRN-002: registered recipients with at least one transfer whose category is not delivery,
  distribution_centre, external_seller, cs_outsourcer, research_agency or authority, or with a
  transfer whose destination (destination_country, else the recipient's country) is outside the
  EEA (the statement names no third country).
- TRN-003: of the twelve processings the statement describes, those with no evidence at all:
  transfers to the category's recipients, order lines with a seller_id, chats handled by another
  party, sends of type research/general/personalised (or personalised = true), chats, calls,
  cookie observations declared personalisation or social. Every evidence table is exported here.
- TRN-005: recipients with a transfer, not authorities, whose first agreement day (the earlier of
  signed_on and valid_from) or first transfer day (Amsterdam), whichever is earlier, is after
  2018-05-13. Unregistered recipients count (first transfer only).
Rights and security
- DSR-004: completed erasure/deauthorisation whose customer still has personal columns in
  customers, rows in visits/chats/chat_messages/calls/newsletter_consent_events/
  newsletter_sends, or non-fiscal order fields (email_at_order, phone_at_order, ip_address);
  tables under an open hold for that customer are exempt. Background erased accounts keep no
  transfers either.
- SEC-001: card_pan holds 13-19 digits (spaces/dashes removed) passing Luhn, or card_cvv filled.
  Masked values, tokens and 'XXXX ... 1234' are not full numbers.
- SEC-002: 13-19 digits (spaces/dashes allowed) passing Luhn with a card issuer prefix.
  SEC-004: nine digits or 4.2.3 dotted/spaced, passing the BSN 11-proof. SEC-006: compact IBAN
  passing mod-97. Background texts hold no digit run longer than eight digits; every planted
  text was checked with strict and loose detectors.
Transparency
- TRN-001: export columns the schema does not know (customers "Telefoon Afleveradres", orders
  "E-mail Orderbevestiging", visits "Remote Addr") whose filled values are all phone numbers,
  e-mail addresses or IP addresses; subject "table.column" as the loader names the column.
  Near-misses: four-digit postcode areas, "#1001"-style order references and EAN-13 barcodes.
  They copy the row's own phone, email_at_order and ip_address, so they change no other rule.
  And the data model's personal columns that hold a value in a category the shipped statement
  does not name (it names name, e-mail, address, payment, phone, IP address, cookies, account,
  chats and notes): calls.transcript (call recordings and transcripts), in every shop with calls.
  Near-misses: every other filled personal column (a category the statement names).
"""


def write(ctx: Ctx, registry: list[Scenario], counts: dict[str, int], reps: int) -> None:
    d = ctx.out / "_truth"
    d.mkdir(exist_ok=True)
    with open(d / "findings.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["rule_id", "subject_id"])
        for rule, subject in sorted(ctx.truth):
            w.writerow([rule, subject])
    with open(d / "near_misses.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["rule_id", "subject_id", "scenario"])
        for row in sorted(ctx.near):
            w.writerow(row)
    (d / "README").write_text(readme(ctx, registry, counts, reps), encoding="utf-8")


def readme(ctx: Ctx, registry: list[Scenario], counts: dict[str, int], reps: int) -> str:
    flagged = Counter(r for r, _ in ctx.truth)
    planted = Counter(r for r, _, _ in ctx.planted)
    near = Counter(r for r, _, _ in ctx.near)
    out = [
        "Answer key of a synthetic contractstatus.nl export (privaudit generate)",
        "=" * 72, "",
        f"seed {ctx.seed}, as_of {ctx.as_of.isoformat()}, violation_rate {ctx.rate}, "
        f"{reps} instance(s) of every scenario.", "",
        "findings.csv    rule_id, subject_id: exactly what the rules must flag (sorted).",
        "near_misses.csv rule_id, subject_id, scenario: what the named rule must NOT flag.",
        "", "Files", "-----",
    ]
    for t, n in counts.items():
        fmt = FORMATS[t]
        extra = []
        if fmt.delimiter != ",":
            extra.append("delimiter " + ("TAB" if fmt.delimiter == "\t" else repr(fmt.delimiter)))
        if fmt.bom:
            extra.append("UTF-8 BOM")
        types = {schema.table(t).column(c).type for c in columns(t)}
        if "TIMESTAMPTZ" in types and fmt.ext != "parquet":
            extra.append("timestamps " + ("UTC Z" if fmt.ts == "z" else "Amsterdam +01:00/+02:00"))
        if "BOOLEAN" in types and fmt.ext not in ("parquet", "json", "jsonl"):
            extra.append("booleans " + "/".join(fmt.booleans))
        if schema.LIST_TYPE in types:
            extra.append("lists " + ("native" if fmt.ext in ("parquet", "json", "jsonl")
                                     else "a|b" if fmt.lists == "pipe" else 'JSON ["a","b"]'))
        if fmt.ext == "parquet":
            extra.append("TIMESTAMP(us, UTC), list<string>")
        out.append(f"  {file_name(t):34} {n:>10} rows  {', '.join(extra)}")
    out += ["", "Background: compliant by construction (see toolkit/generate/*.py docstrings); no",
            "naive timestamps are written.", "",
            "Per rule", "--------"]
    by_rule: dict[str, list[Scenario]] = {}
    for s in registry:
        by_rule.setdefault(s.rule, []).append(s)
    for rule in RULES:
        out.append(f"{rule}  (subject: {SUBJECT[rule]})  flagged {flagged[rule]}, planted for it "
                   f"{planted[rule]}, near-misses {near[rule]}")
        for s in by_rule.get(rule, []):
            tag = "VIOLATION" if s.kind == "violation" else "near-miss"
            out.append(f"  - {tag} {s.name}: {s.doc}")
            if s.also:
                out.append(f"      also: {s.also}")
        out.append("")
    out.append(DECISIONS)
    return "\n".join(out) + "\n"
