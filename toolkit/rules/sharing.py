"""Sharing rules: SHR-001, SHR-002, SHR-003, SHR-004, SHR-005, SHR-008 (catalogue section 2.2).

Dates are the Amsterdam civil date of the transfer. An agreement is valid on day ``d`` when it was
signed and had started by ``d`` (``signed_on``, ``valid_from``), ``valid_to`` (inclusive) had not
passed and ``terminated_on`` (effective from that day) had not come.
"""

from __future__ import annotations

from ..policy import Policy
from . import Rule, register

MACROS: list[str] = []

TRANSFERS = """
    SELECT t.transfer_id, t.customer_id, t.order_id, t.recipient_id, t.fields, t.purpose,
           civil_date(t.transferred_at) AS d, r.name AS recipient, r.role, r.category,
           r.seller_id, upper(coalesce(t.destination_country, r.country_code)) AS country,
           coalesce(r.role = 'authority' OR r.category = 'authority', false) AS authority
    FROM transfers t JOIN recipients r USING (recipient_id)
    WHERE t.transferred_at IS NOT NULL"""


def valid_on(a: str, d: str) -> str:
    """SQL: agreement ``a`` is valid on civil date ``d``."""
    return (f"(coalesce({a}.signed_on, {a}.valid_from) <= {d} "
            f"AND coalesce({a}.valid_from, {a}.signed_on) <= {d} "
            f"AND ({a}.valid_to IS NULL OR {d} <= {a}.valid_to) "
            f"AND ({a}.terminated_on IS NULL OR {d} < {a}.terminated_on))")


def shr_001(policy: Policy) -> str:
    return """
    SELECT t.transfer_id AS subject_id, t.customer_id, NULL::DATE AS due_date,
           {'recipient_id': t.recipient_id, 'date': civil_date(t.transferred_at),
            'fields': t.fields, 'purpose': t.purpose} AS evidence
    FROM transfers t
    WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.recipient_id = t.recipient_id)
    """


register(Rule(
    id="SHR-001", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id"), "recipients": ("recipient_id",)},
    sql=shr_001,
    doc="Transfers to a recipient that is not in the recipients register.",
))


def shr_002(policy: Policy) -> str:
    return f"""
    WITH t AS ({TRANSFERS})
    SELECT t.transfer_id AS subject_id, t.customer_id, NULL::DATE AS due_date,
           CASE WHEN t.role IN ('processor', 'sub_processor', 'joint_controller') THEN NULL
                ELSE 'S3' END AS severity,
           {{'recipient': t.recipient, 'role': t.role, 'date': t.d,
             'needs': CASE WHEN t.role IN ('processor', 'sub_processor') THEN 'dpa_art28'
                           WHEN t.role = 'joint_controller' THEN 'joint_art26' ELSE 'an agreement' END,
             'last_valid_day_before': (
                SELECT max(least(coalesce(a.valid_to, DATE '9999-12-31'),
                                 coalesce(a.terminated_on - 1, DATE '9999-12-31')))
                FROM recipient_agreements a WHERE a.recipient_id = t.recipient_id
                  AND coalesce(a.valid_from, a.signed_on) <= t.d),
             'next_agreement_from': (
                SELECT min(coalesce(a.valid_from, a.signed_on)) FROM recipient_agreements a
                WHERE a.recipient_id = t.recipient_id AND coalesce(a.valid_from, a.signed_on) > t.d)
           }} AS evidence
    FROM t
    WHERE NOT t.authority AND NOT EXISTS (
        SELECT 1 FROM recipient_agreements a
        WHERE a.recipient_id = t.recipient_id AND {valid_on('a', 't.d')}
          AND (coalesce(t.role, '') NOT IN ('processor', 'sub_processor')
               OR a.agreement_type = 'dpa_art28')
          AND (coalesce(t.role, '') <> 'joint_controller' OR a.agreement_type = 'joint_art26'))
    """


register(Rule(
    id="SHR-002", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id", "transferred_at"),
           "recipients": ("recipient_id", "role"),
           "recipient_agreements": ("recipient_id", "valid_from", "valid_to")},
    sql=shr_002,
    doc="Transfers on a day when the recipient had no valid agreement (processors need an Art. 28 "
        "DPA, joint controllers an Art. 26 arrangement; authorities are exempt).",
))


def allowed_fields_cte() -> str:
    """Per transfer: the fields allowed (valid agreements' lists, else the category default),
    worked out once per recipient and day rather than per transfer."""
    return f"""
    t AS ({TRANSFERS}),
    days AS (SELECT DISTINCT recipient_id, d FROM t),
    agreed AS (
        SELECT days.recipient_id, days.d,
               flatten(list(a.allowed_fields) FILTER (WHERE len(a.allowed_fields) > 0)) AS fields
        FROM days LEFT JOIN recipient_agreements a
          ON a.recipient_id = days.recipient_id AND {valid_on('a', 'days.d')}
        GROUP BY days.recipient_id, days.d),
    defaults AS (SELECT category, list(field) AS fields FROM policy_default_fields GROUP BY category),
    x AS (
        SELECT t.*, CASE WHEN len(ag.fields) > 0 THEN ag.fields ELSE coalesce(df.fields, []) END
                        AS allowed,
               CASE WHEN len(ag.fields) > 0 THEN 'agreement' ELSE 'category default' END AS allowed_by
        FROM t JOIN agreed ag USING (recipient_id, d) LEFT JOIN defaults df USING (category))"""


def shr_003(policy: Policy) -> str:
    return f"""
    WITH {allowed_fields_cte()},
    y AS (
        SELECT x.*,
               CASE WHEN list_contains(allowed, 'all') THEN []::VARCHAR[]
                    ELSE list_filter(coalesce(fields, []), lambda f: NOT list_contains(allowed, f))
               END AS excess,
               CASE WHEN list_contains($deny_exempt_categories, category) THEN []::VARCHAR[]
                    ELSE list_filter(coalesce(fields, []), lambda f: list_contains($deny_fields, f))
               END AS denied
        FROM x WHERE NOT authority)
    SELECT transfer_id AS subject_id, customer_id, NULL::DATE AS due_date,
           CASE WHEN len(denied) > 0 THEN 'S1' END AS severity,
           {{'recipient': recipient, 'category': category, 'date': d, 'excess_fields': excess,
             'deny_list_fields': denied, 'allowed_by': allowed_by}} AS evidence
    FROM y WHERE len(excess) > 0 OR len(denied) > 0
    """


register(Rule(
    id="SHR-003", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id", "fields"),
           "recipients": ("recipient_id", "category")},
    optional=("recipient_agreements",),
    sql=shr_003,
    doc="Transfers carrying a field outside the valid agreement's allowed_fields (the category "
        "default of the policy when the agreement lists none), or any field of the policy's "
        "deny-list (S1).",
))


def shr_004(policy: Policy) -> str:
    return f"""
    WITH t AS ({TRANSFERS}),
    s AS (SELECT * FROM t WHERE category = 'external_seller'),
    o AS (
        SELECT s.transfer_id, o.order_id IS NOT NULL AS order_found,
               o.customer_id IS NOT DISTINCT FROM s.customer_id AS same_customer,
               EXISTS (SELECT 1 FROM order_items oi WHERE oi.order_id = o.order_id
                       AND oi.seller_id = s.seller_id) AS sellers_items,
               date_diff('day', civil_date(o.placed_at), s.d) AS days_after_order
        FROM s LEFT JOIN orders o ON o.order_id = s.order_id)
    SELECT s.transfer_id AS subject_id, s.customer_id, NULL::DATE AS due_date,
           {{'seller': s.recipient, 'date': s.d,
             'problem': CASE WHEN s.order_id IS NULL THEN 'no order referenced'
                             WHEN NOT o.order_found THEN 'order not found'
                             WHEN NOT o.same_customer THEN 'order of another customer'
                             WHEN NOT o.sellers_items THEN 'no items of this seller in the order'
                             WHEN o.days_after_order < 0 THEN 'sent before the order'
                             ELSE 'sent ' || o.days_after_order || ' days after the order' END}}
               AS evidence
    FROM s JOIN o USING (transfer_id)
    WHERE NOT coalesce(o.order_found AND o.same_customer AND o.sellers_items
                       AND o.days_after_order BETWEEN 0 AND $seller_window_days, false)
    """


register(Rule(
    id="SHR-004", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id", "customer_id", "order_id"),
           "recipients": ("recipient_id", "category", "seller_id"),
           "orders": ("order_id", "customer_id", "placed_at"),
           "order_items": ("order_id", "seller_id")},
    sql=shr_004,
    doc="Transfers to an external seller without a matching order: that customer's order, with "
        "that seller's items, sent within the seller window (90 days) of the order.",
))


def shr_005(policy: Policy) -> str:
    return f"""
    WITH t AS ({TRANSFERS})
    SELECT transfer_id AS subject_id, customer_id, NULL::DATE AS due_date,
           {{'recipient': recipient, 'date': d,
             'fields_beyond_email': list_filter(coalesce(fields, []),
                                                lambda f: NOT list_contains($research_agency_fields, f))}}
               AS evidence
    FROM t
    WHERE category = 'research_agency'
      AND len(list_filter(coalesce(fields, []), lambda f: NOT list_contains($research_agency_fields, f))) > 0
    """


register(Rule(
    id="SHR-005", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id", "fields"),
           "recipients": ("recipient_id", "category")},
    sql=shr_005,
    doc="Transfers to a research agency carrying anything but the e-mail address (and an "
        "invitation token).",
))


def shr_008(policy: Policy) -> str:
    return f"""
    WITH t AS ({TRANSFERS}),
    nt AS (SELECT * FROM t WHERE country IS NOT NULL AND NOT list_contains($eea_countries, country)),
    adequate AS (
        SELECT DISTINCT nt.transfer_id FROM nt JOIN policy_adequacy ad
          ON ad.country = nt.country AND ad.scope <> 'dpf_certified_only'
         AND nt.d >= ad.valid_from AND (ad.valid_to IS NULL OR nt.d <= ad.valid_to)),
    mech AS (
        SELECT nt.transfer_id, a.transfer_mechanism AS m,
               pm.mechanism IS NOT NULL AND NOT pm.invalid AND NOT pm.manual_review
               AND a.transfer_mechanism <> 'eea'
               AND (pm.valid_from IS NULL OR nt.d >= pm.valid_from)
               AND (pm.valid_to IS NULL OR nt.d <= pm.valid_to)
               AND (pm.signed_from IS NULL OR a.signed_on >= pm.signed_from)
               AND (pm.signed_before IS NULL OR a.signed_on < pm.signed_before)
               AND (NOT pm.requires_certification OR coalesce(a.dpf_certified_from <= nt.d
                    AND (a.dpf_certified_to IS NULL OR nt.d <= a.dpf_certified_to), false))
               AND (a.transfer_mechanism <> 'adequacy' OR EXISTS (
                    SELECT 1 FROM policy_adequacy ad WHERE ad.country = nt.country
                      AND ad.scope <> 'dpf_certified_only' AND nt.d >= ad.valid_from
                      AND (ad.valid_to IS NULL OR nt.d <= ad.valid_to)))
               AND (a.transfer_mechanism <> 'dpf' OR EXISTS (
                    SELECT 1 FROM policy_adequacy ad WHERE ad.country = nt.country
                      AND ad.scope = 'dpf_certified_only' AND nt.d >= ad.valid_from
                      AND (ad.valid_to IS NULL OR nt.d <= ad.valid_to))) AS ok
        FROM nt JOIN recipient_agreements a ON a.recipient_id = nt.recipient_id AND {valid_on('a', 'nt.d')}
        LEFT JOIN policy_mechanisms pm ON pm.mechanism = a.transfer_mechanism)
    SELECT nt.transfer_id AS subject_id, nt.customer_id, NULL::DATE AS due_date,
           CASE WHEN len(list_filter(list(m.m), lambda x: x IS NOT NULL AND x <> 'none')) > 0
                THEN 'S2' END AS severity,
           {{'recipient': nt.recipient, 'destination': nt.country, 'date': nt.d,
             'mechanisms': list_filter(list(m.m ORDER BY m.m), lambda x: x IS NOT NULL),
             'problem': CASE WHEN count(m.m) = 0 THEN 'no transfer mechanism'
                             ELSE 'mechanism not valid on that date' END}} AS evidence
    FROM nt LEFT JOIN mech m USING (transfer_id)
    WHERE nt.transfer_id NOT IN (SELECT transfer_id FROM adequate)
    GROUP BY nt.transfer_id, nt.customer_id, nt.recipient, nt.country, nt.d
    HAVING NOT coalesce(bool_or(m.ok), false)
    """


register(Rule(
    id="SHR-008", subject_table="transfers", family="sharing",
    needs={"transfers": ("transfer_id", "recipient_id", "transferred_at"),
           "recipients": ("recipient_id", "country_code")},
    optional=("recipient_agreements",),
    sql=shr_008,
    doc="Transfers to a country outside the EEA without an adequacy decision or a mechanism valid "
        "on that date (Privacy Shield until 2020-07-15, 2010 SCCs until 2022-12-26, DPF from "
        "2023-07-10 for certified recipients only, 2021 SCCs, BCR).",
))
