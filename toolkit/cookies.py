"""Offline cookie classification from the Open Cookie Database (Apache-2.0).

``toolkit/data/cookie_classes.csv`` is a compact table derived from the Open Cookie Database
(github.com/jkwakman/Open-Cookie-Database): one row per cookie name or name prefix, with the
domains it is known on, its category (functional, analytics, marketing, personalisation) and its
vendor. ``derive(ocd_csv)`` rebuilds it; the attribution and licence notice ship next to it
(``toolkit/data/NOTICE-open-cookie-database.md``).

Matching (in SQL, ``cookie_class(name, domain)``): the policy's tracker patterns first, then an
exact name, then the longest matching prefix. Generic names (four characters or fewer, such as
``c`` or ``SID``, or plain lower-case words such as ``sessionid``) match only on the domains the
database gives for them (or their subdomains), so a shop's own ``sessionid`` is not taken for
Instagram's; distinctive names (``__hstc``, ``_fbp``, ``MUID``) are recognised wherever they are
set, as first-party tracker cookies are.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb

DATA = Path(__file__).parent / "data"
CLASSES = DATA / "cookie_classes.csv"
CATEGORY_MAP = {"functional": "functional", "necessary": "functional", "security": "functional",
                "analytics": "analytics", "marketing": "marketing",
                "personalization": "personalisation", "personalisation": "personalisation"}
FIELDS = ["name", "is_prefix", "domains", "category", "vendor"]
# generic names (this short, like "c" or "SID", or plain lower-case words like "sessionid" or
# "audience") match only on the domains the database gives for them
SHORT_NAME = 4


def _domains(text: str) -> list[str]:
    text = re.sub(r"\(.*?\)", " ", text.lower())
    out = []
    for tok in re.split(r"[\s,;]+|\bor\b", text):
        tok = tok.strip().lstrip(".").strip("/")
        if "." in tok and re.fullmatch(r"[a-z0-9.\-*]+", tok):
            out.append(tok.lstrip("*."))
    return sorted(set(out))


def derive(ocd_csv: str | Path) -> list[dict]:
    """The compact classification rows derived from an Open Cookie Database CSV export."""
    merged: dict[tuple[str, bool, str], dict] = {}
    with open(ocd_csv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            name = r["Cookie / Data Key name"].strip()
            cat = CATEGORY_MAP.get(r["Category"].strip().lower())
            if not name or cat is None:
                continue
            prefix = r["Wildcard match"].strip() == "1"
            key = (name, prefix, cat)
            row = merged.setdefault(key, {"name": name, "is_prefix": prefix, "domains": set(),
                                          "category": cat, "vendor": r["Platform"].strip()})
            doms = _domains(r["Domain"])
            if not doms:
                row["domains"] = None           # known on any domain
            elif row["domains"] is not None:
                row["domains"].update(doms)
    out = []
    for row in merged.values():
        row["domains"] = "" if row["domains"] is None else "|".join(sorted(row["domains"]))
        out.append(row)
    out.sort(key=lambda r: (r["name"].lower(), r["name"], r["is_prefix"], r["category"]))
    return out


def write(rows: list[dict], path: Path = CLASSES) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "is_prefix": "1" if r["is_prefix"] else "0"})


def class_macro() -> str:
    """``cookie_class(name, domain)``: (category, vendor, source) for a cookie name on a domain,
    or NULL when unknown (reads ``policy_trackers`` and ``cookie_classes``)."""
    return """CREATE OR REPLACE TEMP MACRO cookie_class(cname, cdomain) AS (
        SELECT struct_pack(category := category, vendor := vendor, source := source) FROM (
            SELECT category, vendor, 'policy pattern' AS source, 0 AS rank, pos AS tie
            FROM policy_trackers WHERE regexp_matches(cname, pattern)
            UNION ALL
            SELECT category, vendor, 'Open Cookie Database', CASE WHEN is_prefix THEN 2 ELSE 1 END,
                   -length(name)
            FROM cookie_classes
            WHERE (name = cname OR (is_prefix AND starts_with(cname, name)))
              AND (domains IS NULL OR NOT (length(name) <= $short OR regexp_full_match(name, '[a-z]+'))
                   OR EXISTS (SELECT 1 FROM unnest(domains) AS u(d)
                     WHERE lower(ltrim(cdomain, '.')) = u.d
                        OR ends_with(lower(ltrim(cdomain, '.')), '.' || u.d))))
        ORDER BY rank, tie LIMIT 1)""".replace("$short", str(SHORT_NAME))


def install(con: duckdb.DuckDBPyConnection, trackers: list[tuple[str, str, str | None]]) -> None:
    """Load the classification table and the policy's tracker patterns; define cookie_class()."""
    con.execute("CREATE OR REPLACE TEMP TABLE cookie_classes AS SELECT name, is_prefix = '1' AS "
                "is_prefix, CASE WHEN domains = '' THEN NULL ELSE string_split(domains, '|') END "
                "AS domains, category, vendor FROM read_csv($p, header = true, all_varchar = true, "
                "auto_detect = false, columns = {'name': 'VARCHAR', 'is_prefix': 'VARCHAR', "
                "'domains': 'VARCHAR', 'category': 'VARCHAR', 'vendor': 'VARCHAR'})",
                {"p": str(CLASSES)})
    con.execute("CREATE OR REPLACE TEMP TABLE policy_trackers (pos INTEGER, pattern VARCHAR, "
                "category VARCHAR, vendor VARCHAR)")
    con.executemany("INSERT INTO policy_trackers VALUES ($1, $2, $3, $4)",
                    [[i, p, c, v] for i, (p, c, v) in enumerate(trackers)])
    con.execute(class_macro())


if __name__ == "__main__":   # python -m toolkit.cookies PATH/TO/open-cookie-database.csv
    import sys
    rows = derive(sys.argv[1])
    write(rows)
    print(f"wrote {len(rows)} rows to {CLASSES}")
