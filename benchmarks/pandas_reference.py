"""A careful pandas implementation of five rules, straight from the export files (no database).

    python -m benchmarks.pandas_reference EXPORT_DIR [--as-of 2026-10-31]

RET-001, SHR-002, NWS-001, NWS-003 and DSR-001, written the way a careful analyst would: the
files read with pyarrow (its CSV reader, as ``pd.read_csv(engine="pyarrow")`` uses it, and its
JSON reader with an explicit schema, so only the needed columns and fields are parsed; Parquet), only the columns the rules need, and every
rule vectorised (merges, ``merge_asof`` for the consent in force, group-bys; no row loops). It is
the bar the audit is measured against (``benchmarks.speed``), so it must be a fair one. It follows
the toolkit's semantics (Amsterdam civil dates, calendar months clamped to the month's end, legal
holds per table, the working-day roll), so its finding counts must equal the audit's; the
benchmark reports whether they do. Prints one JSON line: counts and the seconds of reading and
of the rules.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

TZ = "Europe/Amsterdam"
PII = ["first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city",
       "birth_date", "gender", "password_hash", "notes"]
RESIDUE = ["visits", "chats", "calls", "newsletter_consent_events", "newsletter_sends"]
OPT_IN = {"subscribe", "confirm", "resubscribe"}
OPT_OUT = {"unsubscribe", "object_profiling"}
BAD_METHODS = {"implied_by_visit", "continued_use", "pre_ticked", "bundled_terms", "unknown"}
STOP_REQUESTS = {"withdraw_consent", "objection_marketing", "erasure", "deauthorisation"}

# the columns each rule needs, by table; the first timestamp listed is the table's event time
COLUMNS = {
    "customers": ["customer_id", "person_key", "created_at", "last_login_at", *PII],
    "visits": ["customer_id", "started_at", "origin", "is_bot"],
    "orders": ["customer_id", "placed_at"],
    "chats": ["customer_id", "started_at"],
    "calls": ["customer_id", "started_at"],
    "newsletter_consent_events": ["event_id", "customer_id", "newsletter_type", "action",
                                  "occurred_at", "method"],
    "newsletter_sends": ["send_id", "customer_id", "newsletter_type", "sent_at"],
    "recipients": ["recipient_id", "role", "category"],
    "recipient_agreements": ["recipient_id", "agreement_type", "signed_on", "valid_from",
                             "valid_to", "terminated_on"],
    "transfers": ["transfer_id", "recipient_id", "transferred_at"],
    "dsr_requests": ["dsr_id", "customer_id", "type", "received_at", "answered_at",
                     "extension_notified_at"],
    "legal_holds": ["customer_id", "scope_tables", "opened_at", "closed_at"],
}
EVENT_TIME = {"customers": "created_at", "visits": "started_at", "orders": "placed_at",
              "chats": "started_at", "calls": "started_at", "newsletter_consent_events": "occurred_at",
              "newsletter_sends": "sent_at", "transfers": "transferred_at",
              "dsr_requests": "received_at", "legal_holds": "opened_at"}
TIMESTAMPS = {"created_at", "last_login_at", "started_at", "placed_at", "occurred_at", "sent_at",
              "transferred_at", "received_at", "answered_at", "extension_notified_at",
              "opened_at", "closed_at"}
DATES = {"signed_on", "valid_from", "valid_to", "terminated_on"}


# ---------------------------------------------------------------- reading the files

def _file(folder: Path, table: str) -> Path:
    hits = [p for p in folder.iterdir() if p.is_file() and p.name.split(".")[0] == table]
    if len(hits) != 1:
        raise SystemExit(f"{folder}: expected one export file of {table}, found {len(hits)}")
    return hits[0]


def _delimiter(path: Path) -> str:
    import gzip
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig") as f:
        header = f.readline()
    return max(";,\t|", key=header.count)


def _ts(s: pd.Series) -> pd.Series:
    """A UTC timestamp column, however the reader typed it (ISO 8601 with Z or an offset)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC")
    return pd.to_datetime(s, utc=True, format="ISO8601")


def _read_csv(path: Path, wanted: list[str]) -> pd.DataFrame:
    """pyarrow's CSV reader (what ``pd.read_csv(engine="pyarrow")`` calls), used directly for
    its options: only the needed columns; quoted line breaks (a call transcript) only where a
    file has them, since they cost the reader its parallel chunking."""
    import pyarrow as pa
    import pyarrow.csv as pc

    sep = _delimiter(path)
    header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns
    convert = pc.ConvertOptions(include_columns=[c for c in wanted if c in header],
                                timestamp_parsers=[pc.ISO8601], strings_can_be_null=True)
    try:
        t = pc.read_csv(path, parse_options=pc.ParseOptions(delimiter=sep),
                        convert_options=convert)
    except pa.ArrowInvalid:
        t = pc.read_csv(path, parse_options=pc.ParseOptions(delimiter=sep, newlines_in_values=True),
                        convert_options=convert)
    return t.to_pandas()


def read_table(folder: Path, table: str) -> pd.DataFrame:
    """Only the needed columns of one table's file, read with pyarrow."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    path = _file(folder, table)
    name = path.name.lower()
    wanted = COLUMNS[table]
    if name.endswith(".parquet"):
        have = set(pq.read_schema(path).names)
        df = pq.read_table(path, columns=[c for c in wanted if c in have]).to_pandas()
    elif name.endswith(".jsonl"):
        # parse only the needed fields (timestamps as text: the offsets vary)
        schema = pa.schema([(c, pa.bool_() if c == "is_bot" else pa.string()) for c in wanted])
        opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        df = pj.read_json(path, parse_options=opts).to_pandas()
    elif name.endswith(".json"):
        df = pd.read_json(path, dtype=False)
        df = df[[c for c in wanted if c in df.columns]]
    else:
        df = _read_csv(path, wanted)
    for c in df.columns:
        if c in TIMESTAMPS:
            df[c] = _ts(df[c])
        elif c in DATES:
            df[c] = pd.to_datetime(df[c], format="ISO8601")
    for c in wanted:                     # an optional column the export lacks is all NULL
        if c not in df.columns:
            df[c] = None
    return df


def read_files(folder: str | Path, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Every table the five rules need, rows dated after ``as_of`` left out (as the audit does)."""
    folder = Path(folder)
    out = {}
    for table in COLUMNS:
        df = read_table(folder, table)
        col = EVENT_TIME.get(table)
        if col is not None:
            df = df[df[col].isna() | (df[col] <= as_of)]
        out[table] = df
    return out


# ---------------------------------------------------------------- the rules

def civil(s: pd.Series) -> pd.Series:
    """The Amsterdam civil date of UTC timestamps (as naive midnight timestamps)."""
    return s.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()


def add_months(d: pd.Series, n: int) -> pd.Series:
    return d + pd.DateOffset(months=n)          # clamps to the month's end


def _in(values: pd.Series, among: pd.Series) -> pd.Series:
    """``values.isin(among)`` through a hash index (pandas 3's ``isin`` on Arrow strings turns
    every value of ``among`` into a Python object first: seconds on a million ids)."""
    index = pd.Index(among.dropna().unique())
    return pd.Series(index.get_indexer(values) >= 0, index=values.index)


def _people(t: dict) -> pd.DataFrame:
    c = t["customers"][["customer_id", "person_key"]]
    person = c["person_key"].where(c["person_key"].notna() & (c["person_key"] != ""),
                                   c["customer_id"])
    return pd.DataFrame({"customer_id": c["customer_id"], "person": person})


def _with_person(df: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    out = df.merge(people, on="customer_id", how="left")
    out["person"] = out["person"].fillna(out["customer_id"])
    return out


def ret_001(t: dict, as_of: pd.Timestamp, months: int = 12, grace: int = 0) -> set:
    """Expired customers (anchor: the person's last human visit, else the latest of created,
    last order, last login) with personal data left in a table no legal hold covers."""
    as_of_d = as_of.tz_convert(TZ).tz_localize(None).normalize()
    people = _people(t)
    c = t["customers"].merge(people, on="customer_id")
    v = t["visits"]
    human = v.loc[v["origin"].isin(["web", "app"]) & ~v["is_bot"].fillna(False).astype(bool),
                  ["customer_id", "started_at"]]
    human = human.merge(people, on="customer_id")
    last_visit = human.groupby("person")["started_at"].max().rename("last_visit")
    last_order = t["orders"].groupby("customer_id")["placed_at"].max().rename("last_order")
    c = c.merge(last_visit, left_on="person", right_index=True, how="left")
    c = c.merge(last_order, left_on="customer_id", right_index=True, how="left")
    fallback = c[["created_at", "last_order", "last_login_at"]].max(axis=1)
    c["anchor"] = c["last_visit"].fillna(fallback)
    c["due"] = add_months(civil(c["anchor"]), months)
    expired = c[as_of_d > c["due"] + pd.Timedelta(days=grace)]

    # (customer, table) pairs holding personal data of an expired customer
    pii = [col for col in PII if col in expired.columns]
    parts = [pd.DataFrame({"customer_id": expired.loc[expired[pii].notna().any(axis=1), "customer_id"],
                           "tbl": "customers"})]
    ids = expired["customer_id"]
    for tbl in RESIDUE:
        present = ids[_in(ids, t[tbl]["customer_id"])]
        parts.append(pd.DataFrame({"customer_id": present, "tbl": tbl}))
    pairs = pd.concat(parts, ignore_index=True).merge(expired[["customer_id", "due"]], on="customer_id")

    # legal holds, one row per (customer, table covered); no scope means every table
    h = t["legal_holds"].dropna(subset=["customer_id"]).copy()
    h["tbl"] = h["scope_tables"].fillna("").str.split("|")
    h = h.explode("tbl")
    h["tbl"] = h["tbl"].replace("", None)
    h["open"] = (h["opened_at"] <= as_of) & (h["closed_at"].isna() | (h["closed_at"] > as_of))
    h["released"] = civil(h["closed_at"]).where(~h["open"] & (h["closed_at"] <= as_of))
    scoped = pairs.merge(h[h["tbl"].notna()][["customer_id", "tbl", "open", "released"]],
                         on=["customer_id", "tbl"])
    unscoped = pairs.merge(h[h["tbl"].isna()][["customer_id", "open", "released"]], on="customer_id")
    held = pd.concat([scoped, unscoped]).groupby(["customer_id", "tbl"]).agg(
        open=("open", "any"), released=("released", "max"))
    pairs = pairs.merge(held, left_on=["customer_id", "tbl"], right_index=True, how="left")
    open_ = pairs["open"].fillna(False).astype(bool)
    still_released = pairs["released"].notna() & ~(
        as_of_d > pairs[["due", "released"]].max(axis=1) + pd.Timedelta(days=grace))
    return set(pairs.loc[~open_ & ~still_released, "customer_id"])


def shr_002(t: dict) -> set:
    """Transfers to a non-authority recipient without an agreement of the right type in force
    on the transfer's civil date."""
    tr = t["transfers"].merge(t["recipients"], on="recipient_id")
    tr = tr[(tr["role"] != "authority") & (tr["category"] != "authority")].copy()
    tr["d"] = civil(tr["transferred_at"])
    a = t["recipient_agreements"]
    m = tr[["transfer_id", "recipient_id", "role", "d"]].merge(a, on="recipient_id", how="left")
    start = m["signed_on"].fillna(m["valid_from"])
    begin = m["valid_from"].fillna(m["signed_on"])
    ok = ((start <= m["d"]) & (begin <= m["d"]) & (m["valid_to"].isna() | (m["d"] <= m["valid_to"]))
          & (m["terminated_on"].isna() | (m["d"] < m["terminated_on"])))
    ok &= ~m["role"].isin(["processor", "sub_processor"]) | (m["agreement_type"] == "dpa_art28")
    ok &= (m["role"] != "joint_controller") | (m["agreement_type"] == "joint_art26")
    covered = ok.groupby(m["transfer_id"]).any()
    return set(covered.index[~covered.to_numpy()])


def nws_001(t: dict, people: pd.DataFrame) -> set:
    """Sends without a valid opt-in in force when sent (the person's latest consent event)."""
    ev = _with_person(t["newsletter_consent_events"], people).dropna(subset=["occurred_at"])
    ev = ev.sort_values(["occurred_at", "event_id"]).drop_duplicates(
        ["person", "newsletter_type", "occurred_at"], keep="last")
    s = _with_person(t["newsletter_sends"], people).dropna(subset=["sent_at"]).sort_values("sent_at")
    m = pd.merge_asof(s, ev[["person", "newsletter_type", "occurred_at", "action", "method"]],
                      left_on="sent_at", right_on="occurred_at", by=["person", "newsletter_type"],
                      direction="backward", allow_exact_matches=True)
    bad = m["action"].isna() | ~m["action"].isin(OPT_IN) | m["method"].isin(BAD_METHODS)
    return set(m.loc[bad, "send_id"])


def nws_003(t: dict, people: pd.DataFrame, grace_days: int = 2) -> set:
    """Sends more than the grace period after an opt-out or a stop request, with no new opt-in
    in between."""
    ev = _with_person(t["newsletter_consent_events"], people).dropna(subset=["occurred_at"])
    stops = ev.loc[ev["action"].isin(OPT_OUT), ["person", "newsletter_type", "occurred_at"]]
    d = _with_person(t["dsr_requests"], people)
    d = d[d["type"].isin(STOP_REQUESTS) & d["received_at"].notna()]
    stops = pd.concat([stops.rename(columns={"occurred_at": "at"}),
                       d[["person"]].assign(newsletter_type=None, at=d["received_at"])])
    s = _with_person(t["newsletter_sends"], people).dropna(subset=["sent_at"])
    s = s.loc[_in(s["person"], stops["person"]), ["send_id", "person", "newsletter_type", "sent_at"]]
    m = s.merge(stops.rename(columns={"newsletter_type": "stop_type"}), on="person")
    m = m[(m["stop_type"].isna() | (m["stop_type"] == m["newsletter_type"]))
          & (m["sent_at"] > m["at"] + pd.Timedelta(days=grace_days))]
    m = m.sort_values("at").groupby("send_id").tail(1)
    ins = ev.loc[ev["action"].isin(OPT_IN), ["person", "newsletter_type", "occurred_at"]]
    x = m.merge(ins, on=["person", "newsletter_type"])
    resub = x.loc[(x["occurred_at"] > x["at"]) & (x["occurred_at"] <= x["sent_at"]), "send_id"]
    return set(m["send_id"]) - set(resub)


def _rolled(days: pd.Series) -> pd.Series:
    """Each date rolled to the next Dutch working day (computed once per distinct date)."""
    from toolkit.dates import nl_holidays

    holidays: dict[int, set] = {}

    def roll(d: date) -> date:
        while d.isoweekday() > 5 or d in holidays.setdefault(d.year, set(nl_holidays(d.year))):
            d += timedelta(days=1)
        return d

    unique = pd.Series(days.unique())
    table = dict(zip(unique, unique.map(lambda x: roll(x.date()))))
    return days.map(table)


def dsr_001(t: dict, as_of: pd.Timestamp) -> set:
    """Requests answered after (or unanswered past) one month, or three with an extension
    notified in time; the deadline rolls to the next working day."""
    as_of_d = as_of.tz_convert(TZ).date()
    r = t["dsr_requests"].dropna(subset=["received_at"]).copy()
    answered = r["answered_at"].where(r["answered_at"] <= as_of)
    ext = r["extension_notified_at"].where(r["extension_notified_at"] <= as_of)
    recv = civil(r["received_at"])
    due1 = _rolled(add_months(recv, 1))
    due3 = _rolled(add_months(recv, 3))
    valid = ext.notna() & (civil(ext).dt.date <= due1)
    due = due3.where(valid, due1)
    ans = civil(answered).dt.date
    late = (answered.isna() & (as_of_d > due)) | (answered.notna() & (ans > due))
    return set(r.loc[late, "dsr_id"])


def run(export_dir: str, as_of: str = "2026-10-31") -> dict:
    """Read the files and evaluate the five rules; counts and times."""
    from toolkit.findings import parse_as_of
    ts, _ = parse_as_of(as_of)
    as_of_ts = pd.Timestamp(ts).tz_convert("UTC")
    t0 = time.perf_counter()
    tables = read_files(export_dir, as_of_ts)
    t1 = time.perf_counter()
    people = _people(tables)
    results = {"RET-001": ret_001(tables, as_of_ts), "SHR-002": shr_002(tables),
               "NWS-001": nws_001(tables, people), "NWS-003": nws_003(tables, people),
               "DSR-001": dsr_001(tables, as_of_ts)}
    t2 = time.perf_counter()
    return {"read_seconds": round(t1 - t0, 3), "rules_seconds": round(t2 - t1, 3),
            "violations": {k: len(v) for k, v in results.items()}}


def main(argv: list[str] | None = None) -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export_dir")
    ap.add_argument("--as-of", default="2026-10-31")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.export_dir, args.as_of)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
