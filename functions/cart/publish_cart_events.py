"""Cart table stream -> `CartItemAdded` on the event bus (the cart's outbox)."""

from shop.cart.events import cart_item_added
from shop.consumers import stream_publisher

# Records whose events the bus refused are reported (ReportBatchItemFailures): the stream
# retries from the first of them, and consumers drop the repeats by event_id.
handler = stream_publisher("cart", cart_item_added)
