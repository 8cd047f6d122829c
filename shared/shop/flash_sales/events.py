"""The flash sale's entry event: it travels on the entry queue itself (the accept path sends it
straight there), in the envelope every consumer reads."""

from __future__ import annotations

from shop.events import EventPayload


class FlashSaleEntered(EventPayload):
    """A shopper entered a sale: their ticket waits in line for a worker's decision."""

    event_type = "FlashSaleEntered"
    source = "flash_sales"

    sale_id: str
    ticket_id: str
    quantity: int
    accepted_at_ms: int  # the acceptance order the workers decide in
