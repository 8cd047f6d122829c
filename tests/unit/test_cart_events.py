"""`CartItemAdded` from the cart table's stream: only what a signed-in shopper adds."""

from __future__ import annotations

from typing import Any

from shop.cart.events import cart_item_added
from shop.dynamo import to_item


def line(owner: str = "user#u-1", quantity: int = 2, **extra: Any) -> dict[str, Any]:
    item = {
        "pk": f"CART#{owner}",
        "sk": "LINE#MUG-1",
        "sku": "MUG-1",
        "product_id": "p-mug",
        "quantity": quantity,
        "added_at": "2026-12-01T10:00:00.000Z",
        "correlation_id": "trace-1",
        **extra,
    }
    return item


def record(new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {"ApproximateCreationDateTime": 1796119200}
    if new is not None:
        change["NewImage"] = to_item(new)
    if old is not None:
        change["OldImage"] = to_item(old)
    return {"eventID": "e-1", "eventName": "MODIFY" if old else "INSERT", "dynamodb": change}


def test_a_new_line_in_a_shoppers_cart_is_an_addition_of_its_quantity() -> None:
    [event] = cart_item_added(record(line(quantity=2)))
    assert event.event_id == "CartItemAdded:e-1"
    assert event.correlation_id == "trace-1"
    assert event.occurred_at == "2026-12-01T10:00:00.000Z"
    assert event.data.model_dump() == {
        "user_id": "u-1",
        "sku": "MUG-1",
        "product_id": "p-mug",
        "quantity_added": 2,
        "added_at": "2026-12-01T10:00:00.000Z",
    }


def test_a_raised_quantity_is_an_addition_of_the_difference() -> None:
    [event] = cart_item_added(record(line(quantity=5), line(quantity=2)))
    assert event.data.quantity_added == 3


def test_a_lowered_or_unchanged_quantity_a_removal_and_a_guest_cart_add_nothing() -> None:
    assert cart_item_added(record(line(quantity=1), line(quantity=2))) == []
    assert cart_item_added(record(line(quantity=2), line(quantity=2))) == []
    assert cart_item_added(record(None, line())) == []
    assert cart_item_added(record(line(owner="guest#abc"))) == []


def test_the_carts_own_records_and_lines_older_than_product_ids_add_nothing() -> None:
    meta = {"pk": "CART#user#u-1", "sk": "META", "line_count": 1}
    assert cart_item_added(record(meta)) == []
    old_line = {k: v for k, v in line().items() if k != "product_id"}
    assert cart_item_added(record(old_line)) == []
