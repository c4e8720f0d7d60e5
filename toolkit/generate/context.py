"""The shared state of one generation run: randomness, name pools, id counters, the open
writers, and the truth being recorded.

Everything random goes through ``ctx.rng`` (a seeded ``random.Random``) or through pools drawn
once from a seeded Faker ``nl_NL`` instance, so a seed fully determines every byte written.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from faker import Faker

from .. import schema
from .calendar import AMS, local, nl_date
from .writers import columns, open_writer

EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "ziggo.nl", "kpnmail.nl",
                 "xs4all.nl", "live.nl", "icloud.com", "home.nl", "planet.nl")
IP_PREFIXES = (77, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 94, 95, 145, 188, 212, 213, 217)


class Pools:
    """Realistic Dutch values drawn once from Faker nl_NL (seeded), then sampled with ``rng``.

    Sampling from pools keeps a million customers fast while every value is Faker-made.
    """

    def __init__(self, seed: int, size: int = 1500):
        fk = Faker("nl_NL")
        fk.seed_instance(seed)
        self.first_names = [fk.first_name() for _ in range(size)]
        self.last_names = [fk.last_name() for _ in range(size)]
        self.streets = [fk.street_name() for _ in range(size)]
        self.cities = [fk.city() for _ in range(size // 3)]
        self.postcodes = [fk.postcode() for _ in range(size)]
        self.phones = [fk.phone_number() for _ in range(size)]


def ascii_slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in s.lower() if ch.isalnum())


@dataclass
class Cust:
    """One account as the generator plans it (what it will emit, and what the truth needs)."""
    cid: str
    person_key: str | None
    created: datetime
    status: str = "active"
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    house_number: str | None = None
    postcode: str | None = None
    city: str | None = None
    country_code: str = "NL"
    human_visits: list[datetime] = field(default_factory=list)   # web/app, not bots
    last_login: datetime | None = None
    erased_at: datetime | None = None
    deauthorised_at: datetime | None = None
    purged: bool = False               # personal data removed (customers PII, child rows)
    marketing_stop: datetime | None = None  # no newsletter sends from here on
    newsletter: bool = True            # may have newsletter activity (primary account only)
    visitor_id: str | None = None
    purge_kind: str | None = None       # erased | retention | deauthorised | deleted


_WATCHED = frozenset({"transfers", "order_items", "chats", "calls", "newsletter_sends",
                      "cookie_observations"})


class Ctx:
    """State of one run. ``emit`` writes a row; ``flag``/``miss`` record the truth."""

    def __init__(self, out_dir: Path, seed: int, as_of: date, violation_rate: float):
        self.out = out_dir
        self.seed = seed
        self.as_of = as_of
        self.rate = violation_rate
        self.rng = random.Random(seed)
        self.pools = Pools(seed)
        # Every event happens before the as_of day starts in Amsterdam, so a loader that filters
        # "rows after as_of" drops nothing whether it reads as_of as the start or the end of D.
        self.limit: datetime = local(as_of, 0, 0) - timedelta(minutes=5)
        self.world_start: date = date(as_of.year - 7, 1, 2)   # first day of background orders
        self.counters: dict[str, int] = defaultdict(int)
        # a shop with planted violations also carries undeclared export columns (TRN-001)
        self.writers = {t.name: open_writer(out_dir, t.name, extras=violation_rate > 0)
                        for t in schema.TABLES if t.core}
        self._ts_cols = {
            name: [c for c in columns(name)
                   if schema.table(name).column(c).type == "TIMESTAMPTZ" and c != "expires_at"]
            for name in self.writers}
        self.truth: set[tuple[str, str]] = set()
        self.truth_notes: dict[tuple[str, str], str] = {}
        self.near: list[tuple[str, str, str]] = []
        self.planted: list[tuple[str, str, str]] = []     # (rule, subject, scenario) primary plants
        # what the data show, for the transparency truth (TRN-002/003/005): first transfer day and
        # destination countries per recipient, and counts of evidence of described processing
        self.first_transfer: dict[str, date] = {}
        self.transfer_countries: dict[str, set[str]] = defaultdict(set)
        self.evidence: Counter = Counter()
        # the data model's personal columns that hold a value in some row written ("table.column";
        # TRN-001's statement half), and per table those not seen filled yet
        self.filled_personal: set[str] = set()
        self._unfilled = {name: {c for c in columns(name) if schema.table(name).column(c).personal}
                          for name in self.writers}

    # ---------------------------------------------------------------------------- ids & rows
    def nid(self, prefix: str, width: int = 8) -> str:
        self.counters[prefix] += 1
        return f"{prefix}{self.counters[prefix]:0{width}d}"

    def emit(self, table: str, row: dict) -> dict:
        limit = self.limit
        for c in self._ts_cols[table]:
            v = row.get(c)
            if v is not None and v > limit:
                raise AssertionError(f"{table}.{c} {v} is not before as_of {self.as_of}: {row}")
        self.writers[table].write(row)
        pending = self._unfilled[table]
        if pending:                    # empty (and skipped) once every column was seen filled
            for c in [c for c in pending if (v := row.get(c)) is not None and str(v).strip()]:
                pending.discard(c)
                self.filled_personal.add(f"{table}.{c}")
        if table in _WATCHED:
            self._watch(table, row)
        return row

    def _watch(self, table: str, row: dict) -> None:
        ev = self.evidence
        if table == "transfers":
            rid, d = row["recipient_id"], nl_date(row["transferred_at"])
            if rid not in self.first_transfer or d < self.first_transfer[rid]:
                self.first_transfer[rid] = d
            if row.get("destination_country"):
                self.transfer_countries[rid].add(row["destination_country"])
        elif table == "order_items":
            if row.get("seller_id"):
                ev["seller_lines"] += 1
        elif table == "chats":
            ev["chats"] += 1
            if row.get("handled_by_recipient_id"):
                ev["chats_handled"] += 1
        elif table == "calls":
            ev["calls"] += 1
        elif table == "newsletter_sends":
            ev["send_" + str(row.get("newsletter_type"))] += 1
            if row.get("personalised"):
                ev["send_personalised_flag"] += 1
        elif table == "cookie_observations":
            ev["cookie_" + str(row.get("declared_category"))] += 1

    def close(self) -> dict[str, int]:
        counts = {}
        for name, w in self.writers.items():
            w.close()
            counts[name] = w.rows
        return counts

    # ------------------------------------------------------------------------------ truth
    def flag(self, rule: str, subject: str, scenario: str, primary: bool = True) -> None:
        """``subject`` must be flagged by ``rule`` (a planted violation or a side effect)."""
        self.truth.add((rule, subject))
        self.truth_notes.setdefault((rule, subject), scenario)
        if primary:
            self.planted.append((rule, subject, scenario))

    def miss(self, rule: str, subject: str, scenario: str) -> None:
        """``subject`` is a near-miss: ``rule`` must NOT flag it."""
        self.near.append((rule, subject, scenario))

    # ---------------------------------------------------------------------------- values
    def person(self, cid: str, created: datetime, person_key: str | None = None) -> Cust:
        """A new account with Dutch profile data from the pools."""
        r, p = self.rng, self.pools
        first, last = r.choice(p.first_names), r.choice(p.last_names)
        num = cid.lstrip("C").lstrip("0") or "0"
        email = f"{ascii_slug(first)}.{ascii_slug(last)}{num}@{r.choice(EMAIL_DOMAINS)}"
        return Cust(
            cid=cid, person_key=person_key or "P" + cid[1:], created=created,
            first_name=first, last_name=last, email=email, phone=r.choice(p.phones),
            street=r.choice(p.streets), house_number=str(r.randint(1, 240)) + r.choice(("", "", "", "A", "B", "-2")),
            postcode=r.choice(p.postcodes), city=r.choice(p.cities),
            visitor_id="%016x" % r.getrandbits(64))

    def ip(self) -> str:
        b = self.rng.getrandbits(29)
        return f"{IP_PREFIXES[b % 20]}.{(b >> 5) & 255}.{(b >> 13) & 255}.{((b >> 21) % 254) + 1}"

    def at(self, d: date, hour: int | None = None, minute: int | None = None) -> datetime:
        """An instant on Amsterdam date ``d`` (random daytime when hour is None)."""
        r = self.rng
        h = r.randint(8, 22) if hour is None else hour
        m = r.randint(0, 59) if minute is None else minute
        return local(d, h, m, r.randint(0, 59) if hour is None else 0)

    def rand_between(self, a: datetime, b: datetime) -> datetime:
        if b <= a:
            return a
        return a + timedelta(seconds=self.rng.uniform(0, (b - a).total_seconds()))

    def days_ago(self, n: int, hour: int | None = None, minute: int | None = None) -> datetime:
        return self.at(self.as_of - timedelta(days=n), hour, minute)
