"""The checks of a privacy statement's text (GDPR Art. 12-14, Art. 21, the Telecommunicatiewet
cookie rule and the TRN text checks), one :class:`Check` per check id.

Verdicts: ``present`` (the element is there, or the defect is absent), ``missing``, ``invalid``,
``outdated`` and ``inconsistent`` (the statement contradicts itself or the data). Each check
quotes the sentence(s) it rests on; a ``missing`` verdict quotes what came closest, when anything
did (e.g. the newsletter unsubscribe sentence for the general right to withdraw consent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..dates import add_months
from .document import Document, Sentence
from .vocabulary import (disclosures, domains_named, first_party, look_alike, statement_date,
                         vocabulary)

VERDICTS = ("missing", "invalid", "outdated", "inconsistent", "present")
FAILING = ("missing", "invalid", "outdated")
GDPR_APPLIES = date(2018, 5, 25)
MAX_QUOTES = 4


@dataclass
class Check:
    check_id: str
    gdpr_ref: str
    verdict: str
    title: str
    explanation: str
    quotes: list[Sentence] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)     # rule findings behind a TRN row

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.check_id}: unknown verdict {self.verdict}")
        self.quotes = self.quotes[:MAX_QUOTES]

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    def places(self, quotes: int | None = None) -> str:
        """Where the (first ``quotes``) quoted sentences are, each location once however many of
        its sentences are quoted: ``art. 1.3 (Bestelling), line 16; art. 2, line 30``."""
        return "; ".join(dict.fromkeys(q.where for q in self.quotes[:quotes]))

    def row(self) -> dict:
        return {"check_id": self.check_id, "gdpr_ref": self.gdpr_ref, "verdict": self.verdict,
                "title": self.title,
                "quote": " | ".join(q.text for q in self.quotes),
                "where": self.places(),
                "explanation": self.explanation}

    def record(self) -> dict:
        return {**self.row(), "quotes": [{"text": q.text, "where": q.where, "line": q.line,
                                          "clause": q.clause} for q in self.quotes],
                "details": self.details}


def _element(doc: Document, key: str, verdict_missing: str = "missing",
             closest: list[Sentence] | None = None) -> Check:
    el = vocabulary().elements[key]
    hits = el["patterns"].sentences(doc.sentences)
    if hits:
        return Check(key, el["gdpr_ref"], "present", el["title"], el["present"], hits)
    return Check(key, el["gdpr_ref"], verdict_missing, el["title"], el["missing"], closest or [])


def invalid_consent(doc: Document) -> tuple[list[Sentence], list[Sentence]]:
    c = vocabulary().constructs
    visiting = c["CONSENT-BY-VISITING"]["patterns"].sentences(doc.sentences)
    continued = [s for s in c["CONSENT-BY-CONTINUED-USE"]["patterns"].sentences(doc.sentences)
                 if s not in visiting]
    return visiting, continued


def completeness(doc: Document) -> list[Check]:
    """The Art. 13 elements, each present or missing."""
    v = vocabulary()
    g = v.groups
    out: list[Check] = []
    visiting, continued = invalid_consent(doc)
    tainted = set(visiting) | set(continued)

    # (1)(a) controller: named, and a contact channel somewhere
    c = _element(doc, "ART13-CONTROLLER")
    contact = g["contact"].sentences(doc.sentences)
    if c.verdict == "present" and not contact:
        c = Check(c.check_id, c.gdpr_ref, "missing", c.title,
                  "Names the controller but gives no address, e-mail address or telephone number.",
                  c.quotes)
    elif c.verdict == "missing" and contact:
        c.quotes = contact[:2]
    out.append(c)
    out.append(_element(doc, "ART13-DPO"))
    out.append(_element(doc, "ART13-PURPOSES"))

    # (1)(c) legal basis: an explicit word, or two kinds of basis named (not in invalid clauses)
    el = v.elements["ART13-LEGAL-BASIS"]
    clean = [s for s in doc.sentences if s not in tainted]
    explicit = el["patterns"].sentences(clean)
    kinds = {k: p.sentences(clean) for k, p in g["legal_basis_kinds"].items()}
    named = {k: s for k, s in kinds.items() if s}
    if explicit or len(named) >= 2:
        quotes = explicit or [s for lst in named.values() for s in lst[:1]]
        out.append(Check("ART13-LEGAL-BASIS", el["gdpr_ref"], "present", el["title"],
                         el["present"], quotes))
    else:
        expl = el["missing"]
        if named:
            expl += f" Only {', '.join(k.replace('_', ' ') for k in named)} is mentioned."
        if visiting:
            expl += " The only consent offered is consent by visiting, which is invalid."
        out.append(Check("ART13-LEGAL-BASIS", el["gdpr_ref"], "missing", el["title"], expl,
                         [*visiting[:1], *[s for lst in named.values() for s in lst[:1]]]))

    # (1)(d) legitimate interests: missing only when the statement does what rests on them
    el = v.elements["ART13-LEGIT-INTERESTS"]
    hits = el["patterns"].sentences(doc.sentences)
    relying = g["relies_on_interests"].sentences(doc.sentences)
    if hits:
        out.append(Check("ART13-LEGIT-INTERESTS", el["gdpr_ref"], "present", el["title"],
                         el["present"], hits))
    elif relying:
        out.append(Check("ART13-LEGIT-INTERESTS", el["gdpr_ref"], "missing", el["title"],
                         el["missing"], relying))
    else:
        out.append(Check("ART13-LEGIT-INTERESTS", el["gdpr_ref"], "present", el["title"],
                         "Describes no processing that would rest on a legitimate interest."))

    for key in ("ART13-RECIPIENTS", "ART13-TRANSFERS", "ART13-RETENTION", "RIGHT-ACCESS",
                "RIGHT-RECTIFICATION", "RIGHT-ERASURE", "RIGHT-RESTRICTION", "RIGHT-OBJECTION",
                "RIGHT-PORTABILITY"):
        out.append(_element(doc, key))

    # (2)(c) withdrawal: the newsletter unsubscribe is the closest a statement often comes
    unsub = [s for s in doc.sentences
             if any(w in s.text.lower() for w in ("afmelden", "uitschrijven", "unsubscribe",
                                                  "opt out", "opt-out"))]
    out.append(_element(doc, "RIGHT-WITHDRAW-CONSENT", closest=unsub[:1]))
    out.append(_element(doc, "RIGHT-COMPLAINT"))
    out.append(_element(doc, "ART13-REQUIREMENT"))
    out.append(_element(doc, "ART13-PROFILING"))
    return out


def constructs(doc: Document, as_of: date, first_party_domains: list[str],
               review_months: int) -> list[Check]:
    """Invalid or outdated wording, the domains named, the statement's date, the cookie claim and
    the objection right for profiling."""
    v = vocabulary()
    g = v.groups
    out: list[Check] = []
    visiting, continued = invalid_consent(doc)
    for key, hits in (("CONSENT-BY-VISITING", visiting), ("CONSENT-BY-CONTINUED-USE", continued)):
        c = v.constructs[key]
        if hits:
            out.append(Check(key, c["gdpr_ref"], c["verdict"], c["title"], c["explanation"], hits))
        else:
            out.append(Check(key, c["gdpr_ref"], "present", c["title"],
                             f"No {c['title'][0].lower()}{c['title'][1:]} found."))

    # repealed law, judged at the review date
    c = v.constructs["REPEALED-LAW"]
    cited, quotes = [], []
    for law in c["laws"]:
        hits = law["patterns"].sentences(doc.sentences)
        if hits and as_of >= law["since"]:
            cited.append(f"{law['name']} (no longer applies since {law['since']:%d-%m-%Y})")
            quotes += [s for s in hits if s not in quotes]
    if cited:
        out.append(Check("REPEALED-LAW", c["gdpr_ref"], "outdated", c["title"],
                         "Cites " + "; ".join(cited) + ": the GDPR (AVG) and the UAVG apply instead.",
                         quotes))
    else:
        out.append(Check("REPEALED-LAW", c["gdpr_ref"], "present", c["title"],
                         "Cites no repealed data-protection law."))

    out.append(domain_check(doc, first_party_domains))
    out.append(date_check(doc, as_of, review_months))

    # cookies called functional while used for personalisation without consent (Tw 11.7a)
    claim = g["cookies_functional_claim"].sentences(doc.sentences)
    personal = []
    for s in doc.sentences:
        if "cookie" not in s.text.lower():
            continue
        section = doc.section(s)
        i = section.index(s)
        window = section[max(0, i - 2):i + 1]
        if any(g["cookies_personalisation"].search(w.text) for w in window):
            personal.append(s)
    consent = g["cookies_consent"].sentences(doc.sentences)
    title = "Cookies called functional while used for personalisation"
    if claim and personal and not consent:
        out.append(Check("COOKIES-FUNCTIONAL-CLAIM", "Tw 11.7a", "inconsistent", title,
                         "Calls its cookies functional, yet uses cookies to personalise the shop; "
                         "such cookies are not exempt and need prior consent.",
                         [*claim[:2], *personal[:2]]))
    else:
        out.append(Check("COOKIES-FUNCTIONAL-CLAIM", "Tw 11.7a", "present", title,
                         "No functional-only claim contradicted by personalisation cookies"
                         + (" (consent for cookies is described)." if consent and personal else ".")))

    # profiling (personalisation, personal newsletters) needs the Art. 21(2) objection right
    profiling = g["profiling"].sentences(doc.sentences)
    objection = [s for s in v.elements["RIGHT-OBJECTION"]["patterns"].sentences(doc.sentences)
                 if g["objection_scope"].search(s.text)]
    title = "Objection to profiling and direct marketing"
    if profiling and not objection:
        out.append(Check("PROFILING-OBJECTION", "Art. 21(2)", "missing", title,
                         "Personalises the shop or newsletters (profiling, direct marketing) without "
                         "telling people, clearly and separately, that they can object.", profiling))
    elif profiling:
        out.append(Check("PROFILING-OBJECTION", "Art. 21(2)", "present", title,
                         "Offers an objection to profiling or direct marketing.", objection))
    else:
        out.append(Check("PROFILING-OBJECTION", "Art. 21(2)", "present", title,
                         "Describes no profiling or direct marketing."))
    return out


def domain_check(doc: Document, first_party_domains: list[str]) -> Check:
    """TRN-004: domains named that imitate the controller's own."""
    named = domains_named(doc)
    typos, quotes, others = [], [], []
    for d, sentences in named.items():
        if first_party(d, first_party_domains):
            continue
        imitated = look_alike(d, first_party_domains)
        if imitated:
            typos.append(f"{d} (looks like {imitated})")
            quotes += sentences
        else:
            others.append(d)
    title = "Domains named that are not the controller's"
    if typos:
        return Check("TRN-004", "Art. 12(1)", "invalid", title,
                     "Names " + ", ".join(typos) + ", which is not one of the controller's domains "
                     f"({', '.join(first_party_domains)}): a typo domain anyone can register.", quotes)
    expl = f"Every domain named is the controller's ({', '.join(first_party_domains)})"
    if others:
        expl += f" or another organisation's ({', '.join(others[:6])})"
    return Check("TRN-004", "Art. 12(1)", "present", title, expl + ".")


def date_check(doc: Document, as_of: date, review_months: int) -> Check:
    """TRN-005 on the text: the statement's date against the GDPR and the review interval."""
    d, s = statement_date(doc)
    title = "Statement date and review interval"
    if d is None:
        return Check("TRN-005-DATE", "Art. 12(1)", "missing", title,
                     "The statement carries no date, so nobody can tell whether it is current.")
    due = add_months(d, review_months)
    problems = []
    if d < GDPR_APPLIES:
        problems.append(f"dated {d:%d-%m-%Y}, before the GDPR applied (25-05-2018)")
    if as_of > due:
        months = (as_of.year - d.year) * 12 + as_of.month - d.month - (as_of.day < d.day)
        problems.append(f"{months} months old on {as_of:%d-%m-%Y}, past the review interval of "
                        f"{review_months} months (due {due:%d-%m-%Y})")
    if problems:
        return Check("TRN-005-DATE", "Art. 12(1)", "outdated", title,
                     "The statement is " + " and ".join(problems) + ".", [s])
    return Check("TRN-005-DATE", "Art. 12(1)", "present", title,
                 f"Dated {d:%d-%m-%Y}, within the review interval of {review_months} months.", [s])


def text_checks(doc: Document, as_of: date, first_party_domains: list[str],
                review_months: int) -> list[Check]:
    return [*completeness(doc), *constructs(doc, as_of, first_party_domains, review_months)]


__all__ = ["Check", "VERDICTS", "FAILING", "text_checks", "completeness", "constructs",
           "disclosures"]
