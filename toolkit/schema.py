"""The canonical tables: one declarative definition read by the loader, the rules, masking and docs.

Every table of contract section 3 is here with its columns, DuckDB types, primary key and which
columns hold personal data (and of what kind, so masking knows how to hide them). Columns and
tables marked ``core=False`` are optional extras from ``rule-catalogue.md`` section 1: the loader
types them when an export has them, and rules that need them report ``not_evaluable`` otherwise.

This module imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Kinds of personal data. Masking (toolkit.masking) decides per kind how a value is shown.
NAME, EMAIL, PHONE, ADDRESS, IP, CARD, IBAN, TEXT, BIRTH, CREDENTIAL, IDENT = (
    "name", "email", "phone", "address", "ip", "card", "iban", "text", "birth", "credential",
    "identifier",
)
PII_KINDS = (NAME, EMAIL, PHONE, ADDRESS, IP, CARD, IBAN, TEXT, BIRTH, CREDENTIAL, IDENT)

LIST_TYPE = "VARCHAR[]"
TYPES = ("VARCHAR", "TIMESTAMPTZ", "DATE", "BOOLEAN", "INTEGER", "BIGINT", "DECIMAL(18,2)", LIST_TYPE)


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "VARCHAR"
    pii: str | None = None          # kind of personal data, None when not personal
    fiscal: bool = False            # kept for the fiscal retention duty (catalogue 0.6 / 1.3)
    required: bool = False          # a row without a value is rejected (primary keys always are)
    values: tuple[str, ...] = ()    # the documented value set (informative; unknown values are counted)
    free_text: bool = False         # scanned for card numbers, BSN and IBAN (SEC rules)
    core: bool = True               # part of contract section 3 (False: optional extra)
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type}")
        if self.pii is not None and self.pii not in PII_KINDS:
            raise ValueError(f"column {self.name}: unknown pii kind {self.pii}")

    @property
    def personal(self) -> bool:
        return self.pii is not None

    @property
    def is_list(self) -> bool:
        return self.type == LIST_TYPE


@dataclass(frozen=True)
class Table:
    name: str
    primary_key: str
    columns: tuple[Column, ...]
    doc: str = ""
    core: bool = True
    event_time: str | None = None   # the column that dates a row (future-date counts, anchors)
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        self._by_name.update({c.name: c for c in self.columns})
        if self.primary_key not in self._by_name:
            raise ValueError(f"table {self.name}: primary key {self.primary_key} is not a column")
        if self.event_time is not None and self.event_time not in self._by_name:
            raise ValueError(f"table {self.name}: event_time {self.event_time} is not a column")

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def personal_columns(self) -> list[Column]:
        return [c for c in self.columns if c.personal]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required or c.name == self.primary_key]


def _c(name: str, type: str = "VARCHAR", **kw) -> Column:
    return Column(name, type, **kw)


TS, DATE, BOOL, INT, BIGINT, MONEY, LIST = (
    "TIMESTAMPTZ", "DATE", "BOOLEAN", "INTEGER", "BIGINT", "DECIMAL(18,2)", LIST_TYPE)

CUSTOMER_STATUS = ("active", "deauthorised", "erased", "deleted", "blocked", "anonymised")
VISIT_ORIGINS = ("web", "app", "newsletter_click", "tracking_pixel", "api", "prefetch", "backoffice")
NEWSLETTER_TYPES = ("general", "personalised", "research")
CONSENT_ACTIONS = ("subscribe", "confirm", "unsubscribe", "resubscribe", "object_profiling")
CONSENT_METHODS = (
    "unticked_checkbox", "double_opt_in", "account_setting", "link_in_mail", "email_to_info",
    "cs_agent", "soft_opt_in_customer", "pre_ticked", "implied_by_visit", "bundled_terms",
    "continued_use", "import", "unknown")
CONSENT_STATES = ("none", "rejected", "accepted_all", "accepted_partial")
STORAGE_KINDS = ("cookie", "local_storage", "session_storage", "indexeddb", "pixel_request",
                 "fingerprint_script")
COOKIE_CATEGORIES = ("functional", "analytics", "marketing", "personalisation", "social", "unknown")
RECIPIENT_ROLES = ("processor", "sub_processor", "independent_controller", "joint_controller",
                   "authority")
RECIPIENT_CATEGORIES = (
    "delivery", "distribution_centre", "external_seller", "cs_outsourcer", "research_agency",
    "email_service", "payment_provider", "hosting", "analytics", "advertising", "social_network",
    "authority", "other")
AGREEMENT_TYPES = ("dpa_art28", "joint_art26", "c2c_sharing", "seller_terms")
TRANSFER_MECHANISMS = ("eea", "adequacy", "dpf", "scc_2021", "scc_2010", "privacy_shield", "bcr",
                       "art49", "none")
DSR_TYPES = ("access", "rectification", "erasure", "restriction", "objection",
             "objection_marketing", "portability", "withdraw_consent", "deauthorisation")
DSR_OUTCOMES = ("granted", "partial", "refused", "no_data", "withdrawn")

TABLES: tuple[Table, ...] = (
    Table("customers", "customer_id", (
        _c("customer_id"),
        _c("person_key", doc="identity-resolution key shared by all accounts of one person; "
                             "empty means the customer is its own person"),
        _c("created_at", TS),
        _c("status", values=CUSTOMER_STATUS),
        _c("deauthorised_at", TS),
        _c("erased_at", TS),
        _c("first_name", pii=NAME),
        _c("last_name", pii=NAME),
        _c("email", pii=EMAIL),
        _c("phone", pii=PHONE),
        _c("street", pii=ADDRESS),
        _c("house_number", pii=ADDRESS),
        _c("postcode", pii=ADDRESS),
        _c("city", pii=ADDRESS),
        _c("country_code"),
        _c("last_login_at", TS),
        _c("birth_date", DATE, pii=BIRTH, core=False),
        _c("gender", pii=IDENT, core=False),
        _c("password_hash", pii=CREDENTIAL, core=False),
        _c("notes", pii=TEXT, free_text=True, core=False),
        _c("marketing_opt_in", BOOL, core=False),
        _c("source_system", core=False),
    ), doc="accounts and their profile data", event_time="created_at"),
    Table("visits", "visit_id", (
        _c("visit_id"),
        _c("customer_id"),
        _c("visitor_id", pii=IDENT),
        _c("started_at", TS),
        _c("ip_address", pii=IP),
        _c("origin", values=VISIT_ORIGINS),
        _c("is_bot", BOOL),
        _c("ended_at", TS, core=False),
        _c("ip_truncated", BOOL, core=False),
        _c("user_agent", pii=IDENT, core=False),
        _c("is_authenticated", BOOL, core=False),
        _c("site_domain", core=False),
        _c("landing_url", core=False),
    ), doc="web and app sessions; only human web/app visits anchor retention",
        event_time="started_at"),
    Table("orders", "order_id", (
        _c("order_id", fiscal=True),
        _c("customer_id"),
        _c("placed_at", TS, fiscal=True),
        _c("status", fiscal=True),
        # Billing and delivery blocks are printed on the invoice (and are OSS place-of-supply
        # evidence), so they are fiscal: catalogue 0.6 and 1.3.
        _c("billing_name", pii=NAME, fiscal=True),
        _c("billing_street", pii=ADDRESS, fiscal=True),
        _c("billing_postcode", pii=ADDRESS, fiscal=True),
        _c("billing_city", pii=ADDRESS, fiscal=True),
        _c("billing_country", fiscal=True),
        _c("delivery_name", pii=NAME, fiscal=True),
        _c("delivery_street", pii=ADDRESS, fiscal=True),
        _c("delivery_postcode", pii=ADDRESS, fiscal=True),
        _c("delivery_city", pii=ADDRESS, fiscal=True),
        _c("delivery_country", fiscal=True),
        _c("email_at_order", pii=EMAIL),
        _c("phone_at_order", pii=PHONE),
        _c("ip_address", pii=IP),
        _c("currency", fiscal=True),
        _c("total_incl_vat", MONEY, fiscal=True),
        _c("total_vat", MONEY, fiscal=True),
        _c("invoice_id", fiscal=True),
        _c("customer_comment", pii=TEXT, free_text=True, core=False),
        _c("user_agent", pii=IDENT, core=False),
        _c("is_b2b", BOOL, fiscal=True, core=False),
        _c("oss_scheme", BOOL, fiscal=True, core=False),
        _c("consumption_member_state", fiscal=True, core=False),
        _c("fiscal_year", INT, fiscal=True, core=False),
        _c("anonymised_at", TS, core=False),
        _c("deleted_at", TS, core=False),
    ), doc="orders; billing/delivery blocks and totals are fiscal records (7 years)",
        event_time="placed_at"),
    Table("order_items", "order_item_id", (
        _c("order_item_id", fiscal=True),
        _c("order_id", fiscal=True),
        _c("seller_id", fiscal=True),
        _c("sku", fiscal=True),
        _c("description", fiscal=True),
        _c("quantity", INT, fiscal=True),
        _c("unit_price_incl_vat", MONEY, fiscal=True),
        _c("vat_rate", "DECIMAL(18,2)", fiscal=True, core=False),
    ), doc="order lines, including items sold by external sellers"),
    Table("payments", "payment_id", (
        _c("payment_id", fiscal=True),
        _c("order_id", fiscal=True),
        _c("customer_id"),
        _c("paid_at", TS, fiscal=True),
        _c("method", fiscal=True),
        _c("psp_reference", fiscal=True),
        _c("amount", MONEY, fiscal=True),
        _c("card_pan", pii=CARD, doc="must never hold a full card number (SEC-001)"),
        _c("card_last4", fiscal=True),
        _c("card_cvv", pii=CARD, doc="must never be filled (SEC-001)"),
        _c("iban", pii=IBAN),
        _c("status", fiscal=True, core=False),
        _c("card_holder", pii=NAME, core=False),
        _c("card_expiry", pii=CARD, core=False),
        _c("account_holder", pii=NAME, core=False),
        _c("psp_recipient_id", core=False),
        _c("deleted_at", TS, core=False),
    ), doc="payments against orders", event_time="paid_at"),
    Table("chats", "chat_id", (
        _c("chat_id"),
        _c("customer_id"),
        _c("channel"),
        _c("started_at", TS),
        _c("handled_by_recipient_id"),
        _c("ended_at", TS, core=False),
        _c("in_analysis_set", BOOL, core=False),
    ), doc="customer-service conversations", event_time="started_at"),
    Table("chat_messages", "message_id", (
        _c("message_id"),
        _c("chat_id"),
        _c("sent_at", TS),
        _c("sender_role"),
        _c("body", pii=TEXT, free_text=True),
        _c("attachment_ref", core=False),
        _c("attachment_kind", core=False),
    ), doc="messages of the conversations; bodies are free text", event_time="sent_at"),
    Table("calls", "call_id", (
        _c("call_id"),
        _c("customer_id"),
        _c("started_at", TS),
        _c("duration_s", INT),
        _c("caller_number", pii=PHONE),
        _c("recorded", BOOL),
        _c("transcript", pii=TEXT, free_text=True),
        _c("direction", core=False),
        _c("recording_ref", core=False),
        _c("recording_deleted_at", TS, core=False),
        _c("recording_notice_played", BOOL, core=False),
        _c("handled_by_recipient_id", core=False),
        _c("in_analysis_set", BOOL, core=False),
    ), doc="telephone calls with agents' notes or transcripts", event_time="started_at"),
    Table("newsletter_consent_events", "event_id", (
        _c("event_id"),
        _c("customer_id"),
        _c("email", pii=EMAIL),
        _c("newsletter_type", values=NEWSLETTER_TYPES),
        _c("action", values=CONSENT_ACTIONS),
        _c("occurred_at", TS),
        _c("method", values=CONSENT_METHODS),
        _c("person_key", core=False),
        _c("consent_text_version", core=False),
        _c("statement_version", core=False),
        _c("ip_address", pii=IP, core=False),
        _c("source_url", core=False),
        _c("declared_birth_date", DATE, pii=BIRTH, core=False),
        _c("processed_at", TS, core=False),
    ), doc="newsletter subscribe/unsubscribe history", event_time="occurred_at"),
    Table("newsletter_sends", "send_id", (
        _c("send_id"),
        _c("campaign_id"),
        _c("customer_id"),
        _c("email", pii=EMAIL),
        _c("newsletter_type", values=NEWSLETTER_TYPES),
        _c("sent_at", TS),
        _c("personalised", BOOL),
        _c("has_unsubscribe_link", BOOL),
        _c("person_key", core=False),
        _c("personalisation_inputs", LIST, core=False),
        _c("sender_identity", core=False),
        _c("esp_recipient_id", core=False),
    ), doc="newsletter mails sent", event_time="sent_at"),
    Table("cookie_observations", "observation_id", (
        _c("observation_id"),
        _c("scan_id"),
        _c("scanned_at", TS),
        _c("page_url"),
        _c("consent_state", values=CONSENT_STATES),
        _c("storage_kind", values=STORAGE_KINDS),
        _c("name"),
        _c("domain"),
        _c("path"),
        _c("expires_at", TS),
        _c("is_session", BOOL),
        _c("declared_category", values=COOKIE_CATEGORIES),
        _c("vendor"),
        _c("max_age_s", BIGINT, core=False),
        _c("set_by_url", core=False),
    ), doc="cookies and similar storage seen by site scans", event_time="scanned_at"),
    Table("recipients", "recipient_id", (
        _c("recipient_id"),
        _c("name"),
        _c("role", values=RECIPIENT_ROLES),
        _c("category", values=RECIPIENT_CATEGORIES),
        _c("country_code"),
        _c("seller_id"),
        _c("disclosed_in_statement", BOOL, core=False),
    ), doc="the register of parties that receive personal data"),
    Table("recipient_agreements", "agreement_id", (
        _c("agreement_id"),
        _c("recipient_id"),
        _c("agreement_type", values=AGREEMENT_TYPES),
        _c("signed_on", DATE),
        _c("valid_from", DATE),
        _c("valid_to", DATE, doc="inclusive"),
        _c("terminated_on", DATE, doc="effective from this day"),
        _c("allowed_fields", LIST),
        _c("transfer_mechanism", values=TRANSFER_MECHANISMS),
        _c("allowed_purposes", LIST, core=False),
        _c("dpf_certified_from", DATE, core=False),
        _c("dpf_certified_to", DATE, core=False),
        _c("tia_done", BOOL, core=False),
    ), doc="agreements with recipients (Art. 28 DPAs, sharing terms) and their field allow-lists"),
    Table("transfers", "transfer_id", (
        _c("transfer_id"),
        _c("recipient_id"),
        _c("transferred_at", TS),
        _c("customer_id"),
        _c("order_id"),
        _c("fields", LIST),
        _c("purpose"),
        _c("destination_country"),
        _c("chat_id", core=False),
        _c("legal_request_id", core=False),
        _c("batch_id", core=False),
    ), doc="disclosures of a customer's data to a recipient", event_time="transferred_at"),
    Table("dsr_requests", "dsr_id", (
        _c("dsr_id"),
        _c("customer_id"),
        _c("type", values=DSR_TYPES),
        _c("channel"),
        _c("received_at", TS),
        _c("extension_notified_at", TS),
        _c("answered_at", TS),
        _c("completed_at", TS),
        _c("outcome", values=DSR_OUTCOMES),
        _c("person_key", core=False),
        _c("requester_email_hash", core=False),
        _c("id_requested_at", TS, core=False),
        _c("id_verified_at", TS, core=False),
        _c("extension_reason", core=False),
        _c("refusal_reason", core=False),
        _c("complaint_info_given", BOOL, core=False),
        _c("recipients_notified_at", TS, core=False),
    ), doc="data-subject requests (access, erasure, ...)", event_time="received_at"),
    Table("legal_holds", "hold_id", (
        _c("hold_id"),
        _c("customer_id"),
        _c("scope_tables", LIST),
        _c("reason"),
        _c("opened_at", TS),
        _c("closed_at", TS),
        _c("legal_request_id", core=False),
        _c("review_due_at", TS, core=False),
        _c("approved_by", core=False),
    ), doc="holds that suspend deletion for named customers and tables", event_time="opened_at"),
    # Optional tables of rule-catalogue.md section 1 that residue checks read when exported.
    Table("customer_addresses", "address_id", (
        _c("address_id"),
        _c("customer_id"),
        _c("kind"),
        _c("name", pii=NAME),
        _c("street", pii=ADDRESS),
        _c("house_number", pii=ADDRESS),
        _c("postcode", pii=ADDRESS),
        _c("city", pii=ADDRESS),
        _c("country_code"),
        _c("created_at", TS),
        _c("deleted_at", TS),
    ), doc="address book of an account (optional)", core=False, event_time="created_at"),
    Table("cs_notes", "note_id", (
        _c("note_id"),
        _c("customer_id"),
        _c("created_at", TS),
        _c("author"),
        _c("body", pii=TEXT, free_text=True),
    ), doc="customer-service notes (optional)", core=False, event_time="created_at"),
    Table("invoices", "invoice_id", (
        _c("invoice_id", fiscal=True),
        _c("order_id", fiscal=True),
        _c("invoice_series", fiscal=True),
        _c("invoice_seq", BIGINT, fiscal=True),
        _c("issued_at", TS, fiscal=True),
        _c("customer_name", pii=NAME, fiscal=True),
        _c("customer_address", pii=ADDRESS, fiscal=True),
        _c("total_excl_vat", MONEY, fiscal=True),
        _c("total_vat", MONEY, fiscal=True),
        _c("deleted_at", TS),
    ), doc="invoices as issued (optional; fiscal)", core=False, event_time="issued_at"),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
CORE_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.core)


def table(name: str) -> Table:
    """The canonical table called ``name``; KeyError names the known tables."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES_BY_NAME)}") from None


def ddl(t: Table, columns: list[str] | None = None) -> str:
    """CREATE TABLE statement for ``t`` (optionally only the given columns, in schema order)."""
    cols = [c for c in t.columns if columns is None or c.name in columns]
    body = ",\n  ".join(f'"{c.name}" {c.type}' for c in cols)
    return f'CREATE TABLE "{t.name}" (\n  {body}\n)'


def markdown() -> str:
    """The schema as Markdown tables, for the docs (``privaudit schema``)."""
    out = []
    for t in TABLES:
        out.append(f"### `{t.name}`{'' if t.core else ' (optional)'}\n\n{t.doc}\n")
        out.append("| column | type | personal | fiscal | notes |\n|---|---|---|---|---|")
        for c in t.columns:
            notes = []
            if c.name == t.primary_key:
                notes.append("primary key")
            if not c.core:
                notes.append("optional")
            if c.values:
                notes.append("values: " + ", ".join(c.values))
            if c.free_text:
                notes.append("free text")
            if c.doc:
                notes.append(c.doc)
            out.append(f"| {c.name} | {c.type} | {c.pii or ''} | {'yes' if c.fiscal else ''} "
                       f"| {'; '.join(notes)} |")
        out.append("")
    return "\n".join(out)
