"""Placed and cancelled orders and cart adds (from the RecommendationEventsQueue) -> the
shoppers' history and sessions, one batch write per batch. Every item is keyed by what
happened, so a repeated event rewrites the same item: the edge needs no dedup records."""

from shop.cart.events import CartItemAdded
from shop.consumers import view_consumer
from shop.orders.events import OrderCancelled, OrderPlaced
from shop.recommendations.service import learn_from_events

handler = view_consumer(
    "learn_shopper_activity", [OrderPlaced, OrderCancelled, CartItemAdded], learn_from_events
)
