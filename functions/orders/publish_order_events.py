"""Orders table stream -> `OrderPlaced` / `OrderCancelled` on the event bus (the orders' outbox)."""

from shop.consumers import stream_publisher
from shop.orders.events import order_events

# Records whose events the bus refused are reported (ReportBatchItemFailures): the stream
# retries from the first of them, and consumers drop the repeats by event_id.
handler = stream_publisher("orders", order_events)
