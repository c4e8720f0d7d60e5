"""Planted cookie observations for CKE-001..004.

One observation is flagged by several CKE rules at once (``_ga`` under no consent is persistent,
not functional and set before consent). ``observe`` therefore derives every CKE verdict of a
planted row from the contract's definitions and records all of them; each scenario asserts the
verdict of its own rule. First-party domains: contractstatus.nl and smootdiensten.nl, exact or
any subdomain (a leading dot is ignored); ``contrachtstatus.nl`` (the statement's typo) and
``mycontractstatus.nl`` are third parties.
"""

from __future__ import annotations

import re

from .context import Ctx
from .cookies import PAGES, observation
from .scenarios import near_miss, violation

FIRST_PARTY = ("contractstatus.nl", "smootdiensten.nl")
TRACKER = re.compile(r"^(_ga|_gid|_gat|_gcl_|_fbp|fr$|_hj|_uet|_clck|_clsk|IDE$|test_cookie$)")


def verdicts(domain: str, kind: str, session: bool, category: str, name: str, state: str) -> set[str]:
    d = domain.lstrip(".").lower()
    third = not any(d == f or d.endswith("." + f) for f in FIRST_PARTY)
    persistent = kind in ("local_storage", "indexeddb") or not session
    nonfunctional = category != "functional" or TRACKER.match(name) is not None
    out = set()
    if third:
        out.add("CKE-001")
    if persistent:
        out.add("CKE-002")
    if nonfunctional:
        out.add("CKE-003")
    if state in ("none", "rejected") and (nonfunctional or third):
        out.add("CKE-004")
    return out


def observe(ctx: Ctx, rule: str, kind_: str, name_: str, state: str, cookie: str, domain: str, *,
            kind: str = "cookie", session: bool = True, category: str = "functional",
            vendor: str | None = None, lifetime_days: int | None = None) -> None:
    scans = [s for s in ctx.scans if s.consent_state == state]
    scan = ctx.rng.choice(scans)
    page = ctx.rng.choice(PAGES)
    oid = observation(ctx, scan, page, cookie, domain, kind=kind, session=session,
                      category=category, vendor=vendor, lifetime_days=lifetime_days)
    flags = verdicts(domain, kind, session, category, cookie, state)
    if kind_ == "violation":
        assert rule in flags, (rule, name_, flags)
    else:
        assert rule not in flags, (rule, name_, flags)
        ctx.miss(rule, oid, name_)
    for r in sorted(flags):
        ctx.flag(r, oid, name_, primary=(r == rule and kind_ == "violation"))


def _reg(rule: str, verdict: str, name: str, doc: str, state: str, cookie: str, domain: str, **kw):
    def build(ctx: Ctx, cids, rule=rule, verdict=verdict, name=name):
        observe(ctx, rule, verdict, name, state, cookie, domain, **kw)
    build.__doc__ = doc
    (violation if verdict == "violation" else near_miss)(rule, name, customers=0)(build)


# CKE-001 first-party only
_reg("CKE-001", "violation", "facebook_fr_before_consent",
     "fr on .facebook.com, persistent marketing cookie, scan without consent: CKE-001..004 all flag it.",
     "none", "fr", ".facebook.com", session=False, category="marketing", vendor="Meta", lifetime_days=90)
_reg("CKE-001", "violation", "typo_domain_session_cookie",
     "Functional session cookie on www.contrachtstatus.nl, the statement's typo domain, after accept-all.",
     "accepted_all", "PHPSESSID", "www.contrachtstatus.nl", vendor="unknown")
_reg("CKE-001", "violation", "lookalike_suffix_domain",
     "Session cookie on mycontractstatus.nl: ends with 'contractstatus.nl' but is not a subdomain.",
     "accepted_all", "sessionid", "mycontractstatus.nl", vendor="unknown")
_reg("CKE-001", "violation", "third_party_session_after_reject",
     "Functional session cookie of a payment widget on .paywidget-cdn.com after reject: CKE-001 and CKE-004.",
     "rejected", "__cf_bm", ".paywidget-cdn.com", vendor="Cloudflare")
_reg("CKE-001", "near_miss", "subdomain_first_party",
     "Login session cookie on login.smootdiensten.nl (a subdomain of a first-party domain).",
     "none", "sd_login", "login.smootdiensten.nl", vendor="Smootdiensten")
_reg("CKE-001", "near_miss", "leading_dot_domain",
     "CSRF session cookie on .contractstatus.nl (leading dot) after reject.",
     "rejected", "XSRF-TOKEN", ".contractstatus.nl", vendor="Smootdiensten")
_reg("CKE-001", "near_miss", "ga_on_own_domain",
     "_ga on .contractstatus.nl after accept-all: first-party (CKE-002 and CKE-003 flag it).",
     "accepted_all", "_ga", ".contractstatus.nl", session=False, category="analytics",
     vendor="Google", lifetime_days=730)

# CKE-002 session cookies only
_reg("CKE-002", "violation", "ga_persistent_before_consent",
     "_ga persistent (2 years) analytics on .contractstatus.nl without consent: CKE-002, -003, -004.",
     "none", "_ga", ".contractstatus.nl", session=False, category="analytics", vendor="Google",
     lifetime_days=730)
_reg("CKE-002", "violation", "local_storage_profile_after_reject",
     "Personalisation profile in localStorage after reject: persistent by nature; CKE-002, -003, -004.",
     "rejected", "sd_reco_profile", "www.contractstatus.nl", kind="local_storage", session=False,
     category="personalisation", vendor="Smootdiensten")
_reg("CKE-002", "violation", "consent_state_cookie_persistent",
     "The banner's own consent cookie: functional and first-party but persistent (1 year).",
     "none", "sd_cookie_consent", ".contractstatus.nl", session=False, vendor="Smootdiensten",
     lifetime_days=365)
_reg("CKE-002", "near_miss", "session_storage_checkout",
     "sessionStorage entry for the checkout step: ends with the tab (session).",
     "none", "checkout_step", "www.contractstatus.nl", kind="session_storage", vendor="Smootdiensten")
_reg("CKE-002", "near_miss", "phpsessid_session",
     "PHPSESSID on www.contractstatus.nl: session, functional, first-party.",
     "none", "PHPSESSID", "www.contractstatus.nl", vendor="Smootdiensten")
_reg("CKE-002", "near_miss", "third_party_session_after_accept",
     "Third-party session cookie after accept-all: CKE-001 flags it, CKE-002 does not.",
     "accepted_all", "__cf_bm", ".paywidget-cdn.com", vendor="Cloudflare")

# CKE-003 functional only
_reg("CKE-003", "violation", "fbp_after_accept",
     "_fbp marketing cookie on .contractstatus.nl after accept-all: CKE-002 and CKE-003.",
     "accepted_all", "_fbp", ".contractstatus.nl", session=False, category="marketing", vendor="Meta",
     lifetime_days=90)
_reg("CKE-003", "violation", "hotjar_session_analytics",
     "_hjSession analytics session cookie, first-party, after accept-all: only CKE-003.",
     "accepted_all", "_hjSession", ".contractstatus.nl", category="analytics", vendor="Hotjar")
_reg("CKE-003", "violation", "undeclared_category",
     "A/B-test session cookie whose category is 'unknown' (not declared functional): only CKE-003.",
     "accepted_all", "ab_variant", "www.contractstatus.nl", category="unknown", vendor="Smootdiensten")
_reg("CKE-003", "near_miss", "cart_session_functional",
     "cart_session on www.contractstatus.nl: functional session cookie.",
     "rejected", "cart_session", "www.contractstatus.nl", vendor="Smootdiensten")
_reg("CKE-003", "near_miss", "consent_cookie_functional",
     "The consent-state cookie is functional (CKE-002 flags its lifetime, CKE-003 does not).",
     "rejected", "sd_cookie_consent", ".contractstatus.nl", session=False, vendor="Smootdiensten",
     lifetime_days=365)
_reg("CKE-003", "near_miss", "login_cookie_subdomain",
     "sd_login on login.smootdiensten.nl after accept-all: functional.",
     "accepted_all", "sd_login", "login.smootdiensten.nl", vendor="Smootdiensten")

# CKE-004 nothing non-exempt before consent or after refusal
_reg("CKE-004", "violation", "doubleclick_after_reject",
     "IDE on .doubleclick.net after reject: CKE-001..004 all flag it.",
     "rejected", "IDE", ".doubleclick.net", session=False, category="marketing", vendor="Google",
     lifetime_days=390)
_reg("CKE-004", "violation", "personalisation_session_before_consent",
     "First-party personalisation session cookie before any choice: CKE-003 and CKE-004.",
     "none", "sd_reco", "www.contractstatus.nl", category="personalisation", vendor="Smootdiensten")
_reg("CKE-004", "violation", "gid_after_reject",
     "_gid (analytics, 1 day) on .contractstatus.nl after reject: CKE-002, -003, -004.",
     "rejected", "_gid", ".contractstatus.nl", session=False, category="analytics", vendor="Google",
     lifetime_days=1)
_reg("CKE-004", "near_miss", "ga_after_accept_all",
     "_ga after accept-all: consent was given (CKE-002/003 flag it, CKE-004 does not).",
     "accepted_all", "_ga", ".contractstatus.nl", session=False, category="analytics",
     vendor="Google", lifetime_days=730)
_reg("CKE-004", "near_miss", "phpsessid_before_consent",
     "PHPSESSID before any choice: exempt (functional, first-party).",
     "none", "PHPSESSID", "www.contractstatus.nl", vendor="Smootdiensten")
_reg("CKE-004", "near_miss", "consent_cookie_before_choice",
     "The consent cookie itself before a choice: functional first-party (CKE-002 flags its lifetime).",
     "none", "sd_cookie_consent", ".contractstatus.nl", session=False, vendor="Smootdiensten",
     lifetime_days=365)
