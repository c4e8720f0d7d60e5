"""Cookie scans: monthly scans of key pages, desktop and mobile, under three consent states.

The background shows only what the statement promises: first-party session cookies that are
functional (``PHPSESSID`` and a cart cookie on www.contractstatus.nl, a CSRF token on
.contractstatus.nl, a login session on login.smootdiensten.nl). Scenarios add the trackers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .calendar import add_months, local
from .context import Ctx

PAGES = ("https://www.contractstatus.nl/", "https://www.contractstatus.nl/product/koffiezetapparaat-rvs",
         "https://www.contractstatus.nl/winkelwagen", "https://www.contractstatus.nl/account/inloggen")
STATES = ("none", "rejected", "accepted_all")


@dataclass(frozen=True)
class Scan:
    scan_id: str
    scanned_at: datetime
    consent_state: str
    device: str


def scans(ctx: Ctx) -> list[Scan]:
    """One scan per month (last 12 months), per consent state and device."""
    out = []
    for i in range(12, 0, -1):
        d = add_months(ctx.as_of, -i).replace(day=3)
        for j, state in enumerate(STATES):
            for k, device in enumerate(("desktop", "mobile")):
                ts = local(d, 3, 10 * j + 5 * k)
                out.append(Scan(f"SCAN-{d:%Y%m}-{state}-{device}", ts, state, device))
    return out


def observation(ctx: Ctx, scan: Scan, page: str, name: str, domain: str, *, kind: str = "cookie",
                session: bool = True, category: str = "functional", vendor: str | None = None,
                lifetime_days: int | None = None, path: str = "/") -> str:
    oid = ctx.nid("CO", 8)
    seen = scan.scanned_at + timedelta(seconds=PAGES.index(page) * 7 if page in PAGES else 30)
    ctx.emit("cookie_observations", {
        "observation_id": oid, "scan_id": scan.scan_id, "scanned_at": seen, "page_url": page,
        "consent_state": scan.consent_state, "storage_kind": kind, "name": name, "domain": domain,
        "path": path if kind == "cookie" else None,
        "expires_at": seen + timedelta(days=lifetime_days) if lifetime_days else None,
        "is_session": session, "declared_category": category, "vendor": vendor})
    return oid


def background_cookies(ctx: Ctx, all_scans: list[Scan]) -> None:
    for scan in all_scans:
        for page in PAGES:
            observation(ctx, scan, page, "PHPSESSID", "www.contractstatus.nl", vendor="Smootdiensten")
            observation(ctx, scan, page, "XSRF-TOKEN", ".contractstatus.nl", vendor="Smootdiensten")
            if "winkelwagen" in page or "product" in page:
                observation(ctx, scan, page, "cart_session", "www.contractstatus.nl",
                            vendor="Smootdiensten")
            if "account" in page:
                observation(ctx, scan, page, "sd_login", "login.smootdiensten.nl",
                            vendor="Smootdiensten")
