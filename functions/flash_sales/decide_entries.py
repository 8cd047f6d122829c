"""Entries (from the FlashSaleEntriesQueue, at the template's MaximumConcurrency) -> each
ticket WON, waitlisted or LOST, in acceptance order. A decision is conditional on the ticket
being undecided, so a batch delivered twice, or retried after a crash, decides nothing twice:
the edge needs no dedup records."""

from shop.consumers import view_consumer
from shop.flash_sales.events import FlashSaleEntered
from shop.flash_sales.service import decide_entries

handler = view_consumer(
    "decide_entries",
    [FlashSaleEntered],
    lambda events: decide_entries(event.data for event in events),
)
