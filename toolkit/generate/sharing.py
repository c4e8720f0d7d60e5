"""Recipients, their agreements (which start, lapse, get renewed, are backdated or terminated),
and transfers.

The agreement history is fixed data (Dutch civil dates, ``valid_to`` inclusive, ``terminated_on``
effective from that day). Background transfers are only written on days where SHR-002, SHR-003
and SHR-008 are satisfied (``covered``); the gaps in the history are where scenarios plant
violations and, on the days just beside them, near-misses.

Field vocabulary of ``transfers.fields`` / ``allowed_fields``: canonical column names
(``email``, ``first_name``, ``last_name``, ``phone``, ``order_id``, ``sku``, ``quantity``,
``description``, ``delivery_name``, ``delivery_street``, ``delivery_postcode``,
``delivery_city``, ``delivery_country``, ``billing_name``, ``billing_street``,
``billing_postcode``, ``billing_city``, ``email_at_order``, ``phone_at_order``, ``amount``,
``total_incl_vat``), plus ``invite_token``, ``newsletter_type``, ``chat_body`` and the deny-list
names ``card_pan``, ``card_cvv``, ``bsn``, ``password_hash``, ``id_document``, ``birth_date``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .calendar import nl_date
from .context import Ctx, Cust

EEA = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
                "IS LI NO".split())
SCC_2021_FROM = date(2021, 6, 27)
SCC_2010_SIGN_BEFORE = date(2021, 9, 27)
SCC_2010_END = date(2022, 12, 27)
PRIVACY_SHIELD_END = date(2020, 7, 16)

DELIVERY = ["order_id", "delivery_name", "delivery_street", "delivery_postcode", "delivery_city",
            "delivery_country"]
LINES = ["sku", "quantity", "description"]


@dataclass(frozen=True)
class Recipient:
    recipient_id: str
    name: str
    role: str
    category: str
    country_code: str
    seller_id: str | None = None


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    recipient_id: str
    agreement_type: str
    signed_on: date
    valid_from: date
    valid_to: date | None
    terminated_on: date | None
    allowed_fields: tuple[str, ...] | None
    transfer_mechanism: str


RECIPIENTS: tuple[Recipient, ...] = (
    Recipient("R01", "PakketPost Nederland B.V.", "processor", "delivery", "NL"),
    Recipient("R02", "SnelKoerier Benelux B.V.", "independent_controller", "delivery", "NL"),
    Recipient("R03", "Distributiecentrum Apeldoorn B.V.", "processor", "distribution_centre", "NL"),
    Recipient("R04", "Fietsonderdelen Zwolle B.V.", "independent_controller", "external_seller", "NL", "S01"),
    Recipient("R05", "Huis & Tuin Direct B.V.", "independent_controller", "external_seller", "NL", "S02"),
    Recipient("R06", "Boekhandel De Ezelsoor", "independent_controller", "external_seller", "BE", "S03"),
    Recipient("R07", "Elektro Oost B.V.", "independent_controller", "external_seller", "NL", "S04"),
    Recipient("R08", "Panelwijzer Onderzoek B.V.", "processor", "research_agency", "NL"),
    Recipient("R09", "MailFlow Europe B.V.", "processor", "email_service", "NL"),
    Recipient("R10", "PayGate Payments N.V.", "independent_controller", "payment_provider", "NL"),
    Recipient("R11", "KlantContact Uitbesteed B.V.", "processor", "cs_outsourcer", "NL"),
    Recipient("R12", "Belastingdienst", "authority", "authority", "NL"),
    Recipient("R13", "NimbusCRM Inc.", "processor", "hosting", "US"),
    Recipient("R14", "Nieuwsbrief Expres B.V.", "processor", "email_service", "NL"),
    Recipient("R15", "Politie Oost-Nederland", "authority", "authority", "NL"),
    # recipients of the transparency scenarios (plant_transparency): data flow to them only there
    Recipient("R16", "Doelgroep Media B.V.", "processor", "advertising", "NL"),
    Recipient("R17", "Alpen Paketdienst AG", "processor", "delivery", "CH"),
    Recipient("R18", "Paketdienst Rhein GmbH", "processor", "delivery", "DE"),
    Recipient("R19", "Pakhuis Oost B.V.", "processor", "distribution_centre", "NL"),
    Recipient("R20", "Pakhuis West B.V.", "processor", "distribution_centre", "NL"),
    Recipient("R21", "Klantwaarde Analyse B.V.", "processor", "analytics", "NL"),
)
BY_ID = {r.recipient_id: r for r in RECIPIENTS}
SELLER_RECIPIENT = {r.seller_id: r.recipient_id for r in RECIPIENTS if r.seller_id}
UNKNOWN_RECIPIENTS = {"R90": "DataVerrijking B.V.", "R91": "Adresboek Marketing B.V.",
                      "R92": "OudKoerier B.V."}   # receive data, absent from the register

_SELLER_FIELDS = tuple(["order_id"] + LINES + DELIVERY[1:] + ["billing_name"])


def _d(s: str) -> date:
    return date.fromisoformat(s)


AGREEMENTS: tuple[Agreement, ...] = (
    # carrier: continuous; the renewal of 2022-06-01 adds phone_at_order for delivery notices
    Agreement("AG001", "R01", "dpa_art28", _d("2018-05-01"), _d("2018-05-25"), _d("2022-05-31"), None,
              tuple(DELIVERY + ["email_at_order"]), "eea"),
    Agreement("AG002", "R01", "dpa_art28", _d("2022-05-20"), _d("2022-06-01"), None, None,
              tuple(DELIVERY + ["email_at_order", "phone_at_order"]), "eea"),
    # second carrier: lapses 2023-12-31; the renewal is backdated (valid 02-01, signed 02-20)
    Agreement("AG003", "R02", "c2c_sharing", _d("2019-01-10"), _d("2019-01-15"), _d("2023-12-31"), None,
              tuple(DELIVERY + ["phone_at_order"]), "eea"),
    Agreement("AG004", "R02", "c2c_sharing", _d("2024-02-20"), _d("2024-02-01"), None, None,
              tuple(DELIVERY + ["phone_at_order"]), "eea"),
    # distribution centre: terminated early (effective 2025-03-01), new DPA from 2025-03-15
    Agreement("AG005", "R03", "dpa_art28", _d("2018-05-20"), _d("2018-05-25"), None, _d("2025-03-01"),
              tuple(["order_id"] + LINES + DELIVERY[1:]), "eea"),
    Agreement("AG006", "R03", "dpa_art28", _d("2025-03-15"), _d("2025-03-15"), None, None,
              tuple(["order_id"] + LINES + DELIVERY[1:]), "eea"),
    Agreement("AG007", "R04", "seller_terms", _d("2018-12-15"), _d("2019-01-01"), None, None, _SELLER_FIELDS, "eea"),
    Agreement("AG008", "R05", "seller_terms", _d("2018-12-15"), _d("2019-01-01"), None, None, _SELLER_FIELDS, "eea"),
    Agreement("AG009", "R06", "seller_terms", _d("2018-12-15"), _d("2019-01-01"), None, None, _SELLER_FIELDS, "eea"),
    Agreement("AG010", "R07", "seller_terms", _d("2023-03-20"), _d("2023-04-01"), None, None, _SELLER_FIELDS, "eea"),
    # research agency: DPA to 2024-12-31, renewed only from 2025-02-01 (January uncovered)
    Agreement("AG011", "R08", "dpa_art28", _d("2021-01-10"), _d("2021-02-01"), _d("2024-12-31"), None,
              ("email", "invite_token"), "eea"),
    Agreement("AG012", "R08", "dpa_art28", _d("2025-02-01"), _d("2025-02-01"), None, None,
              ("email", "invite_token"), "eea"),
    Agreement("AG013", "R09", "dpa_art28", _d("2018-05-01"), _d("2018-05-25"), None, None,
              ("email", "first_name", "newsletter_type"), "eea"),
    Agreement("AG014", "R10", "c2c_sharing", _d("2018-05-01"), _d("2018-05-25"), None, None,
              ("order_id", "amount", "email_at_order", "billing_name"), "eea"),
    Agreement("AG015", "R11", "dpa_art28", _d("2020-02-15"), _d("2020-03-01"), None, None,
              ("first_name", "last_name", "email", "order_id", "chat_body"), "eea"),
    # US hosting processor: Privacy Shield, then 2010 SCCs, then 2021 SCCs
    Agreement("AG016", "R13", "dpa_art28", _d("2018-05-01"), _d("2018-05-25"), _d("2021-01-04"), None,
              ("email", "first_name", "last_name", "phone", "country_code"), "privacy_shield"),
    Agreement("AG017", "R13", "dpa_art28", _d("2021-01-05"), _d("2021-01-05"), _d("2023-03-31"), None,
              ("email", "first_name", "last_name", "phone", "country_code"), "scc_2010"),
    Agreement("AG018", "R13", "dpa_art28", _d("2023-04-01"), _d("2023-04-01"), None, None,
              ("email", "first_name", "last_name", "phone", "country_code"), "scc_2021"),
    # a processor with only a data-sharing agreement: no Art. 28 DPA (SHR-002)
    Agreement("AG019", "R14", "c2c_sharing", _d("2023-01-10"), _d("2023-01-15"), None, None,
              ("email",), "eea"),
    # transparency scenarios: an ad network, a Swiss carrier on the 2021 SCCs, a German carrier,
    # two warehouses contracted on the statement's date (2018-05-13) and the day after, analytics
    Agreement("AG020", "R16", "dpa_art28", _d("2024-03-01"), _d("2024-03-01"), None, None,
              ("email",), "eea"),
    Agreement("AG021", "R17", "dpa_art28", _d("2022-01-10"), _d("2022-01-10"), None, None,
              tuple(DELIVERY), "scc_2021"),
    Agreement("AG022", "R18", "dpa_art28", _d("2020-06-01"), _d("2020-06-01"), None, None,
              tuple(DELIVERY), "eea"),
    Agreement("AG023", "R19", "dpa_art28", _d("2018-05-13"), _d("2018-05-13"), None, None,
              tuple(["order_id"] + LINES + DELIVERY[1:]), "eea"),
    Agreement("AG024", "R20", "dpa_art28", _d("2018-05-14"), _d("2018-05-14"), None, None,
              tuple(["order_id"] + LINES + DELIVERY[1:]), "eea"),
    Agreement("AG025", "R21", "dpa_art28", _d("2025-01-06"), _d("2025-01-06"), None, None,
              ("email", "order_id", "total_incl_vat"), "eea"),
)


def agreements(as_of: date) -> list[Agreement]:
    """The register as exported on ``as_of``: agreements signed before that day."""
    return [a for a in AGREEMENTS if a.signed_on < as_of]


def valid_agreement(rid: str, d: date, as_of: date) -> Agreement | None:
    """SHR-002: an agreement signed, started, not ended and not terminated on civil date ``d``
    (processors need dpa_art28, joint controllers joint_art26). Authorities need none."""
    r = BY_ID.get(rid)
    if r is None:
        return None
    for a in agreements(as_of):
        if a.recipient_id != rid or a.signed_on > d or a.valid_from > d:
            continue
        if a.valid_to is not None and d > a.valid_to:
            continue
        if a.terminated_on is not None and d >= a.terminated_on:
            continue
        if r.role in ("processor", "sub_processor") and a.agreement_type != "dpa_art28":
            continue
        if r.role == "joint_controller" and a.agreement_type != "joint_art26":
            continue
        return a
    return None


def mechanism_ok(a: Agreement | None, d: date) -> bool:
    """SHR-008: a Chapter V mechanism valid on ``d`` (adequacy and DPF are not used here)."""
    if a is None:
        return False
    m = a.transfer_mechanism
    return ((m == "scc_2021" and a.signed_on >= SCC_2021_FROM)
            or (m == "scc_2010" and a.signed_on < SCC_2010_SIGN_BEFORE and d < SCC_2010_END)
            or (m == "privacy_shield" and d < PRIVACY_SHIELD_END)
            or m == "bcr")


def covered(rid: str, ts: datetime, fields, as_of: date) -> bool:
    """True when a transfer to ``rid`` at ``ts`` with ``fields`` breaks none of SHR-001..008."""
    r = BY_ID.get(rid)
    if r is None:
        return False
    d = nl_date(ts)
    if r.role == "authority":
        return True
    a = valid_agreement(rid, d, as_of)
    if a is None or a.allowed_fields is None or not set(fields) <= set(a.allowed_fields):
        return False
    if r.country_code not in EEA and not mechanism_ok(a, d):
        return False
    return True


def emit_register(ctx: Ctx) -> None:
    for r in RECIPIENTS:
        ctx.emit("recipients", {"recipient_id": r.recipient_id, "name": r.name, "role": r.role,
                                "category": r.category, "country_code": r.country_code,
                                "seller_id": r.seller_id})
    for a in agreements(ctx.as_of):
        ctx.emit("recipient_agreements", {
            "agreement_id": a.agreement_id, "recipient_id": a.recipient_id,
            "agreement_type": a.agreement_type, "signed_on": a.signed_on,
            "valid_from": a.valid_from, "valid_to": a.valid_to, "terminated_on": a.terminated_on,
            "allowed_fields": list(a.allowed_fields) if a.allowed_fields is not None else None,
            "transfer_mechanism": a.transfer_mechanism})


def transfer(ctx: Ctx, rid: str, ts: datetime, cid: str | None, order_id: str | None,
             fields, purpose: str, dest: str | None = None) -> str:
    tid = ctx.nid("T", 9)
    r = BY_ID.get(rid)
    ctx.emit("transfers", {"transfer_id": tid, "recipient_id": rid, "transferred_at": ts,
                           "customer_id": cid, "order_id": order_id, "fields": list(fields),
                           "purpose": purpose,
                           "destination_country": dest or (r.country_code if r else "NL")})
    return tid


def safe_transfer(ctx: Ctx, rid: str, ts: datetime, cid: str | None, order_id: str | None,
                  fields, purpose: str) -> str | None:
    """A background transfer: written only when it is compliant and before the export."""
    if ts >= ctx.limit or not covered(rid, ts, fields, ctx.as_of):
        return None
    return transfer(ctx, rid, ts, cid, order_id, fields, purpose)


# ------------------------------------------------------------------------- background flows

def order_transfers(ctx: Ctx, c: Cust, order: dict) -> None:
    """Carrier, distribution centre, payment provider and each external seller of the basket."""
    if c.purged:
        return
    r = ctx.rng
    placed: datetime = order["placed_at"]
    oid = order["order_id"]
    carrier = "R02" if r.random() < 0.2 else "R01"
    t = placed + timedelta(hours=r.uniform(6, 40))
    fields = list(DELIVERY)
    if carrier == "R01":
        fields.append("email_at_order")
        if order.get("phone_at_order") and nl_date(t) >= date(2022, 6, 1) and r.random() < 0.5:
            fields.append("phone_at_order")
    elif order.get("phone_at_order"):
        fields.append("phone_at_order")
    if safe_transfer(ctx, carrier, t, c.cid, oid, fields, "delivery") is None and carrier == "R02":
        fields = list(DELIVERY) + ["email_at_order"]
        safe_transfer(ctx, "R01", t, c.cid, oid, fields, "delivery")
    if r.random() < 0.5:
        safe_transfer(ctx, "R03", placed + timedelta(minutes=r.randint(5, 240)), c.cid, oid,
                      ["order_id"] + LINES + DELIVERY[1:], "order_fulfilment")
    if order.get("paid"):
        safe_transfer(ctx, "R10", placed + timedelta(seconds=r.randint(5, 90)), c.cid, oid,
                      ["order_id", "amount", "email_at_order"], "payment")
    for seller in order["sellers"]:
        rid = SELLER_RECIPIENT[seller]
        safe_transfer(ctx, rid, placed + timedelta(minutes=r.randint(2, 600)), c.cid, oid,
                      list(_SELLER_FIELDS), "order_fulfilment")
    if r.random() < 0.002:
        safe_transfer(ctx, "R12", ctx.rand_between(placed, ctx.limit), c.cid, oid,
                      ["order_id", "billing_name", "total_incl_vat"], "legal_obligation")


def account_transfer(ctx: Ctx, c: Cust) -> None:
    """The CRM sync of a new account to the US hosting processor (only when lawful that day)."""
    if c.purged:
        return
    safe_transfer(ctx, "R13", c.created + timedelta(minutes=ctx.rng.randint(1, 90)), c.cid, None,
                  ["email", "first_name", "last_name"], "account")


def research_invite(ctx: Ctx, c: Cust) -> None:
    if c.purged or ctx.rng.random() > 0.03:
        return
    ts = ctx.rand_between(max(c.created, ctx.limit - timedelta(days=700)), ctx.limit)
    safe_transfer(ctx, "R08", ts, c.cid, None, ["email", "invite_token"], "research")
