"""The event backbone, end to end on the local platform: the outbox publishes, the bus routes by
rule, the consumer's queue delivers, and the consumer edge (shop.consumers) types, dedupes and
reports. The shipped consumer, NotifyCustomerFunction, is the pattern every consumer copies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from checkout_support import fill_cart, start, stocked_sku, wait_for
from event_support import eventually, notifications, order_event, put_on_bus

from helpers import Api, emulator_client, unique
from shop import faults
from shop.consumers import event_consumer, stream_publisher
from shop.dynamo import to_item
from shop.events import DomainEvent
from shop.orders.events import OrderCancelled, OrderPlaced
from shop_local.auth import user_id
from shop_local.functions import LambdaContext
from shop_local.platform import LocalPlatform

CONSUMER = "notify_customer"  # the name NotifyCustomerFunction's edge dedupes under


def queue_url(platform: LocalPlatform, logical_id: str) -> str:
    return str(platform.provisioner.refs[logical_id])


def dead_letters(platform: LocalPlatform) -> list[dict[str, Any]]:
    """Everything in the notifications DLQ (read and put back at once for other tests)."""
    sqs = emulator_client(platform, "sqs")
    url = queue_url(platform, "OrderNotificationsDeadLetterQueue")
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_a_placed_order_reaches_its_customer_as_a_notification(api: Api) -> None:
    sku = stocked_sku(api, 3)
    user = unique("buyer")
    fill_cart(api, user, {sku: 2})
    view = wait_for(api, user, start(api, user))
    assert view["status"] == "SUCCEEDED", view

    eventually(lambda: len(notifications(api, user)) == 1)
    (note,) = notifications(api, user)
    assert note["kind"] == "order_confirmation"
    assert note["order_id"] == view["order_id"]
    assert note["notification_id"] == f"OrderPlaced:{view['order_id']}"
    assert "2 item(s)" in note["message"]
    assert notifications(api, unique("someone-else")) == []


def test_the_rule_routes_only_the_order_events_the_consumer_handles(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("buyer")
    put_on_bus(platform, order_event("OrderPlaced", user))
    put_on_bus(platform, order_event("OrderCancelled", user))
    other = order_event("OrderPlaced", user)
    put_on_bus(platform, other, Source="shop.somebody-else")  # not the orders service
    eventually(lambda: len(notifications(api, user)) == 2)
    platform.wait_until_idle(20)
    assert sorted(n["kind"] for n in notifications(api, user)) == [
        "order_cancellation",
        "order_confirmation",
    ]


def test_an_event_delivered_twice_is_notified_once(api: Api, platform: LocalPlatform) -> None:
    user = unique("buyer")
    detail = order_event("OrderPlaced", user)
    put_on_bus(platform, detail)
    put_on_bus(platform, detail)  # EventBridge and SQS both deliver at least once
    eventually(lambda: len(notifications(api, user)) == 1)
    platform.wait_until_idle(20)
    assert len(notifications(api, user)) == 1


POISONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "unknown-version": lambda d: {**d, "schema_version": 2},
    "malformed": lambda d: {**d, "data": {**d["data"], "total": "a lot"}},
    "no-payload": lambda d: {k: v for k, v in d.items() if k != "data"},
}


def test_poison_events_go_to_the_dlq_and_never_block_the_queue(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("buyer")
    poisons = {name: spoil(order_event("OrderPlaced", user)) for name, spoil in POISONS.items()}
    for poison in poisons.values():
        put_on_bus(platform, poison)
    good = order_event("OrderPlaced", user)
    put_on_bus(platform, good)

    # The good one is handled at once; each poison waits out its receives, then is parked.
    eventually(lambda: len(notifications(api, user)) == 1, timeout=10)
    parked: set[str] = set()

    def all_parked() -> bool:
        parked.update(m["detail"]["event_id"] for m in dead_letters(platform))
        return {p["event_id"] for p in poisons.values()} <= parked

    eventually(all_parked, timeout=60)
    (note,) = notifications(api, user)
    assert note["notification_id"] == good["event_id"]  # nothing half-applied from a poison


def test_a_consumer_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    api: Api, platform: LocalPlatform
) -> None:
    user = unique("buyer")
    details = [order_event("OrderPlaced", user) for _ in range(5)]
    faults.inject(CONSUMER, "crash_once")
    try:
        emulator_client(platform, "events").put_events(
            Entries=[
                {
                    "EventBusName": platform.environment["EVENT_BUS_NAME"],
                    "Source": "shop.orders",
                    "DetailType": "OrderPlaced",
                    "Detail": json.dumps(d),
                }
                for d in details
            ]
        )
        eventually(lambda: len(notifications(api, user)) == 5, timeout=40)
        assert faults.pending(CONSUMER) is None, "the consumer never crashed"
    finally:
        faults.clear()
    platform.wait_until_idle(20)
    got = sorted(n["notification_id"] for n in notifications(api, user))
    assert got == sorted(d["event_id"] for d in details)  # each once: none lost, none twice
    parked = [m["detail"].get("data", {}).get("user_id") for m in dead_letters(platform)]
    assert user_id(user) not in parked


# ---------------------------------------------------------------- the edge itself, in process
# These call the edge directly (as Lambda would) against the platform's real idempotency table,
# with an effect that is NOT idempotent by itself, so only the edge's dedup can keep it once.


def Context() -> LambdaContext:  # noqa: N802  # reads as the class it stands for
    """A Lambda context as the runtime gives one (the edge reads the time left, for the dedup
    record's expiry; the logs, the function's name and request id)."""
    return LambdaContext(
        function_name="shop-test-consumer",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:shop-test-consumer",
        aws_request_id=unique("req"),
        timeout_seconds=3,
        started_at=time.monotonic(),
    )


def sqs_record(detail: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    body = {"version": "0", "id": unique("ev"), "detail-type": detail["event_type"]}
    body |= {"source": "shop.orders", "detail": detail}
    return {
        "messageId": message_id or unique("m"),
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def test_the_edge_drops_a_repeat_by_event_id_per_consumer(platform: LocalPlatform) -> None:
    applied: list[str] = []

    def count(event: DomainEvent[Any]) -> None:
        applied.append(event.event_id)

    first = event_consumer(unique("counter"), {OrderPlaced: count})
    second = event_consumer(unique("another-counter"), {OrderPlaced: count})
    detail = order_event("OrderPlaced", unique("u"))
    for handler in (first, first, second):
        assert handler({"Records": [sqs_record(detail)]}, Context()) == {"batchItemFailures": []}
    # Once for the first consumer (its repeat dropped), once for the second: dedup is per consumer.
    assert applied == [detail["event_id"], detail["event_id"]]


def test_the_edge_reports_only_the_failed_messages_of_a_batch(platform: LocalPlatform) -> None:
    seen: list[str] = []

    def refuse_one(event: DomainEvent[Any]) -> None:
        if event.data.order_id == "o-refused":
            raise RuntimeError("this one fails")
        seen.append(event.data.order_id)

    handler = event_consumer(unique("picky"), {OrderPlaced: refuse_one, OrderCancelled: refuse_one})
    user = unique("u")
    records = [
        sqs_record(order_event("OrderPlaced", user, "o-fine"), "m1"),
        sqs_record(order_event("OrderPlaced", user, "o-refused"), "m2"),
        {**sqs_record(order_event("OrderPlaced", user), "m3"), "body": "{not json"},
        sqs_record({**order_event("OrderPlaced", user), "event_type": "Other"}, "m4"),
        sqs_record(order_event("OrderCancelled", user, "o-also-fine"), "m5"),
    ]
    result = handler({"Records": records}, Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": m} for m in ("m2", "m3", "m4")]}
    assert seen == ["o-fine", "o-also-fine"]


def stream_record(sequence: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": sequence,
            "NewImage": to_item(new),
            "OldImage": to_item(old),
        },
    }


def test_the_orders_outbox_reports_the_records_it_could_not_publish(
    platform: LocalPlatform,
) -> None:
    from shop.orders.events import order_events

    detail = order_event("OrderPlaced", unique("u"))
    order = {**detail["data"], "updated_at": detail["occurred_at"], "status": "PLACED"}
    broken = {k: v for k, v in order.items() if k != "lines"}  # a record no event derives from
    publisher = stream_publisher("orders", order_events)
    result = publisher(
        {
            "Records": [
                stream_record("100", order, {**order, "status": "PENDING"}),
                stream_record("200", broken, {**broken, "status": "PENDING"}),
                stream_record("300", {**order, "status": "PENDING"}, order),  # no event: fine
            ]
        },
        None,
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "200"}]}
