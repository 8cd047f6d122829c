"""The one event envelope, and publishing to the shop's EventBridge bus.

Every domain event is `{event_id, event_type, occurred_at, source, correlation_id, data}` in
EventBridge's `detail`, with `detail-type` = event_type and `source` = "shop.<service>". Event
ids are deterministic (derived from what happened, not random), so a consumer that sees one twice
can tell.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from shop import aws
from shop.config import event_bus
from shop.errors import ShopError

_MAX_ENTRIES_PER_CALL = 10  # PutEvents' own limit


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    event_type: str
    occurred_at: str
    source: str
    correlation_id: str = ""
    data: dict[str, Any]


def publish(events: list[DomainEvent]) -> None:
    """Put events on the bus; raises if any entry was refused, so the caller's retry (a
    stream's or a state machine's) sends them again."""
    bus = event_bus()
    for start in range(0, len(events), _MAX_ENTRIES_PER_CALL):
        chunk = events[start : start + _MAX_ENTRIES_PER_CALL]
        response = aws.client("events").put_events(
            Entries=[
                {
                    "EventBusName": bus,
                    "Source": f"shop.{event.source}",
                    "DetailType": event.event_type,
                    "Detail": json.dumps(event.model_dump(), separators=(",", ":")),
                }
                for event in chunk
            ]
        )
        if response.get("FailedEntryCount"):
            failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
            raise ShopError(f"EventBridge refused {len(failed)} events: {failed[:3]}")
