"""Cookie rules: CKE-001, CKE-002, CKE-003, CKE-004 (rule-catalogue.md section 2.5).

Each observation of a cookie scan is classified once: first party when its domain (leading dot
ignored) is a policy domain or a subdomain of one; persistent unless a session cookie (local
storage and IndexedDB count as persistent); its category is the declared one, overridden when the
policy's tracker patterns or the Open Cookie Database know the name as analytics or marketing
(``toolkit.cookies``); a cookie neither declared nor known stays ``unknown`` and is listed as
unclassified.
"""

from __future__ import annotations

from ..policy import Policy
from . import Rule, register

MACROS: list[str] = []

CLASSIFIED = """
    known AS (
        SELECT name, domain, cookie_class(name, domain) AS k
        FROM (SELECT DISTINCT name, domain FROM cookie_observations WHERE name IS NOT NULL)),
    obs AS (
        SELECT o.*, lower(ltrim(o.domain, '.')) AS dom, kn.k AS known
        FROM cookie_observations o
        LEFT JOIN known kn ON kn.name = o.name AND kn.domain IS NOT DISTINCT FROM o.domain),
    c AS (
        SELECT obs.*,
               dom IS NOT NULL AND len(list_filter($first_party_domains,
                   lambda d: dom = d OR ends_with(dom, '.' || d))) > 0 AS first_party,
               CASE WHEN storage_kind IN ('local_storage', 'indexeddb') THEN true
                    WHEN storage_kind IN ('session_storage', 'pixel_request', 'fingerprint_script')
                         THEN false
                    ELSE NOT coalesce(is_session, expires_at IS NULL AND max_age_s IS NULL) END
                   AS persistent,
               CASE WHEN known.category IN ('analytics', 'marketing') THEN known.category
                    WHEN coalesce(declared_category, 'unknown') = 'unknown'
                         THEN coalesce(known.category, 'unknown')
                    ELSE declared_category END AS category,
               CASE WHEN known.category IN ('analytics', 'marketing')
                         AND known.category IS DISTINCT FROM declared_category
                         THEN 'declared ' || coalesce(declared_category, 'nothing') || ', known to '
                              || known.source || ' as ' || known.category END AS reclassified,
               coalesce(vendor, known.vendor) AS vendor_eff
        FROM obs)"""


def _evidence(extra: str = "") -> str:
    return (f"{{'cookie': name, 'domain': domain, 'storage': storage_kind, "
            f"'consent_state': consent_state, 'category': category, 'vendor': vendor_eff, "
            f"'page': page_url, 'scanned': civil_date(scanned_at){extra}}}")


def cke_001(policy: Policy) -> str:
    return f"""
    WITH {CLASSIFIED}
    SELECT observation_id AS subject_id, NULL AS customer_id, NULL::DATE AS due_date,
           {_evidence(", 'third_party': true")} AS evidence
    FROM c WHERE $first_party_only AND domain IS NOT NULL AND NOT first_party
    """


def cke_002(policy: Policy) -> str:
    return f"""
    WITH {CLASSIFIED}
    SELECT observation_id AS subject_id, NULL AS customer_id, NULL::DATE AS due_date,
           {_evidence(", 'expires': civil_date(expires_at), 'max_age_days': max_age_s // 86400")}
               AS evidence
    FROM c WHERE $session_only AND persistent
    """


def cke_003(policy: Policy) -> str:
    return f"""
    WITH {CLASSIFIED}
    SELECT observation_id AS subject_id, NULL AS customer_id, NULL::DATE AS due_date,
           {_evidence(", 'reclassified': reclassified, 'unclassified': category = 'unknown'")}
               AS evidence
    FROM c WHERE NOT list_contains($allowed_cookie_categories, category)
    """


def cke_004(policy: Policy) -> str:
    return f"""
    WITH {CLASSIFIED}
    SELECT observation_id AS subject_id, NULL AS customer_id, NULL::DATE AS due_date,
           {_evidence(", 'third_party': NOT first_party, 'reclassified': reclassified")} AS evidence
    FROM c
    WHERE list_contains($no_consent_states, consent_state)
      AND (NOT list_contains($allowed_cookie_categories, category)
           OR (domain IS NOT NULL AND NOT first_party))
    """


NEEDS = ("observation_id", "name", "domain")
for _id, _sql, _cols, _doc in (
    ("CKE-001", cke_001, NEEDS,
     "Cookies and storage whose domain is not a first-party domain (exact or a subdomain)."),
    ("CKE-002", cke_002, NEEDS + ("is_session", "storage_kind"),
     "Persistent cookies (not session cookies); local storage and IndexedDB count as persistent."),
    ("CKE-003", cke_003, NEEDS + ("declared_category",),
     "Cookies that are not functional: by declared category, or known as analytics or marketing "
     "by the policy's tracker patterns or the Open Cookie Database."),
    ("CKE-004", cke_004, NEEDS + ("consent_state", "declared_category"),
     "Non-functional or third-party cookies observed before consent (state none) or after "
     "refusal (rejected)."),
):
    register(Rule(id=_id, subject_table="cookie_observations", family="cookies",
                  needs={"cookie_observations": _cols}, sql=_sql, doc=_doc))
