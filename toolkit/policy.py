"""The privacy statement codified as data: reading and validating a policy file.

The package ships the statement of contractstatus.nl as its default policy
(``toolkit/policies/contractstatus.nl.yaml``); ``--policy FILE`` replaces it for another
organisation. A malformed policy is refused with a message naming the key and the problem, e.g.
``policy.yaml: retention.inactivity_months: Input should be greater than or equal to 1``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from .exceptions import PolicyError

POLICIES = Path(__file__).parent / "policies"
DEFAULT_POLICY = POLICIES / "contractstatus.nl.yaml"
SEVERITIES = ("S1", "S2", "S3", "S4", "INFO")
Severity = Literal["S1", "S2", "S3", "S4", "INFO"]


def _each(values: list | None, ok, problem) -> list | None:
    """``values`` when ``ok(v)`` holds for each, else ValueError(``problem(v)``) for the first
    that fails (a field validator's check of every item of a list)."""
    for v in values or []:
        if not ok(v):
            raise ValueError(problem(v))
    return values


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Controller(_Model):
    name: str
    address: str | None = None
    contact: str | None = None


class Statement(_Model):
    title: str | None = None
    url: str
    date: date
    language: str = "nl"
    # a statement older than this is stale (TRN-005; Art. 12, 13(3), 5(2))
    review_months: int = Field(12, ge=1, le=1200)
    # the statement's text (relative to the policy file), reviewed by the report's statement notebook
    file: str | None = None


# recipient categories and processings the statement can disclose or describe (TRN-002, TRN-003)
PROCESSINGS = ("delivery", "distribution_centre", "external_sellers", "cs_outsourcer",
               "research_invitations", "general_newsletters", "personalised_newsletters",
               "customer_service_chats", "call_records", "site_personalisation", "social_login",
               "social_sharing")

# categories of personal data the statement can name (TRN-001; their columns:
# toolkit.rules.transparency.DATA_CATEGORY_COLUMNS)
DATA_CATEGORIES = ("name", "email", "phone", "address", "payment", "birth_date", "gender",
                   "ip_address", "device", "online_identifiers", "account", "chats",
                   "call_recordings", "notes")


class Transparency(_Model):
    """What the statement itself discloses, as data (TRN-001, TRN-002, TRN-003; ``privaudit
    policy draft`` fills it from a statement)."""
    # the categories of personal data the statement names; None: not codified (TRN-001 needs it)
    disclosed_data_categories: list[str] | None = None
    disclosed_recipient_categories: list[str] = []
    # third countries the statement names (ISO codes); EEA countries need no mention
    disclosed_countries: list[str] = []
    described_processing: list[str] = []

    @field_validator("disclosed_recipient_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        from .schema import RECIPIENT_CATEGORIES
        return _each(v, lambda c: c in RECIPIENT_CATEGORIES,
                     lambda c: f"{c!r} is not a recipient category "
                               f"({', '.join(RECIPIENT_CATEGORIES)})")

    @field_validator("disclosed_data_categories")
    @classmethod
    def _data_categories(cls, v: list[str] | None) -> list[str] | None:
        return _each(v, lambda c: c in DATA_CATEGORIES,
                     lambda c: f"{c!r} is not a category of personal data "
                               f"({', '.join(DATA_CATEGORIES)})")

    @field_validator("disclosed_countries")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return _each(v, lambda c: re.fullmatch(r"[A-Z]{2}", c),
                     lambda c: f"{c!r} is not a two-letter country code")

    @field_validator("described_processing")
    @classmethod
    def _processing(cls, v: list[str]) -> list[str]:
        return _each(v, lambda p: p in PROCESSINGS,
                     lambda p: f"{p!r} is not a known processing ({', '.join(PROCESSINGS)})")


class Retention(_Model):
    inactivity_months: int = Field(ge=1, le=1200)
    anchor: Literal["last_human_visit"] = "last_human_visit"
    human_visit_origins: list[str] = ["web", "app"]
    grace_days: int = Field(0, ge=0)
    fiscal_years: int = Field(7, ge=0, le=100)
    fiscal_year_end: str = "12-31"
    oss_registered: bool = False
    oss_years: int = Field(10, ge=0, le=100)
    residue_tables: list[str] = ["visits", "chats", "calls", "newsletter_consent_events",
                                 "newsletter_sends"]

    @field_validator("fiscal_year_end")
    @classmethod
    def _mmdd(cls, v: str) -> str:
        m = re.fullmatch(r"(\d{2})-(\d{2})", v)
        if not m:
            raise ValueError("use MM-DD, e.g. 12-31")
        try:
            date(2001, int(m.group(1)), int(m.group(2)))   # a non-leap year: no 02-29
        except ValueError:
            raise ValueError(f"{v} is not a day of the year") from None
        return v

    @field_validator("residue_tables")
    @classmethod
    def _tables(cls, v: list[str]) -> list[str]:
        from . import schema    # schema imports nothing of ours
        for t in v:
            if t not in schema.TABLES_BY_NAME or not schema.table(t).has("customer_id"):
                raise ValueError(f"{t!r} is not a canonical table with a customer_id")
        return v


class Newsletters(_Model):
    unsubscribe_grace_days: int = Field(2, ge=0)
    opt_in_actions: list[str] = ["subscribe", "confirm", "resubscribe"]
    opt_out_actions: list[str] = ["unsubscribe", "object_profiling"]
    invalid_consent_methods: list[str]
    unusable_consent_methods: list[str] | None = None
    stop_request_types: list[str] = ["withdraw_consent", "objection_marketing", "erasure",
                                     "deauthorisation"]

    @property
    def unusable_methods(self) -> list[str]:
        """Consent methods no send may rely on (default: the invalid ones)."""
        return list(self.unusable_consent_methods or self.invalid_consent_methods)


class TrackerPattern(_Model):
    pattern: str
    category: str
    vendor: str | None = None

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return v


class Cookies(_Model):
    allowed_categories: list[str] = ["functional"]
    session_only: bool = True
    first_party_only: bool = True
    no_consent_states: list[str] = ["none", "rejected"]
    tracker_patterns: list[TrackerPattern] = []


class PersonalData(_Model):
    """When an extra export column counts as personal data (TRN-001; retention and erasure)."""
    min_share: float = Field(0.6, gt=0, le=1)     # of its filled values, this share in one category
    min_values: int = Field(3, ge=1)              # and at least this many matching values


class Adequacy(_Model):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    valid_from: date
    valid_to: date | None = None
    scope: Literal["full", "commercial_only", "dpf_certified_only"] = "full"


class Mechanism(_Model):
    valid_from: date | None = None
    valid_to: date | None = None          # inclusive
    signed_from: date | None = None
    signed_before: date | None = None     # exclusive
    requires_certification: bool = False
    manual_review: bool = False
    invalid: bool = False


class Sharing(_Model):
    seller_window_days: int = Field(90, ge=0)
    deny_fields: list[str] = []
    deny_exempt_categories: list[str] = ["payment_provider"]
    research_agency_fields: list[str] = ["email", "invite_token"]
    default_allowed_fields: dict[str, list[str]] = {}
    eea_countries: list[str]
    adequacy: list[Adequacy] = []
    mechanisms: dict[str, Mechanism] = {}


class Dsr(_Model):
    deadline_months: int = Field(1, ge=1)
    extension_months: int = Field(2, ge=0)
    roll_to_working_day: bool = True
    holidays: Literal["nl"] = "nl"


class Auditor(_Model):
    """The auditor's own copy of the data (``toolkit.purge``): loaded exports older than
    ``retention_days`` make every command warn until ``privaudit purge`` removes them."""
    retention_days: int = Field(90, ge=1, le=3650)


class RuleSpec(_Model):
    title: str
    clause: str
    quote: str | None = None
    basis: str
    severity: Severity
    enabled: bool = True


class Clause(_Model):
    """A clause of the statement as the front page quotes it (Dutch, as published)."""
    title: str
    quote: str


class Gate(_Model):
    """What the CI gate demands beyond the rules themselves.

    ``must``: rules the gate must evaluate; one that is not evaluable (its tables or columns
    are missing) fails the gate with exit 2, unless ``not_applicable`` gives the reason it does
    not apply to this organisation (or ``--allow-not-evaluable`` names it for one run)."""
    must: list[str] = []
    not_applicable: dict[str, str] = {}

    @field_validator("not_applicable")
    @classmethod
    def _reasons(cls, v: dict[str, str]) -> dict[str, str]:
        for rid, reason in v.items():
            if not str(reason or "").strip():
                raise ValueError(f"{rid}: give the reason it does not apply")
        return v


class Text(_Model):
    """A text in the statement's language (``nl``) with an optional English rendering."""
    nl: str
    en: str | None = None


class Purpose(Text):
    clause: str | None = None          # the statement's clause that names the purpose


class DataCategory(_Model):
    """One category of personal data (Art. 15(1)(b)): which columns, why, on which basis."""
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    columns: dict[str, list[str]]      # canonical table -> its columns in this category
    purposes: list[Purpose] = Field(min_length=1)
    basis: list[str] = Field(min_length=1)   # GDPR articles, e.g. "6(1)(b)"
    basis_note: Text | None = None
    # customer_horizon: inactivity_months after the person's last visit; fiscal: fiscal_years
    # after the end of the order's fiscal year; hold: while a legal hold is open
    retention: Literal["customer_horizon", "fiscal", "hold"]
    source: Literal["data_subject", "observed", "derived", "third_party"]
    source_note: Text | None = None

    @field_validator("basis")
    @classmethod
    def _articles(cls, v: list[str]) -> list[str]:
        return _each(v, lambda a: re.fullmatch(r"6\(1\)\([a-f]\)|9\(2\)\([a-j]\)", a),
                     lambda a: f"{a!r} is not a legal basis like 6(1)(b) or 9(2)(a)")

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from . import schema    # schema imports nothing of ours
        for t, cols in v.items():
            if t not in schema.TABLES_BY_NAME:
                raise ValueError(f"{t!r} is not a canonical table")
            for c in cols:
                if not schema.table(t).has(c):
                    raise ValueError(f"{t}.{c} is not a column of the canonical schema")
        return v


class Authority(_Model):
    name: str
    url: str


class Processing(_Model):
    """What the controller processes, why and on which basis (Art. 13-15, 30): the access
    package (``privaudit subject access``) states it per category of data."""
    supervisory_authority: Authority
    automated_decisions: Text | None = None     # Art. 15(1)(h); None: there are none
    categories: list[DataCategory] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique(cls, v: list[DataCategory]) -> list[DataCategory]:
        ids = [c.id for c in v]
        if len(set(ids)) != len(ids):
            raise ValueError("category ids must be unique")
        return v


class Policy(_Model):
    policy_version: str | None = None
    controller: Controller
    statement: Statement
    timezone: str = "Europe/Amsterdam"
    first_party_domains: list[str] = Field(min_length=1)
    retention: Retention
    newsletters: Newsletters
    cookies: Cookies
    sharing: Sharing
    dsr: Dsr = Dsr()
    personal_data: PersonalData = PersonalData()
    transparency: Transparency | None = None
    rules: dict[str, RuleSpec]
    clauses: dict[str, Clause] = {}
    gate: Gate = Gate()
    # read by the access package only; excluded from dumps so the suites' policy fingerprint
    # (toolkit.suites) does not change with it
    processing: Processing | None = Field(None, exclude=True)
    # how long the auditor keeps loaded exports; not a rule parameter (excluded like processing)
    auditor: Auditor = Field(Auditor(), exclude=True)

    # set by load_policy: where it came from and the sha256 of its bytes
    source: str = ""
    sha256: str = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from .dates import check_timezone
        try:
            return check_timezone(v)
        except PolicyError as e:
            raise ValueError(str(e).split(": ", 1)[-1]) from None

    @field_validator("first_party_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        out = []
        for d in v:
            d = d.strip().lower().lstrip(".")
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d):
                raise ValueError(f"{d!r} is not a domain name")
            out.append(d)
        return out

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, v: dict[str, RuleSpec]) -> dict[str, RuleSpec]:
        for rid in v:
            if not re.fullmatch(r"[A-Z]{2,4}-\d{3}", rid):
                raise ValueError(f"{rid!r} is not a rule id like RET-001")
        return v

    @model_validator(mode="after")
    def _known_rules(self) -> "Policy":
        for key, ids in (("gate.must", self.gate.must),
                         ("gate.not_applicable", list(self.gate.not_applicable))):
            for rid in ids:
                if rid not in self.rules:
                    raise ValueError(f"{key}: {rid} is not a rule of this policy")
        for rid in self.gate.must:
            if not self.rules[rid].enabled:
                raise ValueError(f"gate.must: {rid} is disabled (enabled: false); a must-rule "
                                 f"has to be evaluated")
        return self

    @model_validator(mode="after")
    def _transparency_for_trn(self) -> "Policy":
        needing = sorted(r for r in self.rules if r in ("TRN-002", "TRN-003"))
        if needing and self.transparency is None:
            raise ValueError(f"transparency: required by rules {', '.join(needing)} (what the "
                             "statement discloses; 'privaudit policy draft' writes it)")
        if "TRN-001" in self.rules and (self.transparency is None
                                        or self.transparency.disclosed_data_categories is None):
            raise ValueError("transparency.disclosed_data_categories: required by rule TRN-001 "
                             "(the categories of personal data the statement names, e.g. [name, "
                             "email, address]; 'privaudit policy draft' writes it)")
        return self

    @property
    def statement_file(self) -> Path | None:
        """The statement's text file, when the policy names one (relative to the policy file)."""
        if not self.statement.file:
            return None
        return (Path(self.source).parent if self.source else POLICIES) / self.statement.file

    def rule(self, rule_id: str) -> RuleSpec:
        return self.rules[rule_id]

    def rule_clauses(self, rule_id: str) -> list[str]:
        """The statement clauses a rule checks (its ``clause``, e.g. "7.1, 1.3")."""
        return [c.strip() for c in self.rules[rule_id].clause.split(",") if c.strip()]


def parse_policy(data: object, where: str = "policy") -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: expected a mapping of keys (controller, statement, rules, ...)")
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise PolicyError(f"{where}: {key}: {msg}" if key else f"{where}: {msg}") from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate a policy file (default: the shipped contractstatus.nl statement)."""
    p = Path(path) if path is not None else DEFAULT_POLICY
    if not p.is_file() and path is not None and (POLICIES / f"{p.name}.yaml").is_file():
        p = POLICIES / f"{p.name}.yaml"          # a shipped policy by name
    if not p.is_file():
        raise PolicyError(f"{p}: policy file not found")
    raw = p.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PolicyError(f"{p}: not valid YAML: {first}") from None
    pol = parse_policy(data, where=str(p))
    return pol.model_copy(update={"source": str(p), "sha256": hashlib.sha256(raw).hexdigest()})
