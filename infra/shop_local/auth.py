"""A local stand-in for the Cognito user pool: it issues ID tokens shaped like Cognito's
(RS256, `sub`, `cognito:username`, `cognito:groups`, `token_use: id`) and verifies them the way
API Gateway's Cognito authorizer does (signature, issuer, audience, expiry)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://cognito-idp.local/shop-local-user-pool"
CLIENT_ID = "shop-local-client"
KEY_FILE = "jwt-signing-key.pem"
_USER_NAMESPACE = uuid.UUID("8a4e5cde-31d5-4bd1-9a5e-0f62e0c1b6a1")


class InvalidToken(Exception):
    pass


def user_id(username: str) -> str:
    """A user's `sub`: stable for a username, as a Cognito user's is."""
    return str(uuid.uuid5(_USER_NAMESPACE, username))


class LocalIdentityProvider:
    def __init__(self, state_dir: Path) -> None:
        self.key_path = state_dir / KEY_FILE
        self._private_key = self._load_or_create_key()
        self._public_key = self._private_key.public_key()

    def _load_or_create_key(self) -> rsa.RSAPrivateKey:
        if not self.key_path.exists():
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Write then link: a racing `shop token` and `shop serve` agree on one key.
            tmp = self.key_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pem)
            tmp.chmod(0o600)
            try:
                os.link(tmp, self.key_path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise InvalidToken(f"{self.key_path} is not an RSA key")
        return loaded

    def issue(
        self,
        username: str,
        *,
        admin: bool = False,
        ttl_seconds: int = 3600,
        sub: str | None = None,
    ) -> str:
        """An ID token for `username`; `sub` names a user the emulator's user pool made (whose
        id the pool chose), else the user id is derived from the username."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub or user_id(username),
            "cognito:username": username,
            "email": f"{username}@example.com",
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        if admin:
            claims["cognito:groups"] = ["admin"]
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": "local"})

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set, shaped as Cognito's jwks.json."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public_key))
        return {"keys": [{**jwk, "kid": "local", "alg": "RS256", "use": "sig"}]}

    def verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],  # never "none", never a symmetric algorithm
                audience=CLIENT_ID,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        if claims.get("token_use") != "id":
            raise InvalidToken("not an ID token")
        return claims


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer hands them to the function: every value a
    string, groups joined with commas."""
    out: dict[str, str] = {}
    for key, value in claims.items():
        if isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out
