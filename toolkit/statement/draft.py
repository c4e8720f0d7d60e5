"""``privaudit policy draft FILE``: a policy YAML drafted from a privacy statement.

Values the statement gives (controller, statement URL and date, first-party domains, retention
months and anchor, cookie promises, research fields, what it discloses) are taken from it, each
with the quote it came from as a comment. Values the statement cannot give (the law's fixed
points: fiscal years, EEA countries, adequacy decisions, DSR deadlines; the toolkit's tracker
patterns) come from a base policy (default: the shipped one) and say so. ``# confirm`` marks a
value the text left ambiguous or did not give. The draft is validated before it is returned.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .. import outputs
from ..exceptions import PolicyError
from ..policy import DEFAULT_POLICY, Policy, load_policy, parse_policy
from .document import Document, Sentence, read_statement
from .vocabulary import (disclosures, domains_named, look_alike, registrable, statement_date,
                         vocabulary)

NUMBERS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7,
           "acht": 8, "negen": 9, "tien": 10, "twaalf": 12, "achttien": 18, "vierentwintig": 24,
           "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
           "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "eighteen": 18, "twenty-four": 24}
_N = r"(\d+|" + "|".join(NUMBERS) + r")"
RETENTION = [
    re.compile(_N + r"\s*(maanden|maand|jaar|jaren)\s+(na|vanaf|sinds)\s+(uw |je |het |de )?"
               r"laatste\s+(bezoek|login|inlog|aankoop|bestelling|activiteit)", re.I),
    re.compile(_N + r"\s*(months?|years?)\s+(after|from|since)\s+(your |the )?last\s+"
               r"(visit|login|log-in|order|purchase|activity)", re.I),
]
HEREAFTER = re.compile(r"(?:hierna(?: te noemen)?|hereinafter|hereafter|(?:\"|')?we(?:\"|')?,?"
                       r" (?:\"|')?us(?:\"|')?)[:,]?\s*(?:\(|)?[\"']([^\"']{2,60})[\"']", re.I)
POSTCODE = re.compile(r"\b([1-9]\d{3}) ?([A-Z]{2})\b")
STREET = re.compile(r"\b([A-Z][\w'-]*(?:straat|weg|laan|plein|gracht|kade|singel|dijk|park|hof|"
                    r"steeg|dreef|pad|markt|plantsoen|boulevard|street|road|avenue|lane))\s+"
                    r"(\d+\s?[a-zA-Z]?(?:-\d+)?)\b")
CITY = re.compile(r"\b(?:te|in)\s+([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)")
EMAIL = re.compile(r"[\w.+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,})", re.I)
URL = re.compile(r"https?://[^\s)>,;]+", re.I)


def _q(s: Sentence | None, limit: int = 160) -> str:
    if s is None:
        return ""
    t = s.text if len(s.text) <= limit else s.text[:limit - 3].rstrip() + "..."
    return f'"{t}" ({s.where})'


def _dump(v) -> str:
    """One YAML value in flow style."""
    return yaml.safe_dump(v, default_flow_style=True, allow_unicode=True, width=4096).strip() \
        .removesuffix("\n...").removesuffix("...").strip()


class Draft:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, indent: int = 0) -> None:
        for part in text.splitlines():
            self.lines.append(" " * indent + "# " + part)

    def value(self, key: str, v, indent: int = 0, quote: Sentence | str | None = None,
              confirm: str | None = None, note: str | None = None) -> None:
        if isinstance(quote, Sentence):
            self.comment(_q(quote), indent)
        elif quote:
            self.comment(quote, indent)
        line = " " * indent + f"{key}: {_dump(v)}"
        tail = []
        if confirm:
            tail.append(f"confirm: {confirm}")
        if note:
            tail.append(note)
        if tail:
            line += "  # " + "; ".join(tail)
        self.lines.append(line)

    def section(self, key: str, indent: int = 0) -> None:
        self.lines.append(" " * indent + f"{key}:")

    def blank(self) -> None:
        self.lines.append("")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _first(doc: Document, rx: re.Pattern) -> tuple[re.Match | None, Sentence | None]:
    for s in doc.sentences:
        m = rx.search(s.text)
        if m:
            return m, s
    return None, None


CONTROLLER = re.compile(r"^([A-Z][\w&.'-]*(?: [A-Z0-9][\w&.'-]*){0,5})(?:,| \(| is (?:the|de) "
                        r"(?:data )?(?:controller|verwerkingsverantwoordelijke))")


def _controller(doc: Document, base: Policy):
    m, s = _first(doc, HEREAFTER)
    name = m.group(1).strip() if m else None
    if name is None:
        for sent in doc.sentences:
            if re.search(r"\bcontroller\b|verwerkingsverantwoordelijke", sent.text, re.I):
                c = CONTROLLER.match(sent.text)
                if c:
                    name, s = c.group(1).strip(), sent
                    break
    pc, pcs = _first(doc, POSTCODE)
    address = None
    if pc:
        st = STREET.search(pcs.text)
        city = CITY.search(pcs.text)
        after = re.match(r"\s*\)?\s*([A-Z][a-z]+)", pcs.text[pc.end():])
        town = city.group(1) if city else (after.group(1) if after else None)
        if st and town:
            address = f"{st.group(1)} {st.group(2)}, {pc.group(1)} {pc.group(2)} {town}"
    return name, s, address, pcs


def first_party_domains(doc: Document, controller: str | None) -> tuple[list[str], dict, list[str]]:
    """(domains, {excluded look-alike: imitated}, other domains) of the statement: the domain of
    its own URL, of the controller's e-mail addresses and those carrying the controller's name;
    look-alikes of those are excluded."""
    named = domains_named(doc)
    slug = re.sub(r"[^a-z0-9]", "", (controller or "").lower())
    url_m, _ = _first(doc, URL)
    mail_m, _ = _first(doc, EMAIL)
    keep: list[str] = []
    for d in named:
        label = d.split(".")[0].replace("-", "")
        own = (slug and (slug in label or label in slug)) \
            or (url_m and registrable(re.sub(r"^https?://", "", url_m.group(0)).split("/")[0]) == d) \
            or (mail_m and registrable(mail_m.group(1)) == d)
        if own:
            keep.append(d)
    counts = {d: len(s) for d, s in named.items()}
    kept = []
    excluded = {}
    for d in keep:
        other = look_alike(d, [k for k in keep if k != d and counts[k] > counts[d]])
        if other:
            excluded[d] = other
        else:
            kept.append(d)
    for d in named:
        if d not in keep:
            other = look_alike(d, kept)
            if other:
                excluded[d] = other
    others = [d for d in named if d not in kept and d not in excluded]
    return kept, excluded, others


def draft_policy(file: str | Path, out: str | Path | None = None,
                 base: str | Path | Policy | None = None) -> str:
    """The policy YAML drafted from the statement ``file``; written to ``out`` when given."""
    doc = read_statement(file)
    b = base if isinstance(base, Policy) else load_policy(base or DEFAULT_POLICY)
    v = vocabulary()
    found = disclosures(doc)
    D = Draft()
    D.comment(f"Policy drafted by 'privaudit policy draft' from {Path(file).name} "
              f"({doc.language}, {len(doc.sentences)} sentences).")
    D.comment("Each value quotes the statement it came from; values the statement cannot give come "
              f"from the base policy ({Path(b.source).name}).")
    D.comment("Lines marked 'confirm' need a person's judgement before this policy is used.")
    D.value("policy_version", "draft")

    name, name_s, address, addr_s = _controller(doc, b)
    mail_m, mail_s = _first(doc, EMAIL)
    D.section("controller")
    D.value("name", name or b.controller.name, 2, quote=name_s,
            confirm=None if name else "the statement names no controller clearly; base value")
    if address:
        D.value("address", address, 2, quote=addr_s)
    else:
        D.value("address", None, 2, confirm="no postal address found")
    D.value("contact", mail_m.group(0) if mail_m else None, 2, quote=mail_s,
            confirm=None if mail_m else "no e-mail address found")

    d, date_s = statement_date(doc)
    url_m, url_s = _first(doc, URL)
    D.section("statement")
    D.value("title", " - ".join(x for x in (doc.title,) if x) or Path(file).stem, 2)
    D.value("url", url_m.group(0) if url_m else b.statement.url, 2, quote=url_s,
            confirm=None if url_m else "no URL in the statement; base value")
    D.value("date", d if d else b.statement.date, 2, quote=date_s,
            confirm=None if d else "the statement carries no date; base value")
    D.value("language", doc.language, 2)
    D.value("review_months", b.statement.review_months, 2,
            note="review interval: not in the statement, the base policy's")
    D.value("timezone", b.timezone)

    domains, excluded, others = first_party_domains(doc, name or b.controller.name)
    note = []
    for dom, imitated in excluded.items():
        note.append(f"not {dom}: a look-alike of {imitated} (TRN-004)")
    if others:
        note.append(f"other organisations' domains named: {', '.join(others)}")
    if domains:
        D.comment("; ".join(note) if note else "the statement's own URL and e-mail domains")
    D.value("first_party_domains", domains or list(b.first_party_domains),
            confirm=None if domains else "no domain of the controller found; base value")
    D.blank()

    # retention
    r = b.retention
    months, ret_s, anchor_word = None, None, None
    for rx in RETENTION:
        m, s = _first(doc, rx)
        if m:
            n = m.group(1).lower()
            n = int(n) if n.isdigit() else NUMBERS[n]
            unit = m.group(2).lower()
            months = n * (12 if unit.startswith(("jaar", "year")) else 1)
            ret_s, anchor_word = s, m.group(5).lower()
            break
    D.section("retention")
    D.value("inactivity_months", months or r.inactivity_months, 2, quote=ret_s,
            confirm=None if months else "no period after the last visit found; base value")
    anchor_ok = anchor_word in ("bezoek", "visit")
    D.value("anchor", "last_human_visit", 2,
            confirm=None if anchor_ok else f"the statement counts from the last {anchor_word or '?'}"
            "; the toolkit anchors on the last human visit")
    D.value("human_visit_origins", list(r.human_visit_origins), 2,
            note="what counts as a visit: base policy (catalogue 0.4.6)")
    D.value("grace_days", r.grace_days, 2, note="tolerance for deletion batches: base policy")
    legal = [s for s in doc.sentences if re.search(r"wettelijke (bepaling|plicht|verplichting)|"
                                                    r"required by law|legal obligation", s.text, re.I)]
    D.value("fiscal_years", r.fiscal_years, 2, quote=legal[0] if legal else None,
            note="AWR art. 52 lid 4; BW 2:10 (the law, not the statement)")
    D.value("fiscal_year_end", r.fiscal_year_end, 2, note="base policy")
    D.value("oss_registered", r.oss_registered, 2, confirm="OSS registration is not in a statement")
    D.value("oss_years", r.oss_years, 2)
    D.value("residue_tables", list(r.residue_tables), 2, note="base policy")
    D.blank()

    n = b.newsletters
    news = v.processing["general_newsletters"].sentences(doc.sentences)
    unsub = [s for s in doc.sentences if re.search(r"afmelden|uitschrijven|unsubscribe", s.text, re.I)]
    D.section("newsletters")
    D.value("unsubscribe_grace_days", n.unsubscribe_grace_days, 2, quote=unsub[0] if unsub else None,
            note="Tw art. 11.7 / Art. 21(3): base policy")
    D.value("opt_in_actions", list(n.opt_in_actions), 2, quote=news[0] if news else None)
    D.value("opt_out_actions", list(n.opt_out_actions), 2)
    D.value("invalid_consent_methods", list(n.invalid_consent_methods), 2,
            note="GDPR Art. 4(11), 7; Planet49 (the law)")
    if n.unusable_consent_methods is not None:
        D.value("unusable_consent_methods", list(n.unusable_consent_methods), 2)
    D.value("stop_request_types", list(n.stop_request_types), 2)
    D.blank()

    c = b.cookies
    g = v.groups
    claim = g["cookies_functional_claim"].sentences(doc.sentences)
    session = [s for s in doc.sentences if re.search(r"sessie|session", s.text, re.I)
               and "cookie" in s.text.lower()]
    fp = [s for s in doc.sentences if re.search(r"first[- ]party|eigen cookies|own cookies",
                                                s.text, re.I)]
    D.section("cookies")
    D.value("allowed_categories", ["functional"] if claim else list(c.allowed_categories), 2,
            quote=claim[0] if claim else None,
            confirm=None if claim else "the statement does not say which cookies it uses; base value")
    D.value("session_only", True if session else c.session_only, 2,
            quote=session[0] if session else None,
            confirm=None if session else "base value")
    D.value("first_party_only", True if fp else c.first_party_only, 2,
            quote=fp[0] if fp else None, confirm=None if fp else "base value")
    D.value("no_consent_states", list(c.no_consent_states), 2)
    D.comment("known trackers by name: the toolkit's list (base policy)", 2)
    D.section("tracker_patterns", 2)
    for t in c.tracker_patterns:
        D.lines.append("    - " + _dump({"pattern": t.pattern, "category": t.category,
                                         "vendor": t.vendor}))
    D.blank()

    s_ = b.sharing
    D.section("sharing")
    seller = found.recipient_categories.get("external_seller")
    D.value("seller_window_days", s_.seller_window_days, 2, quote=seller[0] if seller else None,
            note="days after an order a seller may receive it: base policy")
    D.value("deny_fields", list(s_.deny_fields), 2, note="base policy")
    D.value("deny_exempt_categories", list(s_.deny_exempt_categories), 2)
    research = [x for x in doc.sentences if re.search(r"e-?mail(adres| address)", x.text, re.I)
                and v.recipient_categories["research_agency"].search(x.text)]
    D.value("research_agency_fields", list(s_.research_agency_fields), 2,
            quote=research[0] if research else None,
            confirm=None if research else "the statement does not say what researchers receive",
            note="invite_token is the toolkit's opaque invitation key" if research else None)
    D.section("default_allowed_fields", 2)
    for cat, fields in s_.default_allowed_fields.items():
        D.value(cat, list(fields), 4)
    D.value("eea_countries", list(s_.eea_countries), 2, note="the law")
    D.section("adequacy", 2)
    for a in s_.adequacy:
        D.lines.append("    - " + _dump({k: v_ for k, v_ in a.model_dump().items()
                                         if v_ is not None and not (k == "scope" and v_ == "full")}))
    D.section("mechanisms", 2)
    for k, m in s_.mechanisms.items():
        D.value(k, {kk: vv for kk, vv in m.model_dump().items() if vv not in (None, False)}, 4)
    D.blank()

    dsr = b.dsr
    D.section("dsr")
    D.value("deadline_months", dsr.deadline_months, 2, note="GDPR Art. 12(3)")
    D.value("extension_months", dsr.extension_months, 2)
    D.value("roll_to_working_day", dsr.roll_to_working_day, 2)
    D.value("holidays", dsr.holidays, 2)
    D.blank()

    D.comment("what the statement discloses (TRN-001, TRN-002, TRN-003)")
    D.section("transparency")
    for cat, sents in sorted(found.data_categories.items()):
        D.comment(f"{cat}: {_q(sents[0], 110)}", 2)
    D.value("disclosed_data_categories", sorted(found.data_categories), 2,
            confirm=None if found.data_categories else
            "the statement names no category of personal data")
    for cat, sents in sorted(found.recipient_categories.items()):
        D.comment(f"{cat}: {_q(sents[0], 110)}", 2)
    D.value("disclosed_recipient_categories", sorted(found.recipient_categories), 2)
    for cc, sents in sorted(found.countries.items()):
        D.comment(f"{cc}: {_q(sents[0], 110)}", 2)
    if found.countries:
        D.value("disclosed_countries", sorted(found.countries), 2,
                confirm="check that these countries are named as destinations of personal data")
    elif found.transfers_mentioned:
        D.value("disclosed_countries", [], 2, quote=found.transfers_mentioned[0],
                confirm="transfers outside the EEA are mentioned without naming countries")
    else:
        D.value("disclosed_countries", [], 2, note="no word on transfers outside the EEA")
    for p, sents in sorted(found.processing.items()):
        D.comment(f"{p}: {_q(sents[0], 110)}", 2)
    D.value("described_processing", sorted(found.processing), 2)
    D.blank()

    D.comment("the rules: titles, legal bases and severities of the base policy; each rule's "
              "clause and quote")
    D.comment("are checked against this statement")
    D.section("rules")
    norm = _normaliser(doc)
    for rid, spec in b.rules.items():
        D.section(rid, 2)
        D.value("title", spec.title, 4)
        quote_ok = spec.quote is not None and _normal(spec.quote) in norm
        where = _where(doc, spec.quote) if quote_ok else None
        D.value("clause", spec.clause, 4,
                note=f"quote found in art. {where}" if quote_ok and where else None,
                confirm=None if quote_ok or spec.quote is None else
                "the base policy's quote is not in this statement")
        if spec.quote is not None:
            D.value("quote", spec.quote, 4)
        D.value("basis", spec.basis, 4)
        D.value("severity", spec.severity, 4)
        if not spec.enabled:
            D.value("enabled", False, 4)
    if b.clauses:
        D.blank()
        D.comment("the statement's clauses as the report's front page quotes them: base policy")
        D.section("clauses")
        for key, clause in b.clauses.items():
            quote_ok = _normal(clause.quote.split("[...]")[0])[:60] in norm if clause.quote else True
            D.section(_dump(key), 2)
            for k, v_ in clause.model_dump().items():
                if v_ is not None:
                    D.value(k, v_, 4, confirm=None if quote_ok or k != "quote" else
                            "the base policy's quote is not in this statement")
    D.blank()
    if b.processing is not None:
        D.blank()
        D.comment("purposes, legal bases and retention per category of data, as the Art. 15 access "
                  "package states them: base policy")
        D.comment("confirm: check them against this statement (the review's ART13-* rows say what "
                  "it lacks)")
        block = yaml.safe_dump({"processing": b.processing.model_dump(mode="json", exclude_none=True)},
                               allow_unicode=True, sort_keys=False, width=100)
        D.lines.extend(block.rstrip("\n").splitlines())
    D.blank()
    D.comment("the CI gate: base policy")
    D.section("gate")
    D.value("must", [r for r in b.gate.must if r in b.rules], 2)
    D.value("not_applicable", dict(b.gate.not_applicable), 2)
    text = D.text()
    try:
        parse_policy(yaml.safe_load(text), where=f"draft of {file}")
    except PolicyError:
        raise
    except yaml.YAMLError as e:         # a bug in this module, said in one line
        raise PolicyError(f"draft of {file}: not valid YAML: {str(e).splitlines()[0]}") from None
    if out is not None:
        outputs.write_text(out, text)          # owner-only, like every output
    return text


def _normal(s: str) -> str:
    s = re.sub(r"(https?://|www\.)\S+", " ", s.lower())     # links as written or as cleaned
    return re.sub(r"[^a-z0-9à-ÿ@]+", " ", s).strip()


def _normaliser(doc: Document) -> str:
    return _normal(" ".join(s.text for s in doc.sentences))


def _where(doc: Document, quote: str) -> str | None:
    """The clause (``1.3``) of the first sentence the quote begins in."""
    head = _normal(quote)[:60]
    for s in doc.sentences:
        if head[:40] and head[:40] in _normal(s.text):
            return s.clause or s.article or None
    return None
