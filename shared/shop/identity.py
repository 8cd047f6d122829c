"""Who is calling a public route, when they say: the token checked here, not by API Gateway.

A Cognito authorizer on a REST API route is all or nothing, so a route open to anyone (search)
gets no claims. A signed-in shopper's search still leans toward what they buy: the function
verifies the ID token itself, as the authorizer would (RS256 with the user pool's published
keys, issuer, audience, expiry, `token_use: id`). A token that fails is ignored, not refused:
an expired session should still find products.
"""

from __future__ import annotations

from functools import cache

import jwt

from shop.config import user_pool
from shop.http import ApiRequest
from shop.observability import get_logger

logger = get_logger("identity")


@cache
def _keys(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=2)


def optional_shopper(request: ApiRequest) -> str | None:
    """The user id (`sub`) of a valid bearer token, None when there is none or it is bad."""
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    issuer, audience, url = user_pool()
    if not issuer or not audience:
        return None
    try:
        key = _keys(url).get_signing_key_from_jwt(token.strip())
        claims = jwt.decode(
            token.strip(),
            key.key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        logger.info("token ignored: searching as a guest", extra={"why": str(error)})
        return None
    if claims.get("token_use") != "id":
        return None
    return str(claims["sub"])
