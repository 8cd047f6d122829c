"""Event tests' shared steps: order events as the outbox publishes them, put on the bus."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from checkout_support import ADDRESS

from helpers import Api, emulator_client, unique
from shop_local.auth import user_id
from shop_local.platform import LocalPlatform


def order_event(kind: str, user: str, order_id: str | None = None) -> dict[str, Any]:
    """The `detail` of an order event of `user` (a user name), as the orders' outbox
    publishes it."""
    order_id = order_id or unique("o")
    return {
        "event_id": f"{kind}:{order_id}",
        "event_type": kind,
        "schema_version": 1,
        "occurred_at": "2026-12-01T10:00:00.000Z",
        "source": "orders",
        "correlation_id": unique("trace"),
        "data": {
            "order_id": order_id,
            "checkout_id": unique("c"),
            "user_id": user_id(user),
            "status": "PLACED" if kind == "OrderPlaced" else "CANCELLED",
            "lines": [
                {"sku": "MUG-1", "quantity": 2, "unit_price": {"amount": 450, "currency": "GBP"}}
            ],
            "total": {"amount": 900, "currency": "GBP"},
            "shipping_address": ADDRESS,
        },
    }


class BusObserver:
    """A queue of the test's own behind a rule of its own on the shop's bus: the events a
    pattern matches, as any consumer would receive them. `close()` (or leaving a `with`) takes
    the rule away."""

    def __init__(self, platform: LocalPlatform, name: str, pattern: dict[str, Any]) -> None:
        self.sqs, self.events = (
            emulator_client(platform, "sqs"),
            emulator_client(platform, "events"),
        )
        self.bus = platform.environment["EVENT_BUS_NAME"]
        self.queue = self.sqs.create_queue(QueueName=unique(f"observe-{name}"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.rule = unique(f"{name}-rule")
        self.events.put_rule(
            Name=self.rule, EventBusName=self.bus, EventPattern=json.dumps(pattern)
        )
        self.events.put_targets(
            Rule=self.rule,
            EventBusName=self.bus,
            Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}],
        )

    def envelopes(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """The envelopes that arrived (up to ten), taken off the queue."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]

    def close(self) -> None:
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=["q"])
        self.events.delete_rule(Name=self.rule, EventBusName=self.bus)

    def __enter__(self) -> BusObserver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def put_on_bus(platform: LocalPlatform, detail: dict[str, Any], **overrides: str) -> None:
    entry = {
        "EventBusName": platform.environment["EVENT_BUS_NAME"],
        "Source": "shop.orders",
        "DetailType": detail.get("event_type", "OrderPlaced"),
        "Detail": json.dumps(detail),
        **overrides,
    }
    response = emulator_client(platform, "events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response


def notifications(api: Api, user: str) -> list[dict[str, Any]]:
    response = api.get("/notifications?limit=100", user=user)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.2)
