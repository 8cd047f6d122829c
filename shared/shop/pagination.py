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


def page_cursor(last_key: dict[str, Any] | None) -> str | None:
    """The cursor of a Query's LastEvaluatedKey (typed: {"pk": {"S": ...}}); None at the end."""
    return encode_cursor(
        {k: next(iter(v.values())) for k, v in last_key.items()} if last_key else None
    )


def start_key(
    cursor: str | None, *, keys: frozenset[str], numbers: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor of `page_cursor` stands for, typed again: the attributes
    in `numbers` are numbers (an index's numeric sort key), the others strings."""
    key = decode_cursor(cursor, expected_keys=keys)
    if key is None:
        return None
    if not all(key[name].isdigit() for name in numbers):
        raise BadRequest("the cursor is not one this API issued")
    return {name: {"N" if name in numbers else "S": value} for name, value in key.items()}
