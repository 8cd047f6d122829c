"""What the tests share: an HTTP client of the local platform, and product payloads."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import requests

from shop_local.auth import LocalIdentityProvider


@dataclass
class Api:
    """Calls the platform over real HTTP, as a client would."""

    base_url: str
    identity: LocalIdentityProvider
    timeout: float = 30  # seconds for each answer; a crowd's clients wait longer

    def __post_init__(self) -> None:
        self.session = requests.Session()

    def token(self, user: str, *, admin: bool = False, ttl: int = 600) -> str:
        return self.identity.issue(user, admin=admin, ttl_seconds=ttl)

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        user: str | None = None,
        admin: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = f"Bearer {self.token(user, admin=admin)}"
        return self.session.request(
            method, self.base_url + path, json=json, data=data, headers=sent, timeout=self.timeout
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)


def emulator_client(platform: Any, service: str) -> Any:
    """A boto3 client of the platform's AWS emulator, for checking what the API did."""
    return boto3.client(
        service,
        endpoint_url=platform.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_table(
    dynamodb: Any, prefix: str, keys: Sequence[tuple[str, str]] = (("pk", "S"),), **extra: Any
) -> str:
    """A new on-demand table of the emulator, named from `prefix`, keyed by `keys` (each a name
    and a type: the hash key, then the range key if any), with `extra` arguments of
    CreateTable: its name."""
    name = unique(prefix)
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys],
        KeySchema=[
            {"AttributeName": k, "KeyType": kind}
            for (k, _), kind in zip(keys, ("HASH", "RANGE"), strict=False)
        ],
        **extra,
    )
    return name


def product_payload(
    *, category: str = "kitchen-and-dining", skus: list[str] | None = None, amount: int = 450
) -> dict[str, Any]:
    skus = skus or [unique("SKU").upper()]
    return {
        "name": "Enamel Mug",
        "description": "A mug for tea.",
        "category": category,
        "images": ["https://images.example.com/mug.jpg"],
        "variants": [
            {
                "sku": sku,
                "attributes": {"colour": f"c{i}"},
                "price": {"amount": amount, "currency": "GBP"},
            }
            for i, sku in enumerate(skus)
        ],
    }


def assert_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body


_per_thread = threading.local()  # boto3 clients are costly to make and not shared across threads


def invoke(platform: Any, function: str, payload: dict[str, Any]) -> tuple[Any, str | None]:
    """Invoke a function as the state machine does: Lambda's Invoke API on the emulator, which
    reaches the real handler. Returns (payload, error type or None)."""
    client = getattr(_per_thread, "lambda_client", None)
    if client is None or client.meta.endpoint_url != platform.endpoint:
        client = _per_thread.lambda_client = emulator_client(platform, "lambda")
    name = platform.functions.names[function]
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return body, str(body.get("errorType"))
    return body, None
