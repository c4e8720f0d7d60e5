"""Cookie rules: CKE-001, CKE-002, CKE-003, CKE-004 (rule-catalogue.md section 2.5).

Each observation of a cookie scan is classified once (``CLASSIFIED``), from whatever the scan
gives; raw scanner output declares no category and often no session flag:

- *first party* when its domain (leading dot ignored) is a policy domain or a subdomain of one;
- *storage*: ``storage_kind``, a cookie when the scan does not say;
- *persistent* unless a session cookie: local storage and IndexedDB are persistent, session
  storage, pixels and scripts are not; a cookie's ``is_session`` decides, and without it the
  expiry does: no expiry (``expires_at`` and ``max_age_s`` empty), one at or before the scan (the
  ``-1`` and ``0`` sentinels of browser dumps read as 1970) or a ``max_age_s`` of 0 or less make a
  session cookie; any later expiry, however far, a persistent one (``persistent_by`` says which);
- *category*: the declared one, overridden when the policy's tracker patterns or the Open Cookie
  Database (``toolkit.cookies``) know the name as analytics or marketing; without a declaration
  the known category. ``category_source`` names where it came from (declared, policy pattern,
  Open Cookie Database); a cookie neither declared nor known is ``unknown`` (unclassified) and
  counts as not functional. :func:`classification` counts the observations by source.
"""

from __future__ import annotations

import duckdb

from ..cookies import SHORT_NAME
from ..policy import Policy
from . import Rule, register

MACROS: list[str] = []

# every classification that fits a cookie name on a domain, best first by (rank, tie):
# toolkit.cookies' cookie_class() as a join, which Spark SQL reads too (toolkit.spark)
CANDIDATES = f"""
    WITH names AS (SELECT DISTINCT name, domain FROM cookie_observations WHERE name IS NOT NULL)
    SELECT n.name, n.domain, p.category, p.vendor, 'policy pattern' AS source, 0 AS rank, p.pos AS tie
    FROM names n JOIN policy_trackers p ON regexp_matches(n.name, p.pattern)
    UNION ALL
    SELECT n.name, n.domain, cc.category, cc.vendor, 'Open Cookie Database',
           CASE WHEN cc.is_prefix THEN 2 ELSE 1 END, -length(cc.name)
    FROM names n JOIN cookie_classes cc
      ON cc.name = n.name OR (cc.is_prefix AND starts_with(n.name, cc.name))
    WHERE cc.domains IS NULL
       OR NOT (length(cc.name) <= {SHORT_NAME} OR regexp_full_match(cc.name, '[a-z]+'))
       OR len(list_filter(cc.domains, lambda d: lower(ltrim(n.domain, '.')) = d
                          OR ends_with(lower(ltrim(n.domain, '.')), '.' || d))) > 0"""

CLASSIFIED = """
    known AS (
        SELECT name, domain, {'category': category, 'vendor': vendor, 'source': source} AS k
        FROM (@CANDIDATES@)
        QUALIFY row_number() OVER (PARTITION BY name, domain
                                   ORDER BY rank, tie, category, vendor NULLS FIRST) = 1),
    obs AS (
        SELECT o.*, lower(ltrim(o.domain, '.')) AS dom, kn.k AS known,
               coalesce(o.storage_kind, 'cookie') AS storage,
               -- Max-Age wins over Expires (RFC 6265); an expiry at or before the scan (the
               -- -1 / 0 sentinels of browser dumps read as 1970) is no lasting cookie
               CASE WHEN o.max_age_s IS NOT NULL THEN o.max_age_s <= 0
                    WHEN o.expires_at IS NULL THEN true
                    ELSE o.expires_at <= coalesce(o.scanned_at, to_timestamp(86400))
               END AS session_by_expiry
        FROM cookie_observations o
        LEFT JOIN known kn ON kn.name = o.name AND kn.domain IS NOT DISTINCT FROM o.domain),
    d AS (
        SELECT obs.*,
               dom IS NOT NULL AND len(list_filter($first_party_domains,
                   lambda d: dom = d OR ends_with(dom, '.' || d))) > 0 AS first_party,
               CASE WHEN storage IN ('local_storage', 'indexeddb') THEN true
                    WHEN storage IN ('session_storage', 'pixel_request', 'fingerprint_script')
                         THEN false
                    ELSE NOT coalesce(is_session, session_by_expiry) END AS persistent,
               CASE WHEN storage IN ('local_storage', 'indexeddb', 'session_storage',
                                     'pixel_request', 'fingerprint_script') THEN 'storage kind'
                    WHEN is_session IS NOT NULL THEN 'is_session'
                    ELSE 'expiry' END AS persistent_by,
               CASE WHEN known.category IN ('analytics', 'marketing') THEN known.category
                    WHEN coalesce(declared_category, 'unknown') = 'unknown'
                         THEN coalesce(known.category, 'unknown')
                    ELSE declared_category END AS category,
               CASE WHEN known.category IN ('analytics', 'marketing')
                         AND known.category IS DISTINCT FROM declared_category
                         AND coalesce(declared_category, 'unknown') <> 'unknown'
                         THEN 'declared ' || declared_category || ', known to '
                              || known.source || ' as ' || known.category END AS reclassified,
               coalesce(vendor, known.vendor) AS vendor_eff
        FROM obs),
    c AS (
        SELECT d.*,
               CASE WHEN category = 'unknown' THEN 'unclassified'
                    WHEN category IS NOT DISTINCT FROM declared_category THEN 'declared'
                    ELSE known.source END AS category_source
        FROM d)""".replace("@CANDIDATES@", CANDIDATES)


CLASSIFICATION = (f"WITH {CLASSIFIED} SELECT category_source, count(*) AS n FROM c "
                  f"GROUP BY category_source ORDER BY category_source")


def classification(con: duckdb.DuckDBPyConnection, params: dict) -> dict[str, int]:
    """Observations by where their category came from (declared, policy pattern, Open Cookie
    Database, unclassified), on a connection prepared by ``toolkit.findings.prepare``."""
    rows = con.execute(CLASSIFICATION, {"first_party_domains": params["first_party_domains"]}
                       ).fetchall()
    return {src: int(n) for src, n in rows}


def _evidence(extra: str = "") -> str:
    return (f"{{'cookie': name, 'domain': domain, 'storage': storage, "
            f"'consent_state': consent_state, 'category': category, "
            f"'category_source': category_source, 'vendor': vendor_eff, "
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
           {_evidence(", 'expires': civil_date(expires_at), 'max_age_days': max_age_s // 86400, "
                      "'persistent_by': persistent_by")}
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
    ("CKE-002", cke_002, NEEDS,
     "Persistent cookies (not session cookies, by is_session or else by the expiry); local "
     "storage and IndexedDB count as persistent."),
    ("CKE-003", cke_003, NEEDS,
     "Cookies that are not functional: by declared category, or known as analytics or marketing "
     "by the policy's tracker patterns or the Open Cookie Database (which also classifies "
     "undeclared cookies; unknown ones count as not functional)."),
    ("CKE-004", cke_004, NEEDS + ("consent_state",),
     "Non-functional or third-party cookies observed before consent (state none) or after "
     "refusal (rejected)."),
):
    register(Rule(id=_id, subject_table="cookie_observations", family="cookies",
                  needs={"cookie_observations": _cols}, sql=_sql, doc=_doc))
