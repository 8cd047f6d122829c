"""`CartItemAdded`, published from the cart table's stream (an outbox, as the catalog's and the
orders' are): a signed-in shopper's cart line was created or its quantity went up, whichever
way (an add, a raised quantity, a guest cart's lines merged into theirs at sign-in: each is
something the shopper chose to buy)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from shop.clock import iso_at
from shop.dynamo import from_item
from shop.events import DomainEvent, EventPayload

_USER_CART = "CART#user#"  # guests' carts (CART#guest#...) belong to nobody yet: no event


class CartItemAdded(EventPayload):
    """What a shopper put in their cart: recommendations learn their session from it."""

    event_type = "CartItemAdded"
    source = "cart"

    user_id: str
    sku: str
    product_id: str
    quantity_added: Annotated[int, Field(ge=1)]
    added_at: str


def cart_item_added(record: dict[str, Any]) -> list[DomainEvent[CartItemAdded]]:
    """The event of one stream record: none unless it adds to a user's cart line."""
    change = record.get("dynamodb", {})
    if "NewImage" not in change:
        return []
    line = from_item(change["NewImage"])
    pk, sk = str(line.get("pk", "")), str(line.get("sk", ""))
    if not pk.startswith(_USER_CART) or not sk.startswith("LINE#") or "product_id" not in line:
        return []
    before = from_item(change["OldImage"]) if "OldImage" in change else {}
    added = int(line["quantity"]) - int(before.get("quantity", 0))
    if added <= 0:
        return []
    # A new line knows its own moment to the millisecond; a raised one, the stream's.
    at = str(line.get("added_at", "")) if not before else _when(change, line)
    payload = CartItemAdded(
        user_id=pk.removeprefix(_USER_CART),
        sku=str(line["sku"]),
        product_id=str(line["product_id"]),
        quantity_added=added,
        added_at=at,
    )
    return [
        DomainEvent.of(
            payload,
            # One stream record, one addition: a retried batch derives the same id again.
            event_id=f"CartItemAdded:{record['eventID']}",
            occurred_at=at,
            correlation_id=str(line.get("correlation_id", "")),
        )
    ]


def _when(change: dict[str, Any], line: dict[str, Any]) -> str:
    """When the table changed (the stream's own time, epoch seconds), in ISO-8601 UTC; the
    line's first add when a record lacks it."""
    if "ApproximateCreationDateTime" not in change:
        return str(line.get("added_at", ""))
    return iso_at(float(change["ApproximateCreationDateTime"]))
