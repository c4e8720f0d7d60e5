"""A plain pandas implementation of five rules, written the way an analyst would.

RET-001, SHR-002, NWS-001, NWS-003 and DSR-001 on DataFrames pulled from the loaded database:
the reference the audit's speed is compared with (``benchmarks.scale``). It follows the same
semantics as the toolkit's rules (Amsterdam civil dates, calendar months, holds, the working-day
roll), so the finding counts of both must agree; the benchmark reports whether they do.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pandas as pd

TZ = "Europe/Amsterdam"
PII = ["first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city"]
RESIDUE = ["visits", "chats", "calls", "newsletter_consent_events", "newsletter_sends"]
OPT_IN = {"subscribe", "confirm", "resubscribe"}
OPT_OUT = {"unsubscribe", "object_profiling"}
BAD_METHODS = {"implied_by_visit", "continued_use", "pre_ticked", "bundled_terms", "unknown"}
STOP_REQUESTS = {"withdraw_consent", "objection_marketing", "erasure", "deauthorisation"}
TABLES = ["customers", "visits", "orders", "chats", "calls", "newsletter_consent_events",
          "newsletter_sends", "recipients", "recipient_agreements", "transfers", "dsr_requests",
          "legal_holds"]


def read_tables(db: str, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The tables the five rules need, as an analyst would pull them (rows up to as_of)."""
    import duckdb
    con = duckdb.connect(db, read_only=True)
    con.execute(f"SET TimeZone = '{TZ}'")
    event = {"customers": "created_at", "visits": "started_at", "orders": "placed_at",
             "chats": "started_at", "calls": "started_at", "newsletter_consent_events": "occurred_at",
             "newsletter_sends": "sent_at", "transfers": "transferred_at", "dsr_requests": "received_at",
             "legal_holds": "opened_at"}
    out = {}
    for t in TABLES:
        df = con.execute(f'SELECT * FROM "{t}"').df()
        if t in event:
            col = event[t]
            df = df[df[col].isna() | (df[col] <= as_of)]
        out[t] = df
    con.close()
    return out


def civil(s: pd.Series) -> pd.Series:
    return s.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()


def add_months(d: pd.Series, n: int) -> pd.Series:
    return d + pd.DateOffset(months=n)          # clamps to the month's end


def ret_001(t: dict, as_of: pd.Timestamp, months: int = 12, grace: int = 0) -> set:
    as_of_d = as_of.tz_convert(TZ).tz_localize(None).normalize()
    c = t["customers"].copy()
    c["person"] = c["person_key"].where(c["person_key"].notna() & (c["person_key"] != ""),
                                        c["customer_id"])
    v = t["visits"]
    human = v[v["origin"].isin(["web", "app"]) & ~v["is_bot"].fillna(False).astype(bool)]
    human = human.merge(c[["customer_id", "person"]], on="customer_id")
    last_visit = human.groupby("person")["started_at"].max().rename("last_visit")
    last_order = t["orders"].groupby("customer_id")["placed_at"].max().rename("last_order")
    c = c.merge(last_visit, left_on="person", right_index=True, how="left")
    c = c.merge(last_order, left_on="customer_id", right_index=True, how="left")
    fallback = c[["created_at", "last_order", "last_login_at"]].max(axis=1)
    c["anchor"] = c["last_visit"].fillna(fallback)
    c["due"] = add_months(civil(c["anchor"]), months)
    expired = c[as_of_d > c["due"] + pd.Timedelta(days=grace)].copy()

    holds = t["legal_holds"]
    holds = holds[holds["customer_id"].notna()]

    def covers(cid: str, table: str) -> tuple[bool, pd.Timestamp | None]:
        h = holds[holds["customer_id"] == cid]
        open_, released = False, None
        for _, row in h.iterrows():
            scope = row["scope_tables"]
            if scope is not None and len(scope) > 0 and table not in list(scope):
                continue
            if row["opened_at"] <= as_of and (pd.isna(row["closed_at"]) or row["closed_at"] > as_of):
                open_ = True
            elif pd.notna(row["closed_at"]) and row["closed_at"] <= as_of:
                d = row["closed_at"].tz_convert(TZ).tz_localize(None).normalize()
                released = d if released is None else max(released, d)
        return open_, released

    counts = {tbl: t[tbl].groupby("customer_id").size() for tbl in RESIDUE}
    flagged = set()
    held_customers = set(holds["customer_id"])
    for _, row in expired.iterrows():
        cid = row["customer_id"]
        tables = []
        if any(pd.notna(row.get(col)) for col in PII if col in row.index):
            tables.append("customers")
        tables += [tbl for tbl in RESIDUE if counts[tbl].get(cid, 0) > 0]
        for tbl in tables:
            if cid in held_customers:
                held, released = covers(cid, tbl)
                if held:
                    continue
                if released is not None and not as_of_d > max(row["due"], released) + pd.Timedelta(days=grace):
                    continue
            flagged.add(cid)
            break
    return flagged


def shr_002(t: dict) -> set:
    tr = t["transfers"].merge(t["recipients"][["recipient_id", "role", "category"]], on="recipient_id")
    tr = tr[(tr["role"] != "authority") & (tr["category"] != "authority")].copy()
    tr["d"] = civil(tr["transferred_at"])
    a = t["recipient_agreements"].copy()
    for col in ("signed_on", "valid_from", "valid_to", "terminated_on"):
        a[col] = pd.to_datetime(a[col])
    m = tr[["transfer_id", "recipient_id", "role", "d"]].merge(a, on="recipient_id", how="left")
    start = m["signed_on"].fillna(m["valid_from"])
    begin = m["valid_from"].fillna(m["signed_on"])
    ok = ((start <= m["d"]) & (begin <= m["d"]) & (m["valid_to"].isna() | (m["d"] <= m["valid_to"]))
          & (m["terminated_on"].isna() | (m["d"] < m["terminated_on"])))
    ok &= ~m["role"].isin(["processor", "sub_processor"]) | (m["agreement_type"] == "dpa_art28")
    ok &= (m["role"] != "joint_controller") | (m["agreement_type"] == "joint_art26")
    covered = m[ok]["transfer_id"].unique()
    return set(tr["transfer_id"]) - set(covered)


def _people(t: dict) -> pd.DataFrame:
    c = t["customers"][["customer_id", "person_key"]].copy()
    c["person"] = c["person_key"].where(c["person_key"].notna() & (c["person_key"] != ""),
                                        c["customer_id"])
    return c[["customer_id", "person"]]


def _with_person(df: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    out = df.merge(people, on="customer_id", how="left")
    out["person"] = out["person"].fillna(out["customer_id"])
    return out


def nws_001(t: dict) -> set:
    people = _people(t)
    ev = _with_person(t["newsletter_consent_events"], people).dropna(subset=["occurred_at"])
    ev = ev.sort_values(["occurred_at", "event_id"]).drop_duplicates(
        ["person", "newsletter_type", "occurred_at"], keep="last")
    s = _with_person(t["newsletter_sends"], people).dropna(subset=["sent_at"])
    s = s.sort_values("sent_at")
    ev = ev.sort_values("occurred_at")
    m = pd.merge_asof(s, ev[["person", "newsletter_type", "occurred_at", "action", "method"]],
                      left_on="sent_at", right_on="occurred_at", by=["person", "newsletter_type"],
                      direction="backward", allow_exact_matches=True)
    bad = m["action"].isna() | ~m["action"].isin(OPT_IN) | m["method"].isin(BAD_METHODS)
    return set(m[bad]["send_id"])


def nws_003(t: dict, grace_days: int = 2) -> set:
    people = _people(t)
    ev = _with_person(t["newsletter_consent_events"], people).dropna(subset=["occurred_at"])
    stops = ev[ev["action"].isin(OPT_OUT)][["person", "newsletter_type", "occurred_at"]]
    d = _with_person(t["dsr_requests"], people)
    d = d[d["type"].isin(STOP_REQUESTS) & d["received_at"].notna()]
    stops = pd.concat([stops.rename(columns={"occurred_at": "at"}),
                       d[["person"]].assign(newsletter_type=None, at=d["received_at"])])
    s = _with_person(t["newsletter_sends"], people).dropna(subset=["sent_at"])
    m = s[["send_id", "person", "newsletter_type", "sent_at"]].merge(
        stops.rename(columns={"newsletter_type": "stop_type"}), on="person")
    m = m[(m["stop_type"].isna() | (m["stop_type"] == m["newsletter_type"]))
          & (m["sent_at"] > m["at"] + pd.Timedelta(days=grace_days))]
    m = m.sort_values("at").groupby("send_id").tail(1)
    ins = ev[ev["action"].isin(OPT_IN)][["person", "newsletter_type", "occurred_at"]]
    x = m.merge(ins, on=["person", "newsletter_type"], how="left")
    resub = x[(x["occurred_at"] > x["at"]) & (x["occurred_at"] <= x["sent_at"])]["send_id"]
    return set(m["send_id"]) - set(resub)


def _holidays(year: int) -> set[date]:
    from toolkit.dates import nl_holidays
    return set(nl_holidays(year))


def _roll(d: date) -> date:
    while d.isoweekday() > 5 or d in _holidays(d.year):
        d += timedelta(days=1)
    return d


def dsr_001(t: dict, as_of: pd.Timestamp) -> set:
    as_of_d = as_of.tz_convert(TZ).date()
    r = t["dsr_requests"].dropna(subset=["received_at"]).copy()
    r["answered"] = r["answered_at"].where(r["answered_at"] <= as_of)
    r["ext"] = r["extension_notified_at"].where(r["extension_notified_at"] <= as_of)
    recv = civil(r["received_at"])
    r["due1"] = add_months(recv, 1).dt.date.map(_roll)
    r["due3"] = add_months(recv, 3).dt.date.map(_roll)
    ext_d = civil(r["ext"]).dt.date
    valid = r["ext"].notna() & (ext_d <= r["due1"])
    r["due"] = r["due3"].where(valid, r["due1"])
    ans = civil(r["answered"]).dt.date
    late = (r["answered"].isna() & (as_of_d > r["due"])) | (r["answered"].notna() & (ans > r["due"]))
    return set(r[late]["dsr_id"])


def run(db: str, as_of: str = "2026-10-31") -> dict:
    """Stage for the benchmark: read the tables and evaluate the five rules; counts and times."""
    from toolkit.findings import parse_as_of
    ts, _ = parse_as_of(as_of)
    as_of_ts = pd.Timestamp(ts)
    t0 = time.perf_counter()
    tables = read_tables(db, as_of_ts)
    t1 = time.perf_counter()
    results = {"RET-001": ret_001(tables, as_of_ts), "SHR-002": shr_002(tables),
               "NWS-001": nws_001(tables), "NWS-003": nws_003(tables),
               "DSR-001": dsr_001(tables, as_of_ts)}
    t2 = time.perf_counter()
    return {"read_seconds": t1 - t0, "rules_seconds": t2 - t1,
            "violations": {k: len(v) for k, v in results.items()}}
