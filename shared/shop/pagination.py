"""Opaque list cursors: DynamoDB's LastEvaluatedKey, encoded so clients cannot depend on it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shop.errors import BadRequest


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, expected_keys: frozenset[str]) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("the cursor is not one this API issued") from None
    if (
        not isinstance(key, dict)
        or set(key) != expected_keys
        or not all(isinstance(v, str) for v in key.values())
    ):
        raise BadRequest("the cursor is not one this API issued")
    return key
