"""The one event envelope, and publishing to the shop's EventBridge bus.

Every domain event travels as EventBridge's `detail`:

    {"event_id", "event_type", "schema_version", "occurred_at", "source", "correlation_id",
     "data"}

with `detail-type` = event_type and `source` = "shop.<service>". `data` is a payload model: one
`EventPayload` subclass per kind of event, which names its type, its publishing service and its
schema version (shop.event_catalog lists them all). Event ids are deterministic (derived from
what happened, not random), so a consumer that sees one twice can tell.

A new version of a payload is a new class with `schema_version = n + 1`; consumers declare the
versions they understand, and an event of any other version is refused as poison (to the DLQ)
rather than half-understood.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shop import aws
from shop.config import event_bus
from shop.errors import EventPublishFailed

_MAX_ENTRIES_PER_CALL = 10  # PutEvents' own limit


class EventPayload(BaseModel):
    """The `data` of one kind of domain event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    source: ClassVar[str]  # the publishing service: the bus source is "shop.<source>"
    schema_version: ClassVar[int] = 1


class DomainEvent[Payload: EventPayload](BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    event_type: str
    schema_version: int
    occurred_at: str
    source: str
    correlation_id: str = ""
    data: Payload

    @classmethod
    def of(
        cls, data: Payload, *, event_id: str, occurred_at: str, correlation_id: str = ""
    ) -> DomainEvent[Payload]:
        typed: type[DomainEvent[Payload]] = DomainEvent[type(data)]  # type: ignore[misc,assignment]
        return typed(
            event_id=event_id,
            event_type=data.event_type,
            schema_version=data.schema_version,
            occurred_at=occurred_at,
            source=data.source,
            correlation_id=correlation_id,
            data=data,
        )


def _entry(bus: str, event: DomainEvent[Any]) -> dict[str, str]:
    return {
        "EventBusName": bus,
        "Source": f"shop.{event.source}",
        "DetailType": event.event_type,
        "Detail": json.dumps(event.model_dump(mode="json"), separators=(",", ":")),
    }


def queue_message(event: DomainEvent[Any]) -> str:
    """The event as an SQS message body, in the envelope an EventBridge rule delivers: for an
    event sent straight to its one queue (a flash sale's entry), read by the same consumers."""
    return json.dumps(
        {
            "version": "0",
            "id": event.event_id,
            "detail-type": event.event_type,
            "source": f"shop.{event.source}",
            "time": event.occurred_at,
            "detail": event.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def put_on_bus(events: list[DomainEvent[Any]]) -> list[int]:
    """Put events on the bus, 10 to a call; the indexes of the events EventBridge refused."""
    bus = event_bus()
    refused: list[int] = []
    for start in range(0, len(events), _MAX_ENTRIES_PER_CALL):
        chunk = events[start : start + _MAX_ENTRIES_PER_CALL]
        response = aws.client("events").put_events(Entries=[_entry(bus, e) for e in chunk])
        if response.get("FailedEntryCount"):
            # Entries come back in request order, an ErrorCode on each refused one.
            refused += [
                start + i for i, e in enumerate(response.get("Entries", [])) if e.get("ErrorCode")
            ]
    return refused


def publish(events: list[DomainEvent[Any]]) -> None:
    """Put events on the bus; raises if any was refused."""
    refused = put_on_bus(events)
    if refused:
        raise EventPublishFailed(f"EventBridge refused {len(refused)} of {len(events)} events")


def publish_changes[R](
    records: Iterable[R],
    to_events: Callable[[R], list[DomainEvent[Any]]],
    identifier: Callable[[R], str],
) -> list[str]:
    """The outbox's publishing step for a batch of table changes: derive each record's events,
    publish them all, and return the identifiers of the records whose events did not all reach
    the bus (or could not be derived), for the stream's partial batch failure report."""
    pending: list[DomainEvent[Any]] = []
    owners: list[str] = []
    failed: list[str] = []
    for record in records:
        try:
            derived = to_events(record)
        except Exception:
            failed.append(identifier(record))
            continue
        pending += derived
        owners += [identifier(record)] * len(derived)
    for index in put_on_bus(pending) if pending else []:
        if owners[index] not in failed:
            failed.append(owners[index])
    return failed
