"""Free-text PII scan: the toolkit's SEC-002/004/006 against Presidio's pattern recognizers.

    python -m benchmarks.free_text [--messages 1000000] [--presidio-sample 20000] [--seed 7]
                                   [--hit-rate 1.0] [--repeat 3] [--name free_text]

1. Builds a DuckDB database with N Dutch chat messages; about 2 % carry a pasted card number,
   2 % an IBAN and 1 % a BSN (all checksum-valid, written the ways people write them: spaced,
   dashed, dotted or plain), plus near-misses (14-digit order numbers, IBANs with wrong check
   digits) and e-mail addresses.
2. Runs the toolkit's SEC-002, SEC-004 and SEC-006 on all N messages (``toolkit.audit``).
3. Runs Presidio's CreditCardRecognizer, IbanRecognizer and EmailRecognizer (pattern
   recognizers called directly: no spaCy model can be downloaded here, so no NER engine) on a
   sample of the same messages.
4. Reports messages per second, CPU time and peak RSS of each, and the recall of both on the
   planted cards and IBANs of the sample; writes benchmarks/results/free_text.json.

Each stage runs ``--repeat`` times, alternating, each time in a fresh process (the machine is
shared and noisy); the figures are the run with the median scan time, and every run's scan time
is kept in ``runs``, with the load average as each round started (``load_before``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
AS_OF = "2026-10-31"

TEMPLATES = [
    "Goedemiddag, mijn bestelling {order} is nog niet binnen. Kunt u kijken?",
    "Hoi, ik wil graag mijn adres wijzigen naar de Dorpsstraat {n}.",
    "De betaling is mislukt, hier is mijn kaartnummer {card} vervaldatum 12/27",
    "Kunt u het bedrag terugstorten op {iban}? Alvast bedankt.",
    "Voor de verificatie: mijn bsn is {bsn}",
    "Mijn e-mailadres is veranderd naar {email}, graag aanpassen.",
    "Bestelnummer {order14} klopt niet, ik heb twee keer betaald.",
    "Rekening {bad_iban} is van mijn partner, mag het daarheen?",
    "Bedankt voor de snelle hulp!",
    "Wanneer komt de bezorger? Ik ben morgen pas na 17:00 thuis.",
    "Ik heb de creditcard {card} gebruikt maar zie geen bevestiging.",
]
WEIGHTS = [30, 15, 2, 2, 1, 2, 3, 1, 20, 22, 0]  # the last card template is used via the first


def _luhn_complete(rnd: random.Random, prefix: str, length: int) -> str:
    from stdnum import luhn
    body = prefix + "".join(rnd.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def _iban(rnd: random.Random) -> str:
    from stdnum import iban
    bank = rnd.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"])
    acct = "".join(rnd.choice("0123456789") for _ in range(10))
    return "NL" + iban.calc_check_digits("NL00" + bank + acct) + bank + acct


def _bsn(rnd: random.Random) -> str:
    while True:
        d = [rnd.randrange(10) for _ in range(8)]
        s = sum(x * w for x, w in zip(d, range(9, 1, -1)))
        last = s % 11
        if last < 10 and d[0] != 0:
            return "".join(map(str, d)) + str(last)


def _spaced(number: str, rnd: random.Random, group: int = 4) -> str:
    sep = rnd.choice(["", " ", "-"]) if group else ""
    return sep.join(number[i:i + group] for i in range(0, len(number), group)) if sep else number


def build(db: str, messages: int, seed: int, hit_rate: float = 1.0) -> dict:
    """The benchmark database and the planted numbers per message (returned as a dict).

    ``hit_rate`` scales how often a message carries a number (1.0: 2 % cards, 2 % IBANs, 1 %
    BSNs; 0.1 gives a tenth of that, closer to real chat logs)."""
    weights = [w * hit_rate if i in (2, 3, 4, 7) else w for i, w in enumerate(WEIGHTS[:-1])]
    import duckdb
    import pyarrow as pa

    from toolkit import schema
    rnd = random.Random(seed)
    ids, bodies, planted_cards, planted_ibans = [], [], {}, {}
    for i in range(messages):
        mid = f"M{i:08d}"
        t = rnd.choices(range(len(TEMPLATES) - 1), weights)[0]
        if t == 2 and rnd.random() < 0.5:
            t = 10
        vals = {"order": f"CS-{rnd.randrange(10**6):06d}", "n": rnd.randrange(1, 300)}
        if t in (2, 10):
            # Visa, Mastercard (51-55 and the 2-series 2221-2720), American Express, Discover
            prefix = rnd.choice(["4", "51", "55", str(rnd.randint(2221, 2720)), "37", "6011"])
            card = _luhn_complete(rnd, prefix, 15 if prefix == "37" else 16)
            vals["card"] = _spaced(card, rnd)
            planted_cards[mid] = card
        if t == 3:
            ib = _iban(rnd)
            vals["iban"] = " ".join(ib[i:i + 4] for i in range(0, len(ib), 4)) if rnd.random() < .5 else ib
            planted_ibans[mid] = ib
        if t == 4:
            b = _bsn(rnd)
            vals["bsn"] = b if rnd.random() < .5 else f"{b[:4]}.{b[4:6]}.{b[6:]}"
        if t == 5:
            vals["email"] = f"klant{rnd.randrange(10**6)}@example.nl"
        if t == 6:
            vals["order14"] = "2024" + "".join(rnd.choice("0123456789") for _ in range(10))
        if t == 7:
            good = _iban(rnd)
            vals["bad_iban"] = good[:2] + f"{(int(good[2:4]) + 1) % 100:02d}" + good[4:]
        ids.append(mid)
        bodies.append(TEMPLATES[t].format(**vals))
    con = duckdb.connect(db)
    con.execute(schema.ddl(schema.table("chats"), ["chat_id", "customer_id", "started_at"]))
    con.execute("INSERT INTO chats VALUES ('K1', 'C1', '2026-01-01 10:00:00+00')")
    con.execute(schema.ddl(schema.table("chat_messages"), ["message_id", "chat_id", "sent_at", "body"]))
    tbl = pa.table({"message_id": ids, "chat_id": ["K1"] * messages, "body": bodies})
    con.register("msgs", tbl)
    con.execute("INSERT INTO chat_messages SELECT message_id, chat_id, "
                "TIMESTAMPTZ '2026-01-01 10:00:00+00', body FROM msgs")
    con.close()
    return {"cards": planted_cards, "ibans": planted_ibans}


def toolkit_detect(db: str) -> dict:
    """Stage: detection only, the comparable of Presidio's recognizers: the candidate scan and
    the three rules' validation in DuckDB, their violating messages fetched into Python."""
    from toolkit import findings, policy, rules
    from toolkit.ingest import connect
    pol = policy.load_policy()
    as_of, as_of_date = findings.parse_as_of(AS_OF)
    con = connect(db)
    findings.prepare(con, pol, as_of)
    params = findings.parameters(pol, as_of, as_of_date)
    t0 = time.perf_counter()
    counts = {}
    for rid in ("SEC-002", "SEC-004", "SEC-006"):
        rule = rules.REGISTRY[rid]
        for stmt in rule.setup(pol):
            if rid == "SEC-002":
                con.execute(stmt)
        sql = rule.sql(pol)
        counts[rid] = len(con.execute(sql, findings.bind(sql, params)).fetchall())
    seconds = time.perf_counter() - t0
    con.close()
    return {"violations": counts, "scan_seconds": seconds}


def toolkit_profile(db: str) -> dict:
    """Stage: the detection statement by statement, single-threaded (CPU seconds each; what the
    docs quote to explain where the time goes)."""
    import re

    from toolkit import findings, policy, rules
    from toolkit.ingest import connect
    pol = policy.load_policy()
    as_of, as_of_date = findings.parse_as_of(AS_OF)
    con = connect(db)
    con.execute("SET threads = 1")
    findings.prepare(con, pol, as_of)
    params = findings.parameters(pol, as_of, as_of_date)
    steps: dict[str, float] = {}
    for stmt in rules.REGISTRY["SEC-002"].setup(pol):
        m = re.search(r"(?:TEMP TABLE|VARIABLE|DROP TABLE IF EXISTS) (\w+)", stmt)
        label = m.group(1) if m else stmt.split()[0]
        c0 = time.process_time()
        con.execute(stmt)
        steps[label] = steps.get(label, 0.0) + time.process_time() - c0
    for rid in ("SEC-002", "SEC-004", "SEC-006"):
        sql = rules.REGISTRY[rid].sql(pol)
        c0 = time.process_time()
        con.execute(sql, findings.bind(sql, params)).fetchall()
        steps[rid] = time.process_time() - c0
    con.close()
    return {"cpu_seconds": {k: round(v, 3) for k, v in steps.items()},
            "total": round(sum(steps.values()), 3)}


def toolkit_scan(db: str) -> dict:
    """Stage: the toolkit's three free-text rules over every message, end to end (masked
    findings with evidence text, as ``privaudit audit`` writes them)."""
    import toolkit
    res = toolkit.audit(db, AS_OF, rules="SEC-002,SEC-004,SEC-006", reveal=True, store=False)
    found = {"cards": {}, "ibans": {}}
    for f in res.findings:
        d = json.loads(f["details"])
        if f["rule_id"] == "SEC-002":
            found["cards"][f["subject_id"]] = d["card"]
        elif f["rule_id"] == "SEC-006":
            found["ibans"][f["subject_id"]] = d["iban"]
    rows = {r.rule_id: r.violations for r in res.rules}
    return {"violations": rows, "found": found, "messages": res.rules[0].population,
            "scan_seconds": sum(r.seconds for r in res.rules)}


def presidio_scan(db: str, sample: int) -> dict:
    """Stage: Presidio's pattern recognizers, one message at a time, on the first ``sample``."""
    import duckdb
    import tldextract
    # keep tldextract from fetching the public suffix list over the network (none here)
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer,
                                                          IbanRecognizer)
    con = duckdb.connect(db, read_only=True)
    rows = con.execute("SELECT message_id, body FROM chat_messages ORDER BY message_id LIMIT $1",
                       [sample]).fetchall()
    con.close()
    recognizers = [CreditCardRecognizer(), IbanRecognizer(), EmailRecognizer()]
    found = {"cards": {}, "ibans": {}}
    t0 = time.perf_counter()
    for mid, body in rows:
        for r in recognizers:
            for hit in r.analyze(body, entities=r.supported_entities, nlp_artifacts=None):
                text = body[hit.start:hit.end]
                if hit.entity_type == "CREDIT_CARD":
                    found["cards"].setdefault(mid, []).append("".join(ch for ch in text if ch.isdigit()))
                elif hit.entity_type == "IBAN_CODE":
                    found["ibans"].setdefault(mid, []).append(text.replace(" ", "").upper())
    return {"found": found, "messages": len(rows), "scan_seconds": time.perf_counter() - t0}


def recall(planted: dict[str, str], found: dict[str, list[str]], ids: set[str]) -> float | None:
    want = {m: v for m, v in planted.items() if m in ids}
    if not want:
        return None
    hit = sum(1 for m, v in want.items() if v in found.get(m, []))
    return round(hit / len(want), 4)


def _median(measurements: list):
    """The measurement with the median scan time (the lower middle one of an even count)."""
    ordered = sorted(measurements, key=lambda m: m.result["scan_seconds"])
    return ordered[(len(ordered) - 1) // 2]


def main(argv: list[str] | None = None) -> dict:
    from .harness import machine, measure
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--presidio-sample", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hit-rate", type=float, default=1.0,
                    help="scale the share of messages carrying a number (0.1: a tenth)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is reported")
    ap.add_argument("--name", default="free_text", help="results file name (without .json)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        db = str(Path(tmp) / "chat.duckdb")
        t0 = time.perf_counter()
        planted = build(db, args.messages, args.seed, args.hit_rate)
        built = time.perf_counter() - t0
        runs: dict[str, list] = {"detect": [], "ours": [], "theirs": []}
        loads: list[float] = []        # the 1-minute load average as each round starts
        for _ in range(max(1, args.repeat)):
            loads.append(round(os.getloadavg()[0], 2))
            runs["detect"].append(measure("toolkit detection", "benchmarks.free_text:toolkit_detect",
                                          db=db))
            runs["ours"].append(measure("toolkit SEC-002/004/006", "benchmarks.free_text:toolkit_scan",
                                        db=db))
            runs["theirs"].append(measure("presidio pattern recognizers",
                                          "benchmarks.free_text:presidio_scan", db=db,
                                          sample=args.presidio_sample))
        detect, ours, theirs = (_median(runs[k]) for k in ("detect", "ours", "theirs"))
        profile = measure("toolkit detection, one thread", "benchmarks.free_text:toolkit_profile",
                          db=db).result
    sample_ids = {f"M{i:08d}" for i in range(min(args.presidio_sample, args.messages))}
    # throughput of the scanning itself (imports and set-up excluded on both sides)
    detect_mps = args.messages / detect.result["scan_seconds"]
    ours_mps = args.messages / ours.result["scan_seconds"]
    theirs_mps = theirs.result["messages"] / theirs.result["scan_seconds"]
    out = {
        "command": " ".join(["python -m benchmarks.free_text",
                             *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(), "messages": args.messages, "presidio_sample": args.presidio_sample,
        "hit_rate": args.hit_rate, "repeat": max(1, args.repeat),
        "runs": {k: [round(m.result["scan_seconds"], 3) for m in v] for k, v in runs.items()},
        "load_before": loads,
        "build_seconds": round(built, 1),
        "planted_cards": len(planted["cards"]), "planted_ibans": len(planted["ibans"]),
        "toolkit_detection": {"wall_s": detect.wall_s, "cpu_s": detect.cpu_s,
                              "peak_rss_mb": detect.peak_rss_mb,
                              "scan_s": round(detect.result["scan_seconds"], 3),
                              "messages_per_s": round(detect_mps),
                              "violations": detect.result["violations"]},
        "toolkit": {"wall_s": ours.wall_s, "cpu_s": ours.cpu_s, "peak_rss_mb": ours.peak_rss_mb,
                    "scan_s": round(ours.result["scan_seconds"], 3),
                    "messages_per_s": round(ours_mps),
                    "violations": ours.result["violations"],
                    "recall_cards_all": recall(planted["cards"], ours.result["found"]["cards"],
                                               set(planted["cards"])),
                    "recall_ibans_all": recall(planted["ibans"], ours.result["found"]["ibans"],
                                               set(planted["ibans"])),
                    "recall_cards_sample": recall(planted["cards"], ours.result["found"]["cards"], sample_ids),
                    "recall_ibans_sample": recall(planted["ibans"], ours.result["found"]["ibans"], sample_ids)},
        "presidio": {"wall_s": theirs.wall_s, "cpu_s": theirs.cpu_s, "peak_rss_mb": theirs.peak_rss_mb,
                     "scan_s": round(theirs.result["scan_seconds"], 3),
                     "messages_per_s": round(theirs_mps),
                     "recall_cards_sample": recall(planted["cards"], theirs.result["found"]["cards"], sample_ids),
                     "recall_ibans_sample": recall(planted["ibans"], theirs.result["found"]["ibans"], sample_ids)},
    }
    out["profile_single_thread"] = profile
    out["speedup_detection"] = round(detect_mps / theirs_mps, 1)
    out["speedup_end_to_end"] = round(ours_mps / theirs_mps, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
