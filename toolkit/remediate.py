"""From findings to action: an erasure worklist for a stored run, applied to a copy and proven.

``plan(db, run_id, out)`` turns the retention and erasure findings of a stored audit run
(RET-001, RET-005, RET-006, RET-014, DSR-004, NWS-006) and the free-text findings (SEC-002,
SEC-004, SEC-006) into concrete actions per table, read from the rule's own evidence:

- RET-001: the customer's personal columns set to NULL; its rows in the residue tables the
  finding names deleted (a chat's messages with it);
- RET-014: the personal columns the finding names set to NULL;
- DSR-004: as RET-001 for the residue it names, plus the non-fiscal personal fields of the
  customer's orders and payments set to NULL and the requester's e-mail address removed from
  other accounts' newsletter rows;
- RET-006: the order's non-fiscal personal fields (e-mail, phone, IP at checkout) set to NULL;
- RET-005: the order, past its fiscal ceiling, anonymised: every personal field NULL (payments
  too), ``customer_id`` replaced by a random pseudonym in the order, its payments and transfers
  (the same one, so they still belong together; nothing links it back), ``anonymised_at`` set;
- NWS-006: the send row deleted;
- SEC-002/004/006: the card number, BSN or IBAN span of the text replaced by ``[redacted]``
  (the spans come from the rule's own detection, run again unmasked in memory).

Rows of a table under an open legal hold (at the run's as_of or now) for that customer are left
out and listed in ``held.csv``. Fiscal fields of orders inside their fiscal window are never
touched and no row of a fiscal table is ever deleted: the plan refuses to write such an action.
Per recipient that received data of a remediated subject (``transfers``), ``notifications.csv``
has a line for the Art. 19 notification.

Written to ``out``: ``actions.csv`` (for people), ``remediate.sql`` (one script for the loaded
DuckDB database: one transaction, explicit keys, every statement with the number of rows it must
change, redactions guarded by the text's sha256), ``held.csv``, ``notifications.csv``,
``skipped.csv`` and ``plan.json``. None of them holds personal data (ids, column names, hashes).

``apply(plan)`` copies the database (never the original unless ``in_place=True``), audits the
copy as of the run's date, runs the script (all or nothing; a statement changing another number
of rows than planned rolls everything back), audits again and compares: the remediated subjects
must have no violation left under the remediated rules, and no other rule's violations may
change. ``before_after.csv`` holds the comparison.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb

from . import __version__, outputs, schema
from .exceptions import PrivauditError, UnusableInputError
from .database import connect
from .masking import REDACTED
from .policy import Policy, load_policy

CUSTOMER_RULES = ("RET-001", "RET-014", "DSR-004")
ORDER_RULES = ("RET-005", "RET-006")
TEXT_RULES = {"SEC-002": "card", "SEC-004": "bsn", "SEC-006": "iban"}
TARGETS = (*CUSTOMER_RULES, *ORDER_RULES, "NWS-006", *TEXT_RULES)
FISCAL_TABLES = tuple(t.name for t in schema.TABLES if any(c.fiscal for c in t.columns))
# deletes run children first
DELETE_ORDER = ("chat_messages", "chats", "calls", "visits", "newsletter_sends",
                "newsletter_consent_events", "customer_addresses", "cs_notes")
CHUNK = 200
STATEMENT_RE = re.compile(r"^-- \[(S\d+)\] expect (\d+) rows?: ", re.M)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    """A SQL string literal (the script is a file: its values are quoted, never interpolated raw)."""
    s = str(value)
    if "\x00" in s:
        raise PrivauditError("a key holds a NUL character; it cannot be written to a SQL script")
    return "'" + s.replace("'", "''") + "'"


@dataclass
class Action:
    action_id: str
    rule_id: str
    subject_table: str
    subject_id: str
    customer_id: str | None
    table: str
    action: str                 # delete_rows | set_null | pseudonymise | redact
    columns: list[str]
    keys: list[str]
    note: str = ""


@dataclass
class Held:
    rule_id: str
    subject_id: str
    customer_id: str | None
    table: str
    rows: int
    hold_ids: list[str]
    reasons: list[str]


@dataclass
class Skipped:
    rule_id: str
    subject_id: str
    reason: str


@dataclass
class Notification:
    recipient_id: str
    recipient: str | None
    role: str | None
    category: str | None
    country: str | None
    customer_id: str | None
    rules: list[str]
    subjects: list[str]
    transfers: int
    first_date: str | None
    last_date: str | None
    fields: list[str]


@dataclass
class Plan:
    plan_id: str
    run_id: str
    as_of: datetime
    as_of_date: date
    db: Path
    policy: Policy
    out: Path
    actions: list[Action]
    held: list[Held]
    skipped: list[Skipped]
    notifications: list[Notification]
    statements: list[dict]
    remediated: dict[str, list[str]]           # rule -> subject ids the plan closes
    findings: dict[str, int]                   # rule -> findings of the run considered
    deleted: dict[str, list[str]] = field(default_factory=dict)   # table -> keys deleted
    sql: Path | None = None

    def actions_frame(self):
        import pandas as pd
        return pd.DataFrame([asdict(a) for a in self.actions])


# ---------------------------------------------------------------- collecting row operations

class _Ops:
    """Row-level operations, merged: a deleted row is not updated; NULLs of one row merge."""

    def __init__(self):
        self.delete: dict[str, dict[str, str]] = {}               # table -> key -> action id
        self.null: dict[str, dict[str, set[str]]] = {}            # table -> key -> columns
        self.pseudo: dict[str, dict[str, tuple[str, str]]] = {}   # table -> key -> (old, new)
        self.stamp: dict[str, set[str]] = {}                      # orders anonymised_at
        self.redact: dict[tuple[str, str], dict[str, tuple[list[tuple[int, int]], str]]] = {}

    def deleted(self, table: str, key: str) -> bool:
        return key in self.delete.get(table, {})


class _Planner:
    """Builds the operations finding by finding. Every lookup is one query per table for all
    subjects of the plan (``prime`` names them), cached, so the plan's cost grows with the
    number of tables, not of findings."""

    def __init__(self, con, catalog: str, present: dict[str, set[str]], policy: Policy,
                 params: dict, as_of: datetime, now: datetime):
        self.con, self.catalog, self.present, self.policy = con, catalog, present, policy
        self.params, self.as_of, self.now = params, as_of, now
        self.ops = _Ops()
        self.actions: list[Action] = []
        self.held: list[Held] = []
        self.skipped: list[Skipped] = []
        self.pseudonyms: dict[str, str] = {}
        self.notify_customers: dict[str, set[tuple[str, str]]] = {}   # cid -> {(rule, subject)}
        self.notify_orders: dict[str, set[tuple[str, str]]] = {}
        self.notify_chats: dict[str, set[tuple[str, str]]] = {}
        self.fiscal_released: set[str] = set()     # orders past their fiscal ceiling (RET-005)
        self.setup_done: set[str] = set()
        self.cids: list[str] = []
        self.orders: list[str] = []
        self.dsrs: list[str] = []
        self._cache: dict[Any, Any] = {}

    def prime(self, findings: list[dict]) -> None:
        """The customers, orders and requests the plan looks up (for the batched queries)."""
        cids, orders, dsrs = set(), set(), set()
        for f in findings:
            if f["customer_id"]:
                cids.add(f["customer_id"])
            if f["rule_id"] in ("RET-001", "RET-014"):
                cids.add(f["subject_id"])
            elif f["rule_id"] in ORDER_RULES:
                orders.add(f["subject_id"])
            elif f["rule_id"] == "DSR-004":
                dsrs.add(f["subject_id"])
        self.cids, self.orders, self.dsrs = sorted(cids), sorted(orders), sorted(dsrs)

    # -- helpers
    def real(self, t: str) -> str:
        return f"{_q(self.catalog)}.main.{_q(t)}"

    def has(self, t: str, c: str | None = None) -> bool:
        return t in self.present and (c is None or c in self.present[t])

    def q(self, sql: str, params: dict | None = None) -> list[tuple]:
        return self.con.execute(sql, params or {}).fetchall()

    def cached(self, key, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def grouped(self, sql: str, params: dict) -> dict:
        """{first column: second column} of a query."""
        return {k: v for k, v in self.q(sql, params)}

    def holds(self, cid: str | None, table: str) -> list[tuple[str, str]]:
        """(hold_id, reason) of the holds covering (customer, table) at as_of or now: the
        ``hold_covers`` semantics of toolkit.dates, on every hold the database holds (also those
        opened after as_of)."""
        if cid is None or not self.has("legal_holds", "customer_id"):
            return []

        def load() -> dict:
            cols = self.present["legal_holds"]
            scope = ("(h.scope_tables IS NULL OR len(h.scope_tables) = 0 OR "
                     "list_contains(h.scope_tables, t.tbl))" if "scope_tables" in cols else "true")

            def open_at(ts: str) -> str:
                return ("(" + ("h.opened_at <= " + ts if "opened_at" in cols else "true") + " AND "
                        + (f"(h.closed_at IS NULL OR h.closed_at > {ts})" if "closed_at" in cols
                           else "true") + ")")
            reason = "h.reason" if "reason" in cols else "NULL"
            out: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for c, t, hid, why in self.q(
                    f"SELECT h.customer_id, t.tbl, h.hold_id, {reason} FROM {self.real('legal_holds')} h, "
                    f"(SELECT unnest($tables) AS tbl) t WHERE list_contains($cids, h.customer_id) "
                    f"AND {scope} AND ({open_at('$as_of')} OR {open_at('$now')}) ORDER BY 3",
                    {"tables": list(schema.TABLES_BY_NAME), "cids": self.cids,
                     "as_of": self.as_of, "now": self.now}):
                out.setdefault((c, t), []).append((hid, why))
            return out
        return self.cached("holds", load).get((cid, table), [])

    def act(self, rule: str, f: dict, table: str, action: str, columns: list[str],
            keys: list[str], note: str = "") -> None:
        if not keys:
            return
        aid = f"A{len(self.actions) + 1:05d}"
        self.actions.append(Action(aid, rule, f["subject_table"], f["subject_id"],
                                   f.get("customer_id"), table, action, sorted(columns),
                                   sorted(keys), note))
        ops = self.ops
        for k in keys:
            if action == "delete_rows":
                ops.delete.setdefault(table, {})[k] = aid
            elif action == "set_null":
                ops.null.setdefault(table, {}).setdefault(k, set()).update(columns)

    def hold_out(self, rule: str, f: dict, cid: str | None, table: str, rows: int,
                 holds: list[tuple[str, str]]) -> None:
        self.held.append(Held(rule, f["subject_id"], cid, table, rows, [h for h, _ in holds],
                              sorted({r for _, r in holds if r})))

    def personal(self, table: str, fiscal: bool | None = None) -> list[str]:
        declared = [c.name for c in schema.table(table).personal_columns
                    if self.has(table, c.name) and (fiscal is None or c.fiscal == fiscal)]
        if fiscal is True:
            return declared
        # extra export columns that hold personal data (toolkit.personal_data): non-fiscal
        extras = self.cached(("personal extras",), lambda: self.grouped(
            "SELECT tbl, list(col ORDER BY col) FROM extra_columns WHERE personal GROUP BY tbl", {}))
        return declared + [c for c in extras.get(table, []) if self.has(table, c)]

    def filled(self, table: str, cols: list[str], key: str, values: list[str]) -> dict[str, list]:
        """{key value: [(primary key, [filled columns among cols])]} for rows of ``table``."""
        if not cols or not self.has(table, key):
            return {}

        def load() -> dict:
            t = schema.table(table)
            pk = t.primary_key
            # declared columns from the audit's as_of view, extra export columns from the table
            items = ", ".join(f"CASE WHEN {'v' if t.has(c) else 'x'}.{_q(c)} IS NOT NULL "
                              f"THEN '{c}' END" for c in cols)
            extra = any(not t.has(c) for c in cols)
            join = f" JOIN {self.real(table)} x ON x.{_q(pk)} = v.{_q(pk)}" if extra else ""
            out: dict[str, list] = {}
            for k, rid, lst in self.q(
                    f"SELECT v.{_q(key)}, v.{_q(pk)}, list_filter([{items}]::VARCHAR[], "
                    f"lambda e: e IS NOT NULL) FROM {_q(table)} v{join} "
                    f"WHERE list_contains($v, v.{_q(key)}) ORDER BY 2", {"v": values}):
                if lst:
                    out.setdefault(k, []).append((rid, lst))
            return out
        return self.cached(("filled", table, tuple(cols), key), load)

    def rows_of(self, table: str, cid: str) -> list[str]:
        pk = schema.table(table).primary_key
        return self.cached(("rows", table), lambda: self.grouped(
            f"SELECT customer_id, list({_q(pk)} ORDER BY {_q(pk)}) FROM {_q(table)} "
            f"WHERE list_contains($c, customer_id) GROUP BY 1", {"c": self.cids})).get(cid, [])

    # -- customer-level erasure (RET-001, RET-014, DSR-004)
    def customer_columns(self, rule: str, f: dict, cid: str, only: list[str] | None = None) -> None:
        rows = self.filled("customers", self.personal("customers"), "customer_id", self.cids).get(cid, [])
        filled = [c for _, cols in rows for c in cols if only is None or c in only]
        if not filled:
            return
        holds = self.holds(cid, "customers")
        if holds:
            self.hold_out(rule, f, cid, "customers", 1, holds)
            return
        self.act(rule, f, "customers", "set_null", filled, [cid])

    def residue_table(self, rule: str, f: dict, cid: str, table: str) -> None:
        if not self.has(table, "customer_id"):
            return
        keys = self.rows_of(table, cid)
        holds = self.holds(cid, table)
        if holds:
            self.hold_out(rule, f, cid, table, len(keys), holds)
            return
        self.act(rule, f, table, "delete_rows", [], keys)
        if table == "chats" and keys and self.has("chat_messages", "chat_id"):
            by_chat = self.cached("messages", lambda: self.grouped(
                "SELECT chat_id, list(message_id ORDER BY message_id) FROM chat_messages WHERE chat_id IN "
                "(SELECT chat_id FROM chats WHERE list_contains($c, customer_id)) GROUP BY 1",
                {"c": self.cids}))
            msgs = [m for k in keys for m in by_chat.get(k, [])]
            mholds = self.holds(cid, "chat_messages")
            if mholds:
                self.hold_out(rule, f, cid, "chat_messages", len(msgs), mholds)
            else:
                self.act(rule, f, "chat_messages", "delete_rows", [], msgs,
                         "the messages of the deleted chats")

    def non_fiscal(self, rule: str, f: dict, cid: str | None, table: str,
                   only: list[str] | None = None, key: str = "customer_id",
                   value: str | None = None) -> None:
        cols = [c for c in self.personal(table, fiscal=False) if only is None or c in only]
        values = self.orders if key == "order_id" else self.cids
        rows = self.filled(table, cols, key, values).get(value if value is not None else cid, [])
        keys = [rid for rid, _ in rows]
        if not keys:
            return
        holds = self.holds(cid, table)
        if holds:
            self.hold_out(rule, f, cid, table, len(keys), holds)
            return
        self.act(rule, f, table, "set_null", cols, keys,
                 "non-fiscal personal fields; fiscal fields are kept")

    def email_elsewhere(self, rule: str, f: dict, cid: str, src: str) -> None:
        if not self.has(src, "email") or not self.has("dsr_requests", "requester_email_hash"):
            return
        pk = schema.table(src).primary_key
        keys = self.cached(("elsewhere", src), lambda: self.grouped(
            f"SELECT d.dsr_id, list(x.{_q(pk)} ORDER BY x.{_q(pk)}) FROM {_q(src)} x JOIN dsr_requests d "
            f"ON sha256(lower(trim(x.email))) = d.requester_email_hash WHERE list_contains($d, d.dsr_id) "
            f"AND x.email IS NOT NULL AND x.customer_id IS DISTINCT FROM d.customer_id GROUP BY 1",
            {"d": self.dsrs})).get(f["subject_id"], [])
        self.act(rule, f, src, "set_null", ["email"], keys,
                 "the requester's e-mail address under another account's rows")

    def customer_finding(self, rule: str, f: dict) -> None:
        d = f["details"] or {}
        cid = f["customer_id"] if rule == "DSR-004" else f["subject_id"]
        if cid is None:
            self.skipped.append(Skipped(rule, f["subject_id"], "no customer_id"))
            return
        if rule == "RET-014":
            self.customer_columns(rule, f, cid, only=d.get("filled_fields") or None)
        else:
            residue = d.get("residue") or {}
            for item in residue:
                m = re.fullmatch(r"(orders|payments)\((.*)\)", item)
                e = re.fullmatch(r"email elsewhere\((.*)\)", item)
                if item == "customers":
                    self.customer_columns(rule, f, cid)
                elif m:
                    self.non_fiscal(rule, f, cid, m.group(1), [c for c in m.group(2).split(",") if c])
                elif e:
                    self.email_elsewhere(rule, f, cid, e.group(1))
                elif item in schema.TABLES_BY_NAME:
                    self.residue_table(rule, f, cid, item)
                else:
                    self.skipped.append(Skipped(rule, f["subject_id"], f"unknown residue {item!r}"))
            for t in d.get("held") or []:
                tbl = re.sub(r"\(.*\)$", "", t)
                if tbl in schema.TABLES_BY_NAME and self.has(tbl, "customer_id"):
                    self.hold_out(rule, f, cid, tbl, len(self.rows_of(tbl, cid)), self.holds(cid, tbl))
        self.notify_customers.setdefault(cid, set()).add((rule, f["subject_id"]))

    # -- order-level (RET-005, RET-006)
    def order_facts(self) -> dict[str, tuple]:
        """{order_id: (keep_until, [filled personal columns])} of the plan's orders."""
        from .findings import bind
        from .rules.retention import _keep_until
        cols = self.personal("orders")
        t = schema.table("orders")
        items = ", ".join(f"CASE WHEN {'o' if t.has(c) else 'x'}.{_q(c)} IS NOT NULL THEN '{c}' END"
                          for c in cols) or "NULL"
        # declared columns from the as_of view, extra export columns from the table itself
        join = (f" JOIN {self.real('orders')} x ON x.order_id = o.order_id"
                if any(not t.has(c) for c in cols) else "")
        sql = (f"SELECT o.order_id, {_keep_until('o')}, list_filter([{items}]::VARCHAR[], "
               f"lambda e: e IS NOT NULL) FROM orders o{join} "
               f"WHERE list_contains($orders, o.order_id)")
        return self.cached("order_facts", lambda: {
            oid: (ku, lst) for oid, ku, lst in self.q(sql, bind(sql, self.params | {"orders": self.orders}))})

    def order_finding(self, rule: str, f: dict) -> None:
        oid, cid = f["subject_id"], f["customer_id"]
        facts = self.order_facts().get(oid)
        if facts is None:
            self.skipped.append(Skipped(rule, oid, "order not found"))
            return
        keep_until, filled = facts
        holds = self.holds(cid, "orders")
        if holds:
            self.hold_out(rule, f, cid, "orders", 1, holds)
            return
        if rule == "RET-006":
            only = (f["details"] or {}).get("fields") or None
            self.non_fiscal(rule, f, cid, "orders", only, key="order_id", value=oid)
        else:
            grace = timedelta(days=self.params["grace_days"])
            if keep_until is None or not self.params["as_of_date"] > keep_until + grace:
                self.skipped.append(Skipped(rule, oid, f"inside its fiscal window (until {keep_until})"))
                return
            self.fiscal_released.add(oid)
            self.act(rule, f, "orders", "set_null", filled, [oid],
                     f"past its fiscal ceiling ({keep_until})")
            pays: list[str] = []
            if self.has("payments", "order_id"):
                pays = self.cached("payments_of", lambda: self.grouped(
                    "SELECT order_id, list(payment_id ORDER BY payment_id) FROM payments "
                    "WHERE list_contains($o, order_id) GROUP BY 1", {"o": self.orders})).get(oid, [])
                pcols = self.personal("payments")
                if pays and pcols:
                    self.act(rule, f, "payments", "set_null", pcols, pays,
                             f"payments of an order past its fiscal ceiling ({keep_until})")
                    self.fiscal_released.update(f"payment:{p}" for p in pays)
            if cid is not None:
                psn = self.pseudonyms.setdefault(cid, "PSN-" + uuid.uuid4().hex[:16].upper())
                keys = {"orders": [oid], "payments": pays, "transfers": []}
                if self.has("transfers", "order_id"):
                    keys["transfers"] = self.cached("transfers_of", lambda: {
                        (o, c): ts for o, c, ts in self.q(
                            "SELECT order_id, customer_id, list(transfer_id ORDER BY transfer_id) "
                            "FROM transfers WHERE list_contains($o, order_id) GROUP BY 1, 2",
                            {"o": self.orders})}).get((oid, cid), [])
                for t, ks in keys.items():
                    for k in ks:
                        self.ops.pseudo.setdefault(t, {})[k] = (cid, psn)
                    if ks:
                        self.act(rule, f, t, "pseudonymise", ["customer_id"], ks,
                                 "customer_id replaced by a pseudonym shared by the order, its "
                                 "payments and transfers")
            if self.has("orders", "anonymised_at"):
                self.ops.stamp.setdefault("orders", set()).add(oid)
        self.notify_orders.setdefault(oid, set()).add((rule, oid))

    # -- NWS-006
    def send_finding(self, rule: str, f: dict) -> None:
        sid, cid = f["subject_id"], f["customer_id"]
        holds = self.holds(cid, "newsletter_sends")
        if holds:
            self.hold_out(rule, f, cid, "newsletter_sends", 1, holds)
            return
        self.act(rule, f, "newsletter_sends", "delete_rows", [], [sid],
                 "a send after erasure, de-authorisation or the end of retention")

    # -- free text
    def text_findings(self, rule: str, fs: list[dict]) -> None:
        from .findings import bind
        from .rules import REGISTRY
        r = REGISTRY[rule]
        for stmt in (r.setup(self.policy) if r.setup else []):
            if stmt not in self.setup_done:          # the candidate scan, once per plan
                self.con.execute(stmt, bind(stmt, self.params))
                self.setup_done.add(stmt)
        sql = r.sql(self.policy)
        cur = self.con.execute(sql, bind(sql, self.params))
        names = [d[0] for d in cur.description]
        found = {}
        for row in cur.fetchall():
            rec = dict(zip(names, row))
            ev = rec["evidence"]
            ev = json.loads(ev) if isinstance(ev, str) else dict(ev)
            found[(rec["subject_table"], str(rec["subject_id"]))] = ev
        kind = TEXT_RULES[rule]
        cands: dict[tuple[str, str, str], list[str]] = {}
        for t, k, c, raw in self.q("SELECT DISTINCT tbl, CAST(id AS VARCHAR), col, raw FROM text_candidates "
                                   "WHERE kind = $kind ORDER BY 1, 2, 3, 4", {"kind": kind}):
            cands.setdefault((t, k, c), []).append(raw)
        texts: dict[tuple[str, str], dict] = {}
        for tbl, col in sorted({(f["subject_table"], str(found.get((f["subject_table"], f["subject_id"]), {})
                                                        .get("column", "")).split(".", 1)[-1]) for f in fs}):
            if not col or not self.has(tbl, col):
                continue
            pk = schema.table(tbl).primary_key
            keys = [f["subject_id"] for f in fs if f["subject_table"] == tbl]
            # a declared column from the audit's as_of view, an extra export column from the table
            src = _q(tbl) if schema.table(tbl).has(col) else self.real(tbl)
            texts[(tbl, col)] = {str(k): (v, h) for k, v, h in self.q(
                f"SELECT {_q(pk)}, {_q(col)}, sha256({_q(col)}) FROM {src} "
                f"WHERE list_contains($k, CAST({_q(pk)} AS VARCHAR))", {"k": keys})}
        for f in fs:
            tbl, key = f["subject_table"], f["subject_id"]
            ev = found.get((tbl, key))
            if ev is None:
                self.skipped.append(Skipped(rule, key, "the text no longer holds the number"))
                continue
            col = str(ev.get("column", "")).split(".", 1)[-1]
            values = set(ev.get(kind) or [])
            text, sha = texts.get((tbl, col), {}).get(key, (None, None))
            if text is None:
                self.skipped.append(Skipped(rule, key, "text not found"))
                continue
            spans = _spans(text, cands.get((tbl, key, col), []), values, kind)
            if not spans:
                self.skipped.append(Skipped(rule, key, "no span located"))
                continue
            cid = f["customer_id"]
            holds = self.holds(cid, tbl)
            if holds:
                self.hold_out(rule, f, cid, tbl, 1, holds)
                continue
            slot = self.ops.redact.setdefault((tbl, col), {})
            old = slot.get(key, ([], sha))[0]
            slot[key] = (_merge(old + spans), sha)
            self.act(rule, f, tbl, "redact", [col], [key],
                     f"{len(spans)} span(s) replaced by {REDACTED}")
            if tbl == "chat_messages" and self.has("transfers", "chat_id"):
                chat = self.cached("chat_of", lambda: self.grouped(
                    "SELECT message_id, chat_id FROM chat_messages WHERE list_contains($k, message_id)",
                    {"k": [x["subject_id"] for x in fs if x["subject_table"] == "chat_messages"]}))
                if key in chat:
                    self.notify_chats.setdefault(chat[key], set()).add((rule, key))


def _spans(text: str, candidates: list[str], values: set[str], kind: str) -> list[tuple[int, int]]:
    """0-based (start, end) of every occurrence of the detected numbers in ``text``."""
    spans = []
    for raw in candidates:
        if kind == "iban":
            compact = re.sub(r"\s", "", raw).upper()
            v = next((x for x in values if compact.startswith(x)), None)
            if v is None:
                continue
            n, end = 0, 0                       # the raw prefix that holds the IBAN's characters
            for i, ch in enumerate(raw):
                if ch.isalnum():
                    n += 1
                if n == len(v):
                    end = i + 1
                    break
            raw = raw[:end]
        elif re.sub(r"\D", "", raw) not in values:
            continue
        start = text.find(raw)
        while start >= 0:
            spans.append((start, start + len(raw)))
            start = text.find(raw, start + len(raw))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(set(spans)):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _redacted_expr(col: str, spans: list[tuple[int, int]]) -> str:
    """SQL rebuilding ``col`` with the spans replaced (DuckDB substr counts characters from 1)."""
    parts, pos = [], 0
    for s, e in spans:
        parts.append(f"substr({_q(col)}, {pos + 1}, {s - pos})")
        parts.append(_lit(REDACTED))
        pos = e
    parts.append(f"substr({_q(col)}, {pos + 1})")
    return " || ".join(parts)


# ---------------------------------------------------------------- the plan

def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[i:i + CHUNK] for i in range(0, len(keys), CHUNK)]


def _statements(p: _Planner, stamp_at: datetime) -> list[dict]:
    ops, out = p.ops, []

    def add(sql: str, expect: int, what: str) -> None:
        out.append({"id": f"S{len(out) + 1:04d}", "sql": sql, "expect": expect, "what": what})

    def pk(t: str) -> str:
        return schema.table(t).primary_key

    # NULLs, grouped by table and column set
    for t in sorted(ops.null):
        groups: dict[tuple[str, ...], list[str]] = {}
        for k, cols in ops.null[t].items():
            if not ops.deleted(t, k):
                groups.setdefault(tuple(sorted(cols)), []).append(k)
        for cols, keys in sorted(groups.items()):
            for chunk in _chunks(sorted(keys)):
                add(f"UPDATE {_q(t)} SET {', '.join(f'{_q(c)} = NULL' for c in cols)} "
                    f"WHERE {_q(pk(t))} IN ({', '.join(map(_lit, chunk))});",
                    len(chunk), f"{t}: set {', '.join(cols)} to NULL")
    for t in sorted(ops.stamp):
        keys = sorted(k for k in ops.stamp[t] if not ops.deleted(t, k))
        for chunk in _chunks(keys):
            add(f"UPDATE {_q(t)} SET \"anonymised_at\" = TIMESTAMPTZ {_lit(stamp_at.isoformat())} "
                f"WHERE {_q(pk(t))} IN ({', '.join(map(_lit, chunk))});",
                len(chunk), f"{t}: anonymised_at set")
    for t in sorted(ops.pseudo):
        groups2: dict[tuple[str, str], list[str]] = {}
        for k, pair in ops.pseudo[t].items():
            if not ops.deleted(t, k):
                groups2.setdefault(pair, []).append(k)
        for (old, new), keys in sorted(groups2.items()):
            for chunk in _chunks(sorted(keys)):
                add(f"UPDATE {_q(t)} SET \"customer_id\" = {_lit(new)} WHERE {_q(pk(t))} IN "
                    f"({', '.join(map(_lit, chunk))}) AND \"customer_id\" = {_lit(old)};",
                    len(chunk), f"{t}: customer_id replaced by a pseudonym")
    for (t, col), rows in sorted(ops.redact.items()):
        for k, (spans, sha) in sorted(rows.items()):
            if ops.deleted(t, k):
                continue
            add(f"UPDATE {_q(t)} SET {_q(col)} = {_redacted_expr(col, spans)} WHERE "
                f"{_q(pk(t))} = {_lit(k)} AND sha256({_q(col)}) = {_lit(sha)};",
                1, f"{t}.{col}: {len(spans)} span(s) redacted")
    for t in sorted(ops.delete, key=lambda t: (DELETE_ORDER.index(t) if t in DELETE_ORDER
                                               else len(DELETE_ORDER), t)):
        for chunk in _chunks(sorted(ops.delete[t])):
            add(f"DELETE FROM {_q(t)} WHERE {_q(pk(t))} IN ({', '.join(map(_lit, chunk))});",
                len(chunk), f"{t}: delete rows")
    return out


def _check_fiscal(p: _Planner) -> None:
    """No delete in a fiscal table; no fiscal field NULLed unless its order is past the ceiling."""
    for t in p.ops.delete:
        if t in FISCAL_TABLES:
            raise PrivauditError(f"plan error: would delete rows of the fiscal table {t}")
    for t, rows in p.ops.null.items():
        meta = schema.table(t)
        for k, cols in rows.items():
            fiscal = [c for c in cols if meta.has(c) and meta.column(c).fiscal]
            tag = k if t == "orders" else f"payment:{k}"
            if fiscal and tag not in p.fiscal_released:
                raise PrivauditError(f"plan error: would clear the fiscal fields {', '.join(fiscal)} "
                                     f"of {t} {k} inside its fiscal window")


def _notifications(p: _Planner) -> list[Notification]:
    """One line per recipient and person whose data it received: the transfers of the remediated
    customers, of the remediated orders and of the chats whose messages were redacted."""
    if not p.has("transfers", "recipient_id"):
        return []
    rc = p.present.get("recipients", set())
    sel = ", ".join(f"r.{c}" if c in rc else "NULL" for c in ("name", "role", "category", "country_code"))
    rjoin = "LEFT JOIN recipients r ON r.recipient_id = t.recipient_id" if "recipient_id" in rc else \
        "LEFT JOIN (SELECT NULL AS recipient_id) r ON false"
    found: dict[tuple[str, str | None], dict] = {}
    for col, reasons_by in (("customer_id", p.notify_customers), ("order_id", p.notify_orders),
                            ("chat_id", p.notify_chats)):
        if not reasons_by or not p.has("transfers", col):
            continue
        for key, tid, rid, name, role, cat, rcountry, cid, when, fields, country in p.q(
                f"SELECT t.{col}, t.transfer_id, t.recipient_id, {sel}, t.customer_id, "
                f"civil_date(t.transferred_at), t.fields, t.destination_country "
                f"FROM transfers t {rjoin} WHERE list_contains($keys, t.{col}) ORDER BY 2",
                {"keys": sorted(reasons_by)}):
            reasons = reasons_by[key]
            n = found.setdefault((rid, cid or (key if col == "customer_id" else None)), {
                "recipient": name, "role": role, "category": cat, "country": country or rcountry,
                "ids": set(), "dates": [], "fields": set(), "rules": set(), "subjects": set()})
            n["ids"].add(tid)
            if when is not None:
                n["dates"].append(when)
            n["fields"].update(fields or [])
            n["rules"].update(r for r, _ in reasons)
            n["subjects"].update(s for _, s in reasons)
    out = []
    for (rid, cid), n in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        ds = sorted(n["dates"])
        out.append(Notification(rid, n["recipient"], n["role"], n["category"], n["country"], cid,
                                sorted(n["rules"]), sorted(n["subjects"]), len(n["ids"]),
                                ds[0].isoformat() if ds else None,
                                ds[-1].isoformat() if ds else None, sorted(n["fields"])))
    return out


def _run_policy(run, policy: str | Path | Policy | None) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(policy)
    source, sha = run["policy"], run["policy_sha256"]
    pol = load_policy(source if source and Path(source).is_file() else None)
    if sha and pol.sha256 != sha:
        raise PrivauditError(f"run {run['run_id']}: its policy ({source}) has changed since the run; "
                             "pass --policy with the policy the run used")
    return pol


def plan(db: str | Path, run_id: str | None = None, out: str | Path = "remediation",
         policy: str | Path | Policy | None = None,
         progress: Callable[[str], None] | None = None) -> Plan:
    """The erasure worklist of a stored run (the latest when ``run_id`` is None); see the module
    docstring. Writes ``actions.csv``, ``remediate.sql``, ``held.csv``, ``notifications.csv``,
    ``skipped.csv`` and ``plan.json`` into ``out``."""
    from .findings import existing_columns, load_run, parameters, parse_as_of, prepare

    say = progress or (lambda _m: None)
    if not Path(db).exists():
        raise UnusableInputError(f"{db}: database not found (run 'privaudit load' first)")
    run_df, _rules, findings = load_run(db, run_id)
    run = run_df.iloc[0].to_dict()
    pol = _run_policy(run, policy)
    as_of_ts, as_of_date = parse_as_of(run["as_of"].to_pydatetime(), pol.timezone)
    now = datetime.now(timezone.utc)
    con = connect(db, read_only=True, timezone=pol.timezone,
                  retention_days=pol.auditor.retention_days)
    try:
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        present = existing_columns(con, catalog)
        prepare(con, pol, as_of_ts)
        p = _Planner(con, catalog, present, pol, parameters(pol, as_of_ts, as_of_date), as_of_ts, now)
        rows = [r for r in findings.to_dict("records") if r["rule_id"] in TARGETS]
        considered: dict[str, int] = {}
        by_rule: dict[str, list[dict]] = {}
        for f in rows:
            cid = f["customer_id"]
            f["customer_id"] = None if cid is None or cid != cid else str(cid)   # NaN: none
            f["subject_id"] = str(f["subject_id"])
            by_rule.setdefault(f["rule_id"], []).append(f)
            considered[f["rule_id"]] = considered.get(f["rule_id"], 0) + 1
        p.prime(rows)
        for rule in TARGETS:
            fs = by_rule.get(rule, [])
            if not fs:
                continue
            say(f"planning {rule}: {len(fs)} findings")
            if rule in TEXT_RULES:
                p.text_findings(rule, fs)
                continue
            for f in fs:
                if rule in CUSTOMER_RULES:
                    p.customer_finding(rule, f)
                elif rule in ORDER_RULES:
                    p.order_finding(rule, f)
                else:
                    p.send_finding(rule, f)
        _check_fiscal(p)
        statements = _statements(p, now)
        notifications = _notifications(p)
    finally:
        con.close()
    held_subjects = {(h.rule_id, h.subject_id) for h in p.held}
    skipped = {(s.rule_id, s.subject_id) for s in p.skipped}
    remediated: dict[str, list[str]] = {}
    for a in p.actions:
        if (a.rule_id, a.subject_id) not in held_subjects | skipped:
            remediated.setdefault(a.rule_id, [])
            if a.subject_id not in remediated[a.rule_id]:
                remediated[a.rule_id].append(a.subject_id)
    result = Plan("RP-" + now.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6], run["run_id"],
                  as_of_ts, as_of_date, Path(db), pol, Path(out), p.actions, p.held, p.skipped,
                  notifications, statements, remediated, considered,
                  {t: sorted(keys) for t, keys in p.ops.delete.items()})
    _write_plan(result)
    return result


def _csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """A private, spreadsheet-safe CSV (``toolkit.outputs``)."""
    outputs.write_csv(path, columns, ({k: (" ".join(v) if isinstance(v, list) else v)
                                       for k, v in r.items()} for r in rows))


def _write_plan(plan: Plan) -> None:
    out = plan.out
    outputs.private_dir(out)
    _csv(out / "actions.csv", [asdict(a) | {"rows": len(a.keys)} for a in plan.actions],
         ["action_id", "rule_id", "subject_table", "subject_id", "customer_id", "table", "action",
          "columns", "rows", "keys", "note"])
    _csv(out / "held.csv", [asdict(h) for h in plan.held],
         ["rule_id", "subject_id", "customer_id", "table", "rows", "hold_ids", "reasons"])
    _csv(out / "skipped.csv", [asdict(s) for s in plan.skipped], ["rule_id", "subject_id", "reason"])
    _csv(out / "notifications.csv",
         [asdict(n) | {"action": "Art. 19: tell the recipient the data were erased or rectified; "
                                 "ask it to do the same (Art. 17(2); processors: Art. 28(3)(g))"}
          for n in plan.notifications],
         ["recipient_id", "recipient", "role", "category", "country", "customer_id", "rules",
          "subjects", "transfers", "first_date", "last_date", "fields", "action"])
    lines = [f"-- privaudit remediation plan {plan.plan_id}",
             f"-- run {plan.run_id} as of {plan.as_of_date}; database {plan.db}",
             f"-- {len(plan.actions)} actions, {len(plan.held)} held (left out), "
             f"{len(plan.notifications)} Art. 19 notifications: see actions.csv, held.csv, "
             "notifications.csv",
             "-- Apply it to a copy first: privaudit remediate --db DB --run RUN --out DIR --apply",
             "-- Every statement names the number of rows it must change; one transaction.",
             "BEGIN TRANSACTION;"]
    for s in plan.statements:
        lines.append(f"-- [{s['id']}] expect {s['expect']} row{'s' if s['expect'] != 1 else ''}: {s['what']}")
        lines.append(s["sql"])
    lines.append("COMMIT;")
    plan.sql = out / "remediate.sql"
    outputs.write_text(plan.sql, "\n".join(lines) + "\n")
    meta = {"plan_id": plan.plan_id, "run_id": plan.run_id, "as_of": plan.as_of.isoformat(),
            "as_of_date": plan.as_of_date.isoformat(), "db": str(plan.db),
            "policy": {"source": plan.policy.source, "sha256": plan.policy.sha256},
            "toolkit_version": __version__, "targets": list(TARGETS),
            "findings": plan.findings, "remediated": plan.remediated,
            "actions": len(plan.actions), "held": len(plan.held), "skipped": len(plan.skipped),
            "notifications": len(plan.notifications),
            "statements": [{k: v for k, v in s.items() if k != "sql"} for s in plan.statements]}
    outputs.write_text(out / "plan.json", json.dumps(meta, indent=2) + "\n")


# ---------------------------------------------------------------- applying and proving

@dataclass
class RuleChange:
    rule_id: str
    target: bool
    before: int
    after: int
    excluded_before: int
    excluded_after: int
    remediated: int             # subjects the plan closes
    remaining: int              # of those, still violations after
    new: int                    # violations after that were not there before
    gone: int                   # violations before that are gone after
    verdict: str


@dataclass
class ApplyResult:
    plan: Plan
    db: Path                    # the database the script ran on (the copy)
    changed_rows: int
    rules: list[RuleChange]
    drift: list[str] = field(default_factory=list)   # rules whose counts differ from the run's
    before: Any = None          # the AuditResult of the copy before the script (not stored)
    after: Any = None           # the AuditResult after it (stored in the copy)

    @property
    def ok(self) -> bool:
        return all(r.verdict in ("closed", "unchanged", "subjects erased") for r in self.rules)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame([asdict(r) for r in self.rules])


def _copy_db(src: Path, dst: Path) -> None:
    outputs.private_dir(dst.parent)
    for suffix in ("", ".wal"):
        s, d = Path(str(src) + suffix), Path(str(dst) + suffix)
        d.unlink(missing_ok=True)
        if s.exists():
            shutil.copyfile(s, d)
            d.chmod(0o600)


def execute_script(db: str | Path, script: str | Path) -> int:
    """Run a remediation script on ``db``: every statement must change exactly the rows it
    names, else everything is rolled back. Returns the number of rows changed."""
    text = Path(script).read_text(encoding="utf-8")
    expects = STATEMENT_RE.findall(text)
    con = connect(db)
    total = 0
    try:
        stmts = con.extract_statements(text)
        dml = [s for s in stmts if s.type.name in ("UPDATE", "DELETE")]
        if len(dml) != len(expects):
            raise PrivauditError(f"{script}: {len(dml)} statements but {len(expects)} expectations; "
                                 "the script was edited by hand?")
        i = 0
        for s in stmts:
            res = con.execute(s)
            if s.type.name not in ("UPDATE", "DELETE"):
                continue
            sid, want = expects[i]
            i += 1
            got = res.fetchone()[0]
            if got != int(want):
                con.execute("ROLLBACK")
                raise PrivauditError(f"{script}: statement {sid} changed {got} rows instead of {want}; "
                                     "nothing was applied (the database changed since the plan?)")
            total += got
    except duckdb.Error as e:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise PrivauditError(f"{script}: {str(e).splitlines()[0]}; nothing was applied") from None
    finally:
        con.close()
    return total


def apply(plan: Plan, copy: str | Path | None = None, in_place: bool = False,
          progress: Callable[[str], None] | None = None) -> ApplyResult:
    """Apply ``plan``'s script to a copy of its database (``copy``, default
    ``OUT/remediated.duckdb``; the original itself only with ``in_place=True``), audit before and
    after and compare (``before_after.csv`` in the plan's folder)."""
    from .findings import audit, load_run

    say = progress or (lambda _m: None)
    src = plan.db
    if in_place:
        target = src
    else:
        target = Path(copy) if copy is not None else plan.out / "remediated.duckdb"
        if target.resolve() == src.resolve():
            raise PrivauditError(f"--copy {target}: that is the original database; use --in-place "
                                 "to change the original on purpose")
        say(f"copying {src} to {target}")
        _copy_db(src, target)
    say("auditing before")
    before = audit(target, plan.as_of, policy=plan.policy, store=False)
    say("applying the script")
    changed = execute_script(target, plan.sql or plan.out / "remediate.sql")
    say("auditing after")
    after = audit(target, plan.as_of, policy=plan.policy, store=True)

    _run, stored_rules, _f = load_run(src, plan.run_id)
    stored = {r["rule_id"]: r["violations"] for r in stored_rules.to_dict("records")}
    b_rules = {r.rule_id: r for r in before.rules}
    a_rules = {r.rule_id: r for r in after.rules}
    drift = [rid for rid, r in b_rules.items() if rid in stored and stored[rid] != r.violations]

    def subjects(res, rid):
        return {(f["subject_table"], f["subject_id"]) for f in res.findings if f["rule_id"] == rid}
    deleted = {(t, k) for t, keys in plan.deleted.items() for k in keys}
    changes = []
    for rid in b_rules:
        if rid not in a_rules:
            continue
        b, a = subjects(before, rid), subjects(after, rid)
        target_rule = rid in TARGETS
        fixed = set(plan.remediated.get(rid, []))
        remaining = len({k for _, k in a} & fixed)
        new, gone = len(a - b), len(b - a)
        if target_rule:
            verdict = "closed" if not remaining and not new else "NOT CLOSED"
            if not fixed and not new and not gone:
                verdict = "unchanged"
        elif a == b:
            verdict = "unchanged"
        elif not new and (b - a) <= deleted:
            # the violating rows themselves were erased by the plan (e.g. a send to an erased
            # customer that was also sent after the unsubscribe): the stored run keeps the finding
            verdict = "subjects erased"
        else:
            verdict = "CHANGED"
        changes.append(RuleChange(rid, target_rule, len(b), len(a), b_rules[rid].excluded,
                                  a_rules[rid].excluded, len(fixed), remaining, new, gone, verdict))
    result = ApplyResult(plan, target, changed, changes, drift, before, after)
    _csv(plan.out / "before_after.csv", [asdict(c) for c in changes],
         list(RuleChange.__dataclass_fields__))
    return result
