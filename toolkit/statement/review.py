"""``review(FILE)``: the statement's text checked against GDPR Art. 12-14 (and Art. 21, the
Telecommunicatiewet's cookie rule, the UAVG), and with a database against the data (TRN rules).

The statement-versus-practice rows render the registry's TRN rules (``toolkit.rules.transparency``)
run by the ordinary audit engine, with the policy's ``transparency`` section and statement date
taken from the statement being reviewed: one source of truth for what a TRN finding means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import __version__, outputs
from ..exceptions import PrivauditError
from ..policy import DEFAULT_POLICY, Policy, Transparency, load_policy
from .checks import FAILING, VERDICTS, Check, text_checks
from .document import Document, read_statement
from .vocabulary import Disclosures, disclosures, statement_date, vocabulary

COLUMNS = ["check_id", "gdpr_ref", "verdict", "title", "quote", "where", "explanation"]

# the TRN rules rendered as rows, with the article of the GDPR each rests on
PRACTICE = {
    "TRN-001": ("Art. 13(1)(c)", "Personal data in the data that the statement does not name "
                                 "or nothing declares"),
    "TRN-002": ("Art. 13(1)(e)", "Recipients and third countries in the data that the statement "
                                 "does not disclose"),
    "TRN-003": ("Art. 12(1)", "Processing the statement describes that the data show nothing of"),
    "TRN-005": ("Art. 13(3)", "Recipients added after the statement's date"),
}


@dataclass
class ReviewResult:
    document: Document
    policy: Policy
    as_of: date
    checks: list[Check]
    disclosures: Disclosures
    statement_date: date | None
    not_evaluated: list[dict] = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if any(c.failing for c in self.checks) else 0

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.checks) for v in VERDICTS}

    def check(self, check_id: str) -> Check:
        for c in self.checks:
            if c.check_id == check_id:
                return c
        raise KeyError(check_id)

    def frame(self):
        import pandas as pd
        return pd.DataFrame([c.row() for c in self.checks], columns=COLUMNS)

    def as_json(self) -> dict:
        d = self.document
        return {
            "toolkit": "privaudit", "toolkit_version": __version__,
            "statement": {"source": d.source, "format": d.format, "language": d.language,
                          "title": d.title, "date": self.statement_date.isoformat()
                          if self.statement_date else None, "sentences": len(d.sentences)},
            "policy": {"source": self.policy.source, "sha256": self.policy.sha256,
                       "controller": self.policy.controller.name},
            "as_of": self.as_of.isoformat(),
            "summary": self.counts(),
            "discloses": {
                "data_categories": sorted(self.disclosures.data_categories),
                "recipient_categories": sorted(self.disclosures.recipient_categories),
                "countries": sorted(self.disclosures.countries),
                "processing": sorted(self.disclosures.processing)},
            "not_evaluated": self.not_evaluated,
            "checks": [c.record() for c in self.checks],
        }


def _as_of_date(as_of, tz: str) -> date:
    if as_of is None:
        return datetime.now(ZoneInfo(tz)).date()
    if isinstance(as_of, datetime):
        return as_of.astimezone(ZoneInfo(tz)).date() if as_of.tzinfo else as_of.date()
    if isinstance(as_of, date):
        return as_of
    from ..findings import parse_as_of
    return parse_as_of(as_of, tz)[1]


def statement_policy(doc: Document, policy: Policy, found: Disclosures | None = None) -> Policy:
    """``policy`` with what ``doc`` discloses (transparency) and its date: the policy the TRN rules
    judge the data against when a statement is reviewed."""
    found = found or disclosures(doc)
    d, _ = statement_date(doc)
    tr = Transparency(disclosed_data_categories=sorted(found.data_categories),
                      disclosed_recipient_categories=sorted(found.recipient_categories),
                      disclosed_countries=sorted(found.countries),
                      described_processing=sorted(found.processing))
    stmt = policy.statement.model_copy(update={"date": d}) if d else policy.statement
    rules = dict(policy.rules)
    shipped = load_policy(DEFAULT_POLICY)
    for rid in PRACTICE:
        if rid not in rules and rid in shipped.rules:
            rules[rid] = shipped.rules[rid]
    return policy.model_copy(update={"transparency": tr, "statement": stmt, "rules": rules})


def practice_checks(doc: Document, policy: Policy, db, as_of, found: Disclosures
                    ) -> tuple[list[Check], list[dict]]:
    """The TRN rules on ``db`` with the statement's disclosures, as review rows."""
    from ..findings import audit
    from ..rules import REGISTRY

    pol = statement_policy(doc, policy, found)
    ids = [r for r in PRACTICE if r in REGISTRY and r in pol.rules]
    res = audit(db, as_of, policy=pol, rules=",".join(ids), store=False)
    checks, skipped = [], []
    recipients = vocabulary().elements["ART13-RECIPIENTS"]["patterns"].sentences(doc.sentences)
    quotes_for = {
        "TRN-002": [*[s for s in recipients if "derden" in s.text or "third part" in s.text][:1],
                    *[s for lst in found.recipient_categories.values() for s in lst]],
        "TRN-003": [s for lst in found.processing.values() for s in lst],
        "TRN-005": [statement_date(doc)[1]] if statement_date(doc)[1] else [],
        # the sentences naming the categories of personal data it does name
        "TRN-001": [s for lst in found.data_categories.values() for s in lst],
    }
    for rr in res.rules:
        if rr.status != "evaluated":
            skipped.append({"check_id": rr.rule_id, "status": rr.status,
                            "missing": rr.missing, "error": rr.error})
            continue
        ref, title = PRACTICE[rr.rule_id]
        found_rows = [f for f in res.findings if f["rule_id"] == rr.rule_id]
        details = [{"subject_table": f["subject_table"], "subject_id": f["subject_id"],
                    "severity": f["severity"], "evidence": f["evidence"]} for f in found_rows]
        if rr.rule_id == "TRN-003":       # the sentences describing what the data lack
            candidates = [s for f in found_rows for s in found.processing.get(f["subject_id"], [])[:1]]
        else:
            candidates = quotes_for.get(rr.rule_id, [])
        quotes = []
        for s in candidates:
            if s is not None and s not in quotes:
                quotes.append(s)
        if not found_rows:
            checks.append(Check(rr.rule_id, ref, "present", title,
                                f"The data agree with the statement ({rr.population} checked "
                                f"as of {res.as_of_date}).", quotes[:1]))
            continue
        names = ", ".join(_label(rr.rule_id, f) for f in found_rows[:8])
        more = f" and {len(found_rows) - 8} more" if len(found_rows) > 8 else ""
        expl = {
            "TRN-001": _trn001(found_rows, names, more),
            "TRN-002": f"{len(found_rows)} recipient(s) received data without the statement "
                       f"disclosing their category or country: {names}{more}.",
            "TRN-003": f"The statement describes {len(found_rows)} processing(s) of which the data "
                       f"show nothing: {names}{more}.",
            "TRN-005": f"{len(found_rows)} recipient(s) were added after the statement's date "
                       f"without the statement being updated: {names}{more}.",
        }[rr.rule_id]
        checks.append(Check(rr.rule_id, ref, "inconsistent", title, expl, quotes, details))
    return checks, skipped


def _trn001(rows: list[dict], names: str, more: str) -> str:
    extra = sum(1 for f in rows if json.loads(f.get("details") or "{}").get("matching") is not None)
    parts = []
    if len(rows) - extra:
        parts.append(f"{len(rows) - extra} column(s) hold personal data of a kind the statement "
                     f"does not name")
    if extra:
        parts.append(f"{extra} export column(s) hold personal data that neither the data model "
                     f"nor any register declares")
    return " and ".join(parts) + f": {names}{more}."


def _label(rule_id: str, f: dict) -> str:
    d = json.loads(f.get("details") or "{}")
    if rule_id == "TRN-002":
        what = d.get("category") or "?"
        if d.get("undisclosed_countries"):
            what += " in " + "/".join(d["undisclosed_countries"])
        return f"{d.get('recipient') or f['subject_id']} ({what})"
    if rule_id == "TRN-003":
        return f["subject_id"].replace("_", " ")
    if rule_id == "TRN-001":
        return f"{f['subject_id']} ({d.get('category') or '?'})"
    if rule_id == "TRN-005":
        return f"{d.get('recipient') or f['subject_id']} (from {d.get('first_seen')})"
    return f["subject_id"]


def review(file: str | Path, policy: str | Path | Policy | None = None, db: str | Path | None = None,
           as_of: str | date | datetime | None = None, out: str | Path | None = None) -> ReviewResult:
    """Review the privacy statement ``file`` (plain text, Markdown or HTML).

    ``policy`` gives the controller's first-party domains (TRN-004) and the review interval
    (``statement.review_months``, TRN-005); default: the shipped contractstatus.nl policy.
    ``as_of`` is the review date (default: today in Amsterdam). With ``db`` (a database built by
    ``privaudit load``) the TRN rules also compare the statement with the data. ``out`` receives
    ``statement_findings.csv`` and ``statement_findings.json``.
    """
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    doc = read_statement(file)
    day = _as_of_date(as_of, pol.timezone)
    found = disclosures(doc)
    checks = text_checks(doc, day, list(pol.first_party_domains), pol.statement.review_months)
    skipped: list[dict] = []
    if db is not None:
        if as_of is None:
            raise PrivauditError("--as-of is needed with --db (the audit date of the data)")
        more, skipped = practice_checks(doc, pol, db, as_of, found)
        checks += more
    res = ReviewResult(doc, pol, day, checks, found, statement_date(doc)[0], skipped,
                       Path(out) if out else None)
    if out is not None:
        write(res, Path(out))
    return res


def write(res: ReviewResult, out: Path) -> None:
    """``statement_findings.csv`` and ``.json`` in ``out``: a private folder when this creates it,
    owner-only files, and CSV cells a spreadsheet will not run as formulas (``toolkit.outputs``)."""
    outputs.private_dir(out)
    outputs.write_csv(out / "statement_findings.csv", COLUMNS, (c.row() for c in res.checks))
    outputs.write_text(out / "statement_findings.json",
                       json.dumps(res.as_json(), indent=2, ensure_ascii=False, default=str) + "\n")


__all__ = ["review", "ReviewResult", "statement_policy", "COLUMNS", "FAILING"]
