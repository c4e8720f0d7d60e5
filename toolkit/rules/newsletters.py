"""Consent and newsletter rules: CON-001, NWS-001, NWS-002, NWS-003, NWS-006 (catalogue 2.3-2.4).

Consent follows the person (``person_key``; a customer without one is its own person) and the
newsletter type. The consent state in force at a send is the latest event at or before
``sent_at`` (a subscribe and a send in the same second: the subscribe counts).
"""

from __future__ import annotations

from ..policy import Policy
from . import Rule, register
from .retention import ANCHOR

MACROS: list[str] = []

PEOPLE = """people AS (
        SELECT customer_id, coalesce(nullif(person_key, ''), customer_id) AS person FROM customers)"""
EVENTS = """ev AS (
        SELECT e.event_id, coalesce(p.person, e.customer_id) AS person, e.newsletter_type,
               e.occurred_at, e.action, e.method
        FROM newsletter_consent_events e LEFT JOIN people p USING (customer_id)
        WHERE e.occurred_at IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY person, e.newsletter_type, e.occurred_at
                                   ORDER BY e.event_id DESC) = 1)"""
SENDS = """s AS (
        SELECT s.*, coalesce(p.person, s.customer_id) AS person
        FROM newsletter_sends s LEFT JOIN people p USING (customer_id)
        WHERE s.sent_at IS NOT NULL)"""


def con_001(policy: Policy) -> str:
    return """
    SELECT event_id AS subject_id, customer_id, NULL::DATE AS due_date,
           {'action': action, 'method': method, 'newsletter_type': newsletter_type,
            'date': civil_date(occurred_at)} AS evidence
    FROM newsletter_consent_events
    WHERE list_contains($opt_in_actions, action) AND list_contains($invalid_consent_methods, method)
    """


register(Rule(
    id="CON-001", subject_table="newsletter_consent_events", family="newsletters",
    needs={"newsletter_consent_events": ("event_id", "action", "method")},
    sql=con_001,
    doc="Consent events resting on implied_by_visit, continued_use, pre_ticked or bundled_terms.",
))


def _state_at_send(sends: str, type_match: str) -> str:
    # the latest event at or before the send (an as-of join, written as a join and a window so
    # that Spark SQL reads it too: toolkit.spark); ev has one event per person, type and moment
    return f"""
    SELECT s.send_id, s.customer_id, s.campaign_id, s.newsletter_type, s.sent_at,
           e.action, e.method, e.occurred_at
    FROM {sends} s LEFT JOIN ev e
      ON s.person = e.person AND {type_match} AND s.sent_at >= e.occurred_at
    QUALIFY row_number() OVER (PARTITION BY s.send_id ORDER BY e.occurred_at DESC NULLS LAST) = 1"""


def _verdict(rows: str, consent_type: str) -> str:
    return f"""
    SELECT send_id AS subject_id, customer_id, NULL::DATE AS due_date,
           {{'campaign': campaign_id, 'newsletter_type': {consent_type}, 'sent': civil_date(sent_at),
             'consent_in_force': CASE WHEN action IS NULL THEN 'none'
                                      ELSE action || coalesce(' (' || method || ')', '') END,
             'since': civil_date(occurred_at)}} AS evidence
    FROM ({rows})
    WHERE action IS NULL OR NOT list_contains($opt_in_actions, action)
       OR coalesce(list_contains($unusable_consent_methods, method), false)
    """


def nws_001(policy: Policy) -> str:
    return f"""
    WITH {PEOPLE}, {EVENTS}, {SENDS}
    {_verdict(_state_at_send('s', 's.newsletter_type = e.newsletter_type'), 'newsletter_type')}
    """


register(Rule(
    id="NWS-001", subject_table="newsletter_sends", family="newsletters",
    needs={"newsletter_sends": ("send_id", "customer_id", "newsletter_type", "sent_at"),
           "newsletter_consent_events": ("customer_id", "newsletter_type", "action", "occurred_at")},
    optional=("customers",),
    sql=nws_001,
    doc="Sends without a valid opt-in for that person and newsletter type in force at send time "
        "(the latest event must be subscribe, confirm or resubscribe, by a valid method).",
))


def nws_002(policy: Policy) -> str:
    return f"""
    WITH {PEOPLE}, {EVENTS}, {SENDS},
    ps AS (SELECT * FROM s WHERE personalised)
    {_verdict(_state_at_send('ps', "e.newsletter_type = 'personalised'"), "'personalised'")}
    """


register(Rule(
    id="NWS-002", subject_table="newsletter_sends", family="newsletters",
    needs={"newsletter_sends": ("send_id", "customer_id", "sent_at", "personalised"),
           "newsletter_consent_events": ("customer_id", "newsletter_type", "action", "occurred_at")},
    optional=("customers",),
    sql=nws_002,
    doc="Personalised sends without a valid opt-in for the personalised newsletter in force.",
))


def nws_003(policy: Policy) -> str:
    return f"""
    WITH {PEOPLE}, {EVENTS}, {SENDS},
    stops AS (
        SELECT person, newsletter_type AS ntype, occurred_at AS at,
               coalesce(method, 'unknown') AS channel, action AS kind
        FROM ev WHERE list_contains($opt_out_actions, action)
        UNION ALL
        SELECT coalesce(p.person, d.customer_id), NULL, d.received_at,
               coalesce(d.channel, 'unknown'), 'request: ' || d.type
        FROM dsr_requests d LEFT JOIN people p USING (customer_id)
        WHERE list_contains($stop_request_types, d.type) AND d.received_at IS NOT NULL),
    cand AS (
        SELECT s.send_id, s.customer_id, s.person, s.campaign_id, s.newsletter_type, s.sent_at,
               st.at, st.channel, st.kind
        FROM s JOIN stops st
          ON st.person = s.person AND (st.ntype IS NULL OR st.ntype = s.newsletter_type)
        WHERE s.sent_at > st.at + to_days(CAST($unsubscribe_grace_days AS INTEGER))
        QUALIFY row_number() OVER (PARTITION BY s.send_id ORDER BY st.at DESC) = 1)
    SELECT c.send_id AS subject_id, c.customer_id, civil_date(c.at) + $unsubscribe_grace_days AS due_date,
           {{'campaign': c.campaign_id, 'newsletter_type': c.newsletter_type, 'stopped_by': c.kind,
             'channel': c.channel, 'withdrawn': civil_date(c.at), 'sent': civil_date(c.sent_at),
             'days_after': round(epoch(c.sent_at - c.at) / 86400.0, 1)}} AS evidence
    FROM cand c
    WHERE NOT EXISTS (
        SELECT 1 FROM ev r WHERE r.person = c.person AND r.newsletter_type = c.newsletter_type
          AND list_contains($opt_in_actions, r.action)
          AND r.occurred_at > c.at AND r.occurred_at <= c.sent_at)
    """


register(Rule(
    id="NWS-003", subject_table="newsletter_sends", family="newsletters",
    needs={"newsletter_sends": ("send_id", "customer_id", "newsletter_type", "sent_at"),
           "newsletter_consent_events": ("customer_id", "newsletter_type", "action", "occurred_at")},
    optional=("customers", "dsr_requests"),
    sql=nws_003,
    doc="Sends more than the grace (2 days) after an unsubscribe or objection, or a withdraw-"
        "consent, objection-to-marketing, erasure or de-authorisation request, with no "
        "re-subscribe in between.",
))


def nws_006(policy: Policy) -> str:
    # The retention horizon is the customer's anchor as of as_of (the same retention_anchor as
    # RET-001): a send after that due date went to a person whose data should have been gone.
    return f"""
    WITH a AS (SELECT customer_id, due_date FROM {ANCHOR}),
    d AS (
        SELECT s.send_id, s.customer_id, s.campaign_id, s.sent_at, c.erased_at, c.deauthorised_at,
               a.due_date AS horizon,
               list_filter([CASE WHEN c.erased_at IS NOT NULL AND s.sent_at > c.erased_at
                                 THEN 'erased' END,
                            CASE WHEN c.deauthorised_at IS NOT NULL AND s.sent_at > c.deauthorised_at
                                 THEN 'deauthorised' END,
                            CASE WHEN civil_date(s.sent_at) > a.due_date + $grace_days
                                 THEN 'retention expired' END], lambda x: x IS NOT NULL) AS reasons
        FROM newsletter_sends s JOIN customers c USING (customer_id) LEFT JOIN a USING (customer_id)
        WHERE s.sent_at IS NOT NULL)
    SELECT send_id AS subject_id, customer_id, NULL::DATE AS due_date,
           {{'campaign': campaign_id, 'sent': civil_date(sent_at), 'reasons': reasons,
             'erased': civil_date(erased_at), 'deauthorised': civil_date(deauthorised_at),
             'retention_due': horizon}} AS evidence
    FROM d WHERE len(reasons) > 0
    """


register(Rule(
    id="NWS-006", subject_table="newsletter_sends", family="newsletters",
    needs={"newsletter_sends": ("send_id", "customer_id", "sent_at"),
           "customers": ("customer_id",)},
    optional=("visits", "orders"),
    sql=nws_006,
    doc="Sends to a customer after erased_at or deauthorised_at, or after the due date of the "
        "customer's retention (the RET-001 anchor).",
))
