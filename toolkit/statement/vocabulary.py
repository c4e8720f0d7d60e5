"""The review's vocabulary (``vocabulary.yaml``), compiled once, and the text helpers that use it:
matching sentences, the domains and dates a statement names, and what it discloses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from .document import Document, Sentence

VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yaml")


@dataclass(frozen=True)
class Patterns:
    """Compiled Dutch and English wordings of one thing."""
    regexes: tuple[re.Pattern, ...]

    def search(self, text: str) -> bool:
        return any(r.search(text) for r in self.regexes)

    def sentences(self, sentences) -> list[Sentence]:
        return [s for s in sentences if self.search(s.text)]


def _compile(spec, where: str) -> Patterns:
    if isinstance(spec, dict):
        raw = [*spec.get("nl", []), *spec.get("en", []), *spec.get("any", []),
               *spec.get("patterns", [])]
    else:
        raw = list(spec or [])
    out = []
    for p in raw:
        try:
            out.append(re.compile(p, re.I))
        except re.error as e:
            raise ValueError(f"{VOCABULARY_FILE.name}: {where}: bad pattern {p!r}: {e}") from None
    return Patterns(tuple(out))


class Vocabulary:
    def __init__(self, data: dict):
        self.data = data
        self.elements = {k: {**v, "patterns": _compile(v, f"elements.{k}")}
                         for k, v in data["elements"].items()}
        self.constructs = {}
        for k, v in data["constructs"].items():
            c = dict(v)
            if "laws" in v:
                c["laws"] = [{**law, "patterns": _compile(law["patterns"], f"constructs.{k}"),
                              "since": law["since"] if isinstance(law["since"], date)
                              else date.fromisoformat(str(law["since"]))} for law in v["laws"]]
            else:
                c["patterns"] = _compile(v, f"constructs.{k}")
            self.constructs[k] = c
        self.groups = {k: ({kk: _compile(vv, f"groups.{k}.{kk}") for kk, vv in v.items()}
                           if k == "legal_basis_kinds" else _compile(v, f"groups.{k}"))
                       for k, v in data["groups"].items()}
        self.recipient_categories = {k: _compile(v, f"recipient_categories.{k}")
                                     for k, v in data["recipient_categories"].items()}
        self.processing = {}
        for k, v in data["processing"].items():
            if "category" in v:
                self.processing[k] = self.recipient_categories[v["category"]]
            else:
                self.processing[k] = _compile(v, f"processing.{k}")
        self.countries = {k: _compile(v, f"countries.{k}") for k, v in data["countries"].items()}
        self.data_categories = {k: _compile(v, f"data_categories.{k}")
                                for k, v in data["data_categories"].items()}


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    with open(VOCABULARY_FILE, encoding="utf-8") as f:
        return Vocabulary(yaml.safe_load(f))


# ---------------------------------------------------------------- domains

TLDS = ("nl", "com", "eu", "be", "de", "org", "net", "io", "shop", "uk", "fr", "info", "biz",
        "online", "store", "app", "co", "es", "it", "at", "ch", "dk", "se", "no", "fi", "pl", "us")
TWO_LEVEL = {"co.uk", "org.uk", "ac.uk", "com.au", "co.nz"}
_DOMAIN = re.compile(r"(?<![\w@.-])(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:"
                     + "|".join(TLDS) + r"))\b(?![\w-])", re.I)
_EMAIL_DOMAIN = re.compile(r"[\w.+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,})", re.I)


def registrable(host: str) -> str:
    """``www.shop.contractstatus.nl`` -> ``contractstatus.nl``."""
    labels = host.lower().strip(".").split(".")
    n = 3 if ".".join(labels[-2:]) in TWO_LEVEL else 2
    return ".".join(labels[-n:])


def domains_named(doc: Document) -> dict[str, list[Sentence]]:
    """Every registrable domain the statement names (links, bare names, e-mail addresses), with the
    sentences naming it, in order of first appearance."""
    out: dict[str, list[Sentence]] = {}
    for s in doc.sentences:
        found = [m.group(1) for m in _DOMAIN.finditer(s.text)]
        found += [m.group(1) for m in _EMAIL_DOMAIN.finditer(s.text)]
        for host in found:
            d = registrable(host)
            lst = out.setdefault(d, [])
            if s not in lst:
                lst.append(s)
    return out


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions, transpositions)."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def look_alike(domain: str, first_party: list[str]) -> str | None:
    """The first-party domain that ``domain`` imitates (edit distance 1 or 2 on the name, same
    top-level domain or the same name under another one), or None."""
    name, _, tld = domain.partition(".")
    for fp in first_party:
        fname, _, ftld = registrable(fp).partition(".")
        if domain == registrable(fp):
            return None
        if name == fname and tld != ftld:
            return fp
        limit = 1 if len(fname) <= 5 else 2
        if tld == ftld and 0 < edit_distance(name, fname) <= limit:
            return fp
    return None


def first_party(domain: str, first_party_domains: list[str]) -> bool:
    d = domain.lower()
    return any(d == fp or d.endswith("." + fp) for fp in first_party_domains)


# ---------------------------------------------------------------- dates

MONTHS = {
    "januari": 1, "februari": 2, "maart": 3, "april": 4, "mei": 5, "juni": 6, "juli": 7,
    "augustus": 8, "september": 9, "oktober": 10, "november": 11, "december": 12,
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8,
    "october": 10, "jan": 1, "feb": 2, "mrt": 3, "mar": 3, "apr": 4, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "sept": 9, "okt": 10, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE_RES = (
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    (re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\b"), "dmy"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th|e)? ({_MONTH})\.?,? (\d{{4}})\b", re.I), "dMy"),
    (re.compile(rf"\b({_MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})\b", re.I), "Mdy"),
)


def dates_in(text: str) -> list[date]:
    """The calendar dates written in ``text`` (day-month-year, ISO, or with a Dutch or English
    month name). A date that does not exist (31-02-2018) is not a date."""
    out = []
    for rx, kind in _DATE_RES:
        for m in rx.finditer(text):
            g = m.groups()
            try:
                if kind == "ymd":
                    d = date(int(g[0]), int(g[1]), int(g[2]))
                elif kind == "dmy":
                    d = date(int(g[2]), int(g[1]), int(g[0]))
                elif kind == "dMy":
                    d = date(int(g[2]), MONTHS[g[1].lower()], int(g[0]))
                else:
                    d = date(int(g[2]), MONTHS[g[0].lower()], int(g[1]))
            except ValueError:
                continue
            out.append(d)
    return out


def statement_date(doc: Document) -> tuple[date | None, Sentence | None]:
    """The statement's own date: the latest date in a sentence that says the statement was
    updated, revised, dated or versioned."""
    words = vocabulary().groups["statement_date"]
    best: tuple[date | None, Sentence | None] = (None, None)
    for s in doc.sentences:
        if not words.search(s.text):
            continue
        for d in dates_in(s.text):
            if best[0] is None or d > best[0]:
                best = (d, s)
    return best


# ---------------------------------------------------------------- disclosures

@dataclass
class Disclosures:
    """What the statement discloses, each with the sentences it rests on."""
    recipient_categories: dict[str, list[Sentence]]
    countries: dict[str, list[Sentence]]
    processing: dict[str, list[Sentence]]
    transfers_mentioned: list[Sentence]
    # the categories of personal data it names (TRN-001)
    data_categories: dict[str, list[Sentence]] = field(default_factory=dict)


def disclosures(doc: Document) -> Disclosures:
    v = vocabulary()

    def named(patterns: dict[str, Patterns]) -> dict[str, list[Sentence]]:
        found = {k: p.sentences(doc.sentences) for k, p in patterns.items()}
        return {k: s for k, s in found.items() if s}

    transfers = v.elements["ART13-TRANSFERS"]["patterns"].sentences(doc.sentences)
    return Disclosures(named(v.recipient_categories), named(v.countries), named(v.processing),
                       transfers, named(v.data_categories))
