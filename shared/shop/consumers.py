"""The edges of event-driven functions: queue consumers and the table-stream publishers.

A consumer is a function with an `SQS` event on a queue that an EventBridge rule feeds. Its
handler is `event_consumer(name, {OrderPlaced: on_order_placed, ...})`, and the edge does the
rest, the same way for every consumer:

- parses each message's EventBridge envelope into a typed `DomainEvent[Payload]`; a malformed
  body, an event type the consumer does not handle or a version it does not know is poison:
  logged once, clearly, and reported failed, so that the queue's redrive moves it to the DLQ
  after `maxReceiveCount` receives while the rest of the batch goes on;
- drops duplicates by `event_id`, per consumer (EventBridge and SQS deliver at least once);
- reports partial batch failures (`ReportBatchItemFailures`): a failed message is retried
  alone, the batch's others are deleted;
- logs with the event's correlation id, so the request that caused it can be followed here.

A stream publisher (the outbox's sender) is `stream_publisher(to_events)`: it derives the events
of a batch of table changes, puts them on the bus ten to a call, and reports the records whose
events did not all arrive, so the stream retries from there instead of the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from shop import faults
from shop.errors import PoisonEvent
from shop.events import DomainEvent, EventPayload, publish_changes
from shop.idempotency import once_per_event
from shop.observability import get_logger, lambda_entry

P = TypeVar("P", bound=EventPayload)
EventHandler = Callable[[DomainEvent[Any]], object]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def parse_event(body: str, accepted: Mapping[str, type[EventPayload]]) -> DomainEvent[Any]:
    """An EventBridge envelope (an SQS message body) as a typed event; `PoisonEvent` when it
    is not one of the `accepted` types (keyed by event type) at their version."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise PoisonEvent("the message is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
        raise PoisonEvent("the message is not an EventBridge event with a detail")
    detail = envelope["detail"]
    event_type = envelope.get("detail-type")
    payload = accepted.get(str(event_type))
    if payload is None:
        raise PoisonEvent(f"this consumer does not handle {event_type!r} events")
    if detail.get("event_type") != event_type:
        raise PoisonEvent(f"the detail's event_type does not match its detail-type {event_type}")
    version = detail.get("schema_version")
    if version != payload.schema_version:
        raise PoisonEvent(
            f"{event_type} schema version {version!r} is not the one this consumer knows "
            f"({payload.schema_version})"
        )
    try:
        return DomainEvent[payload].model_validate(detail)  # type: ignore[valid-type]
    except ValidationError as error:
        raise PoisonEvent(
            f"the {event_type} event is malformed: {error.errors(include_url=False)}"
        ) from None


def event_consumer(
    consumer: str, handlers: Mapping[type[EventPayload], EventHandler]
) -> LambdaHandler:
    """A Lambda handler for an SQS queue of domain events; `handlers` maps each payload type
    the consumer handles to the function that applies it."""
    logger = get_logger(consumer)
    accepted = {payload.event_type: payload for payload in handlers}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        def handle(record: SQSRecord) -> None:
            # The previous record's keys go; the invocation's (lambda_entry's) stay.
            logger.thread_safe_remove_keys(["correlation_id", "event_id", "event_type"])
            logger.thread_safe_append_keys(consumer=consumer, message_id=record.message_id)
            try:
                domain_event = parse_event(record.body, accepted)
            except PoisonEvent as poison:
                logger.error(
                    "poison event: refused, it goes to the DLQ after the queue's receive limit",
                    extra={"why": poison.message, "receive_count": _receive_count(record)},
                )
                raise
            logger.thread_safe_append_keys(
                correlation_id=domain_event.correlation_id,
                event_id=domain_event.event_id,
                event_type=domain_event.event_type,
            )
            apply = handlers[type(domain_event.data)]

            def effect() -> None:
                apply(domain_event)
                faults.after_effect(consumer)  # tests crash the function here

            try:
                ran = once_per_event(consumer, domain_event.event_id, effect, context)
            except Exception:
                logger.exception("event not handled: the queue redelivers it")
                raise
            logger.info("event handled" if ran else "duplicate event dropped")

        # One processor per invocation: locally, concurrent invocations share this module.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        with processor(records=event.get("Records", []), handler=handle, lambda_context=context):
            processor.process()
        return dict(processor.response())

    return lambda_entry(consumer)(handler)


def view_consumer(
    consumer: str,
    accepted: Sequence[type[EventPayload]],
    apply_all: Callable[[list[DomainEvent[Any]]], object],
) -> LambdaHandler:
    """A Lambda handler for a queue feeding a derived view (a search index, a cache), whose
    effect is idempotent by nature: it brings the view up to date from the source of truth,
    so applying an event twice changes nothing. Each message is parsed as `event_consumer`
    does (poison reported alone, to the DLQ); the good ones are applied together, in one call
    (an index commits once per batch, not once per event); if that call fails, each is
    applied again alone and only those that still fail are reported (redelivered, then the
    DLQ). No dedup records: a repeat is harmless by construction."""
    logger = get_logger(consumer)
    by_type = {payload.event_type: payload for payload in accepted}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.thread_safe_append_keys(consumer=consumer)
        failed: list[str] = []
        good: list[tuple[str, DomainEvent[Any]]] = []
        for raw in event.get("Records", []):
            record = SQSRecord(raw)
            try:
                good.append((record.message_id, parse_event(record.body, by_type)))
            except PoisonEvent as poison:
                logger.error(
                    "poison event: refused, it goes to the DLQ after the queue's receive limit",
                    extra={
                        "why": poison.message,
                        "message_id": record.message_id,
                        "receive_count": _receive_count(record),
                    },
                )
                failed.append(record.message_id)
        if good:
            events = [e for _, e in good]
            try:
                apply_all(events)
                faults.after_effect(consumer)  # tests crash the function here
            except Exception:
                # One bad event must not hold back the others: each again, alone; only the
                # ones that fail alone are redelivered.
                logger.exception("batch not applied: applying its events one by one")
                for message_id, domain_event in good:
                    try:
                        apply_all([domain_event])
                    except Exception:
                        logger.exception(
                            "event not applied: the queue redelivers it",
                            extra={"event_id": domain_event.event_id, "message_id": message_id},
                        )
                        failed.append(message_id)
            else:
                logger.info(
                    "events applied",
                    extra={
                        "events": len(events),
                        "correlation_ids": sorted({e.correlation_id for e in events}),
                    },
                )
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    return lambda_entry(consumer)(handler)


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return 0


def stream_publisher(
    service: str, to_events: Callable[[dict[str, Any]], list[DomainEvent[Any]]]
) -> LambdaHandler:
    """A Lambda handler for a table's stream that publishes the events of each change."""
    logger = get_logger(service)

    def derive(record: dict[str, Any]) -> list[DomainEvent[Any]]:
        try:
            return to_events(record)
        except Exception:
            # A bug, not bad luck: the stream retries, then the on-failure destination keeps it.
            logger.exception("cannot derive events from a stream record")
            raise

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records", [])
        failed = publish_changes(records, derive, _sequence_number)
        logger.info("published changes", extra={"records": len(records), "failed": len(failed)})
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}

    return lambda_entry(service)(handler)


def _sequence_number(record: dict[str, Any]) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))
