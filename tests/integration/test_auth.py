"""Who may call what: tokens are checked at the gateway, roles in the handlers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from helpers import Api, assert_error, product_payload
from shop_local.auth import CLIENT_ID, ISSUER, LocalIdentityProvider


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims(admin: bool = True) -> dict[str, object]:
    now = int(time.time())
    out: dict[str, object] = {
        "sub": "mallory",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
    }
    if admin:
        out["cognito:groups"] = ["admin"]
    return out


def hs256_with_public_key(identity: LocalIdentityProvider) -> str:
    """The algorithm-confusion attack: HMAC-sign with the verifier's *public* key."""
    public_pem = identity._public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def forged_tokens(api: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    header, _payload, signature = api.token("alice", admin=True).split(".")
    other_key = LocalIdentityProvider(tmp_path_factory.mktemp("other-idp"))
    return {
        "expired": api.token("alice", admin=True, ttl=-60),
        "tampered payload": f"{header}.{b64({**claims(), 'sub': 'someone-else'})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.",
        "signed by another key": other_key.issue("alice", admin=True),
        "hs256 with the public key": hs256_with_public_key(api.identity),
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "tampered payload",
        "alg none",
        "signed by another key",
        "hs256 with the public key",
        "garbage",
    ],
)
def test_a_bad_token_gets_401(
    api: Api, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    token = forged_tokens(api, tmp_path_factory)[kind]
    response = api.post(
        "/admin/products", json=product_payload(), headers={"Authorization": f"Bearer {token}"}
    )
    assert_error(response, 401, "UNAUTHORIZED")


def test_a_missing_token_gets_401(api: Api) -> None:
    assert_error(api.post("/admin/products", json=product_payload()), 401, "UNAUTHORIZED")
    assert_error(
        api.post(
            "/admin/products",
            json=product_payload(),
            headers={"Authorization": "Basic YWxpY2U6cHc="},
        ),
        401,
        "UNAUTHORIZED",
    )


def test_a_shopper_on_an_admin_route_gets_403_and_nothing_changes(api: Api) -> None:
    product = api.post("/admin/products", json=product_payload(), user="alice", admin=True).json()
    pid = product["product_id"]
    assert_error(api.post("/admin/products", json=product_payload(), user="bob"), 403, "FORBIDDEN")
    assert_error(
        api.put(f"/admin/products/{pid}", json=product_payload(), user="bob"), 403, "FORBIDDEN"
    )
    assert_error(api.delete(f"/admin/products/{pid}", user="bob"), 403, "FORBIDDEN")
    assert api.get(f"/products/{pid}").json() == product


def test_public_routes_need_no_token(api: Api) -> None:
    assert api.get("/products?limit=1").status_code == 200
