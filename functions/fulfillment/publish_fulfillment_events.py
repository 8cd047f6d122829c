"""Fulfillment table stream -> ShipmentCreated, ShipmentDispatched, ShipmentDelivered,
ReturnReceived and RefundIssued on the event bus (fulfillment's outbox)."""

from shop.consumers import stream_publisher
from shop.fulfillment.events import fulfillment_events

handler = stream_publisher("fulfillment", fulfillment_events)
