"""The recommendation service's own table: what each shopper bought and what they look at now.

    pk = SHOPPER#<user_id>   sk = BASKET#<at>#<order_id>    products, at: one placed order
    pk = SHOPPER#<user_id>   sk = SEEN#<at>#<product_id>    kind ("view" | "cart"), expires_at
    pk = GUEST#<order_id>    sk = BASKET#<at>#<order_id>    a guest's basket (imported history)
    pk = SHOPPER#<user_id>   sk = CANCELLED#<order_id>      a cancelled order: never a basket

Every write is a put keyed by what happened (the order, the moment and the product), so a
redelivered event writes the same item again and changes nothing. A shopper's history and
session are one Query each, newest first. Baskets are also the training job's input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from shop.dynamo import batch_get, batch_write, delete_item, query_all, query_page, scan_all
from shop.recommendations.model import Basket

SeenKind = Literal["view", "cart"]

_BASKET = "BASKET#"
_SEEN = "SEEN#"
_CANCELLED = "CANCELLED#"
_CANCELLED_KEPT_DAYS = 30  # long past any redelivery of the order's OrderPlaced
SESSION_SECONDS = 24 * 3600  # what a shopper looked at within a day is their session
SESSION_ITEMS = 20  # the latest seen products read for a session
HISTORY_ITEMS = 50  # the latest baskets read for a history (the model uses as many)
_SEEN_KEPT_DAYS = 7  # DynamoDB's TTL removes older views


@dataclass(frozen=True)
class Seen:
    product_id: str
    at: str  # ISO-8601 UTC
    kind: SeenKind


def shopper_pk(user_id: str) -> str:
    return f"SHOPPER#{user_id}"


def basket_item(basket: Basket, order_id: str) -> dict[str, object]:
    pk = shopper_pk(basket.customer) if basket.customer else f"GUEST#{order_id}"
    return {
        "pk": pk,
        "sk": f"{_BASKET}{basket.at}#{order_id}",
        "order_id": order_id,
        "at": basket.at,
        "products": list(dict.fromkeys(basket.products)),
        **({"user_id": basket.customer} if basket.customer else {}),
    }


def seen_item(user_id: str, seen: Seen, now: int) -> dict[str, object]:
    return {
        "pk": shopper_pk(user_id),
        "sk": f"{_SEEN}{seen.at}#{seen.product_id}",
        "product_id": seen.product_id,
        "at": seen.at,
        "kind": seen.kind,
        "expires_at": now + _SEEN_KEPT_DAYS * 86400,
    }


class ShopperActivity:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def record(self, items: Iterable[dict[str, object]]) -> int:
        """Write baskets and sightings (from `basket_item` and `seen_item`), in batches."""
        return batch_write(self.table_name, items)

    def history(self, user_id: str) -> list[Basket]:
        """The shopper's latest baskets, newest first."""
        items, _ = query_page(
            self.table_name,
            "pk = :pk AND begins_with(sk, :basket)",
            {":pk": shopper_pk(user_id), ":basket": _BASKET},
            newest_first=True,
            limit=HISTORY_ITEMS,
        )
        return [Basket(user_id, str(i["at"]), tuple(i["products"])) for i in items]

    def session(self, user_id: str, since: str) -> list[Seen]:
        """What the shopper looked at or put in their cart since `since` (ISO), oldest first."""
        items, _ = query_page(
            self.table_name,
            "pk = :pk AND sk BETWEEN :since AND :end",
            {":pk": shopper_pk(user_id), ":since": f"{_SEEN}{since}", ":end": f"{_SEEN}~"},
            newest_first=True,
            limit=SESSION_ITEMS,
        )
        return [Seen(str(i["product_id"]), str(i["at"]), i["kind"]) for i in reversed(items)]

    def forget_order(self, user_id: str, order_id: str, now: int) -> int:
        """A cancelled order leaves the shopper's history: its basket is deleted, and a marker
        keeps a late or redelivered OrderPlaced from writing it again. Returns the baskets
        deleted (0 on a repeat)."""
        pk = shopper_pk(user_id)
        marker = {"pk": pk, "sk": f"{_CANCELLED}{order_id}", "order_id": order_id}
        batch_write(self.table_name, [{**marker, "expires_at": now + _CANCELLED_KEPT_DAYS * 86400}])
        baskets = query_all(
            self.table_name,
            "pk = :pk AND begins_with(sk, :basket)",
            {":pk": pk, ":basket": _BASKET},
        )
        deleted = 0
        for item in baskets:
            if item.get("order_id") == order_id:
                delete_item(self.table_name, {"pk": {"S": pk}, "sk": {"S": str(item["sk"])}})
                deleted += 1
        return deleted

    def cancelled(self, orders: Iterable[tuple[str, str]]) -> set[str]:
        """Of these (user id, order id) pairs, the orders that were cancelled."""
        keys = [
            {"pk": {"S": shopper_pk(user)}, "sk": {"S": f"{_CANCELLED}{order}"}}
            for user, order in sorted(set(orders))
        ]
        return {str(item["order_id"]) for item in batch_get(self.table_name, keys)}

    def everything_of(self, user_id: str) -> list[dict[str, object]]:
        """Every item the table keeps of the shopper (baskets, sightings, cancellation
        markers), as stored: an account export."""
        return list(query_all(self.table_name, "pk = :pk", {":pk": shopper_pk(user_id)}))

    def forget_shopper(self, user_id: str) -> int:
        """Delete everything the table keeps of the shopper (an erasure), item by item: a
        retry deletes what a crash left. How many items went."""
        pk = shopper_pk(user_id)
        items = list(query_all(self.table_name, "pk = :pk", {":pk": pk}, consistent=True))
        for item in items:
            delete_item(self.table_name, {"pk": {"S": pk}, "sk": {"S": str(item["sk"])}})
        return len(items)

    def every_basket(self) -> Iterator[Basket]:
        """Every basket of every shopper and guest: the training job's input. A Scan, which is
        fine for a daily job over a shop's history of this size; a far larger one would train
        from a DynamoDB export to S3 instead (docs/recommendations.md)."""
        for item in scan_all(self.table_name):
            if str(item["sk"]).startswith(_BASKET):
                yield Basket(item.get("user_id"), str(item["at"]), tuple(item["products"]))
