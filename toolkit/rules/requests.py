"""Data-subject request rules: DSR-001, DSR-004 (rule-catalogue.md section 2.9)."""

from __future__ import annotations

from ..policy import Policy
from . import Rule, register
from .retention import filled_list, residue_rows, residue_verdict

MACROS: list[str] = []


def dsr_001(policy: Policy) -> str:
    # Facts after as_of are not yet known at as_of: an answer given later is "open" then.
    return """
    WITH d AS (
        SELECT dsr_id, customer_id, type, channel, civil_date(received_at) AS received,
               CASE WHEN answered_at <= $as_of THEN answered_at END AS answered_at,
               CASE WHEN extension_notified_at <= $as_of THEN extension_notified_at END AS ext_at
        FROM dsr_requests WHERE received_at IS NOT NULL),
    e AS (
        SELECT *,
               add_months(received, $dsr_deadline_months) AS raw_due1,
               add_months(received, $dsr_deadline_months + $dsr_extension_months) AS raw_due3
        FROM d),
    f AS (
        SELECT *,
               CASE WHEN $dsr_roll THEN next_working_day(raw_due1) ELSE raw_due1 END AS due1,
               CASE WHEN $dsr_roll THEN next_working_day(raw_due3) ELSE raw_due3 END AS due3
        FROM e),
    g AS (
        SELECT *, ext_at IS NOT NULL AND civil_date(ext_at) <= due1 AS ext_valid,
               CASE WHEN ext_at IS NOT NULL AND civil_date(ext_at) <= due1 THEN due3 ELSE due1 END
                   AS due_eff
        FROM f)
    SELECT dsr_id AS subject_id, customer_id, due_eff AS due_date,
           CASE WHEN answered_at IS NULL THEN date_diff('day', due_eff, $as_of_date)
                ELSE date_diff('day', due_eff, civil_date(answered_at)) END AS days_overdue,
           {'type': type, 'channel': channel, 'received': received, 'due': due_eff,
            'raw_due': raw_due1,
            'extension': CASE WHEN ext_at IS NULL THEN 'none'
                              WHEN ext_valid THEN 'valid (notified ' || civil_date(ext_at) || ')'
                              ELSE 'invalid: notified ' || civil_date(ext_at) || ', after ' || due1 END,
            'answered': civil_date(answered_at),
            'verdict': CASE WHEN answered_at IS NULL THEN 'open past deadline'
                            ELSE 'answered late' END} AS evidence
    FROM g
    WHERE (answered_at IS NULL AND $as_of_date > due_eff)
       OR (answered_at IS NOT NULL AND civil_date(answered_at) > due_eff)
    """


register(Rule(
    id="DSR-001", subject_table="dsr_requests", family="requests",
    needs={"dsr_requests": ("dsr_id", "received_at", "answered_at")},
    sql=dsr_001,
    population=lambda p: 'SELECT count(*) FROM dsr_requests WHERE received_at IS NOT NULL',
    doc="Requests answered after their deadline (one calendar month from the Amsterdam date of "
        "receipt, rolled to the next Dutch working day; three months when the extension was "
        "notified within the first), or still unanswered after it at as_of.",
))

ERASED = """
    SELECT dsr_id, customer_id, type, requester_email_hash, civil_date(completed_at) AS due_date
    FROM dsr_requests
    WHERE type IN ('erasure', 'deauthorisation') AND completed_at IS NOT NULL
      AND completed_at <= $as_of AND customer_id IS NOT NULL
      AND coalesce(outcome, 'granted') NOT IN ('refused', 'withdrawn', 'no_data')
"""


def dsr_004(policy: Policy) -> str:
    residue = [residue_rows(policy, "s", "due_date", key="dsr_id")]
    for tbl in ("orders", "payments"):     # fiscal tables: only their non-fiscal fields count
        fields = filled_list(tbl, "x", fiscal=False)
        # (the fields listed per row first, then aggregated: Spark SQL takes no subquery inside
        # an aggregate, toolkit.spark)
        residue.append(
            f"SELECT s.dsr_id, '{tbl}(' || array_to_string(list_sort(list_distinct(flatten(list(x.f)))), "
            f"',') || ')', count(*), hold_covers(s.customer_id, '{tbl}', $as_of) "
            f"FROM s JOIN (SELECT x.customer_id, {fields} AS f FROM \"{tbl}\" x) x USING (customer_id) "
            f"WHERE len(x.f) > 0 AND $as_of_date > s.due_date + $grace_days GROUP BY ALL")
    # the requester's e-mail address left under other records (residual identifier sweep)
    residue.append("""
        SELECT s.dsr_id, 'email elsewhere(' || f.src || ')', count(*), false
        FROM s JOIN (
              SELECT 'newsletter_sends' AS src, sha256(lower(trim(email))) AS h, customer_id AS owner
                FROM newsletter_sends WHERE email IS NOT NULL
              UNION ALL
              SELECT 'newsletter_consent_events', sha256(lower(trim(email))), customer_id
                FROM newsletter_consent_events WHERE email IS NOT NULL) f
          ON f.h = s.requester_email_hash AND f.owner IS DISTINCT FROM s.customer_id
        WHERE $as_of_date > s.due_date + $grace_days
        GROUP BY ALL""")
    return residue_verdict(ERASED, "\nUNION ALL\n".join(residue),
                           "'type': s.type, 'completed': s.due_date,", key="dsr_id")


register(Rule(
    id="DSR-004", subject_table="dsr_requests", family="requests",
    needs={"dsr_requests": ("dsr_id", "customer_id", "type", "completed_at"),
           "customers": ("customer_id",)},
    optional=("visits", "chats", "calls", "newsletter_consent_events", "newsletter_sends",
              "orders", "payments", "legal_holds"),
    sql=dsr_004,
    population=lambda p: f"SELECT count(*) FROM ({ERASED})",
    doc="Completed erasure or de-authorisation requests whose customer still has personal data: "
        "filled personal columns, rows in the residue tables, non-fiscal order or payment fields, "
        "or the requester's e-mail under other records (fiscal fields and held tables excepted).",
))
