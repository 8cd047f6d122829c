"""The storefront's static files (storefront/), served by the local gateway as CloudFront serves
them from S3 on AWS, and the local sign-in that stands in for Cognito's Hosted UI.

Only files inside the storefront folder, of the types below, are ever read: a path that
resolves outside it (`..`, a symlink), names a hidden file, or has another extension is not
found. The gateway asks here only for paths no API route matches, so an asset never shadows
the API."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from shop_local.auth import LocalIdentityProvider

STOREFRONT_DIR = Path(__file__).resolve().parents[2] / "storefront"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
# What every asset answer carries: no sniffing into another type, no framing by other sites,
# scripts from this origin only (the API and the Stripe emulator may be other origins).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",  # revalidate: a new deploy is seen at once
}
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SIGN_IN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS}


class StaticSite:
    def __init__(self, root: Path = STOREFRONT_DIR) -> None:
        self.root = root.resolve()

    def find(self, path: str) -> Asset | None:
        """The asset at a request path (`/` is index.html), or None."""
        relative = unquote(path).lstrip("/") or "index.html"
        if "\x00" in relative or "\\" in relative:
            return None
        parts = relative.split("/")
        if any(part.startswith(".") or part == "" for part in parts):
            return None  # `..`, `.git`, `a//b`: never served
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        content_type = CONTENT_TYPES.get(candidate.suffix.lower())
        if content_type is None:
            return None
        return Asset(candidate.read_bytes(), content_type)


def storefront_config(stripe_url: str) -> dict[str, Any]:
    """What the storefront reads from /config.json on this platform (on AWS the deploy step
    writes the file into the bucket instead: see README, "Storefront")."""
    return {
        "api_base": "",  # the same origin
        "auth": {"mode": "local", "sign_in_path": "/_local/sign-in"},
        "stripe": {
            "mode": "emulator",
            "api_base": stripe_url,
            # localstripe takes any pk_ key where Stripe.js would send the publishable key
            "publishable_key": "pk_test_shop_local",
        },
    }


def _refusal(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message, "details": {}}}


def sign_in(identity: LocalIdentityProvider, body: bytes) -> tuple[int, Any]:
    """POST /_local/sign-in {"username"}: a shopper's ID token, as the Hosted UI would hand the
    storefront one. Never an admin's (that stays `shop token --admin`)."""
    try:
        request = json.loads(body or b"null")
    except (ValueError, RecursionError):
        return 400, _refusal("the body is not valid JSON")
    if not isinstance(request, Mapping) or set(request) != {"username"}:
        return 400, _refusal('the body must be {"username": "..."}')
    username = request["username"]
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        return 422, {
            "error": {
                "code": "VALIDATION_FAILED",
                "message": "a username is 1-64 letters, digits, dots, dashes or underscores",
                "details": {"field": "username"},
            }
        }
    token = identity.issue(username, admin=False, ttl_seconds=SIGN_IN_TTL_SECONDS)
    return 200, {"id_token": token, "username": username, "expires_in": SIGN_IN_TTL_SECONDS}
