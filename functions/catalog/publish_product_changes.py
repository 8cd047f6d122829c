"""Catalog table stream -> `ProductChanged` on the event bus (the catalog's outbox)."""

from shop.catalog.events import product_changed
from shop.consumers import stream_publisher

# Records whose events the bus refused are reported (ReportBatchItemFailures): the stream
# retries from the first of them, and consumers drop the repeats by event_id.
handler = stream_publisher("catalog", product_changed)
