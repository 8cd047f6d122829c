"""Cart rules, on DynamoDB.

    pk = CART#<owner>  sk = META          line_count, updated_at; guests: expires_at, merged_into
    pk = CART#<owner>  sk = LINE#<sku>    quantity, the price when added

`owner` is `user#<sub>` or `guest#<sha256 of the cart token>` (the token itself is never
stored). Every change is one conditional write or transaction on the line and the META item:
adding increments the line atomically (no read-modify-write that could drop a concurrent add),
and the META item's `line_count` enforces the 100-line limit under concurrency.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from typing import Any

from botocore.exceptions import ClientError

from shop import aws
from shop.cart.models import (
    GUEST_IDLE_SECONDS,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    Cart,
    CartLine,
    LineChange,
)
from shop.catalog.models import SkuRecord
from shop.catalog.service import get_skus
from shop.clock import iso_now, now
from shop.config import cart_table
from shop.dynamo import error_code, from_item, to_item, transact
from shop.errors import Conflict, NotFound, Throttled, ValidationFailed
from shop.money import Money

GUEST_BUCKET = "GUEST"  # the partition of the guest-expiry index
MAX_ATTEMPTS = 6


def user_owner(user_id: str) -> str:
    return f"user#{user_id}"


def guest_owner(token: str) -> str:
    return "guest#" + hashlib.sha256(token.encode()).hexdigest()[:40]


def _pk(owner: str) -> dict[str, str]:
    return {"S": f"CART#{owner}"}


def _meta_key(owner: str) -> dict[str, Any]:
    return {"pk": _pk(owner), "sk": {"S": "META"}}


def _line_key(owner: str, sku: str) -> dict[str, Any]:
    return {"pk": _pk(owner), "sk": {"S": f"LINE#{sku}"}}


def _client() -> Any:
    return aws.client("dynamodb")


def _transact(writes: list[dict[str, Any]]) -> list[str] | None:
    return transact(writes, table=cart_table())


def _touch_meta(owner: str, *, line_delta: int = 0, guard_limit: bool = False) -> dict[str, Any]:
    """The META update every change carries: activity time, guests' expiry, the line count."""
    sets = ["updated_at = :now", "#o = :owner"]
    values: dict[str, Any] = {":now": {"S": iso_now()}, ":owner": {"S": owner}}
    conditions = ["attribute_not_exists(merged_into)"]
    if owner.startswith("guest#"):
        expires = math.ceil(now() + GUEST_IDLE_SECONDS)
        sets += ["expires_at = :exp", "#ttl = :ttl"]
        values[":exp"] = {"N": str(expires)}
        values[":ttl"] = {"N": str(expires + 7 * 24 * 3600)}  # TTL only collects leftovers
        # A guest cart is created explicitly, and one past its idle limit is gone.
        conditions.append("attribute_exists(pk) AND expires_at >= :now_s")
        values[":now_s"] = {"N": str(math.floor(now()))}
    if line_delta:
        sets.append("line_count = if_not_exists(line_count, :zero) + :delta")
        values[":zero"] = {"N": "0"}
        values[":delta"] = {"N": str(line_delta)}
    if guard_limit:
        conditions.append("(attribute_not_exists(line_count) OR line_count < :max)")
        values[":max"] = {"N": str(MAX_LINES)}
    return {
        "Update": {
            "Key": _meta_key(owner),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": {
                "#o": "owner",
                **({"#ttl": "ttl"} if ":ttl" in values else {}),
            },
            "ExpressionAttributeValues": values,
        }
    }


# ----------------------------------------------------------------------------- reading
def _read(owner: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": cart_table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": _pk(owner)},
        "ConsistentRead": True,
    }
    while True:
        response = _client().query(**request)
        items += [from_item(item) for item in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    meta = next((i for i in items if i["sk"] == "META"), None)
    return meta, [i for i in items if i["sk"].startswith("LINE#")]


def _require_usable(owner: str, meta: dict[str, Any] | None) -> None:
    if owner.startswith("guest#") and (meta is None or meta.get("expires_at", 0) < now()):
        raise NotFound("no such guest cart (it may have expired)", code="CART_NOT_FOUND")
    if meta is not None and meta.get("merged_into"):
        raise Conflict("this guest cart was merged into a signed-in cart", code="CART_MERGED")


def get_cart(owner: str) -> Cart:
    meta, lines = _read(owner)
    _require_usable(owner, meta)
    return _view(meta, lines)


def _view(meta: dict[str, Any] | None, lines: list[dict[str, Any]]) -> Cart:
    """The cart re-priced from the catalog, so the shopper sees changes before checkout."""
    catalog = get_skus([line["sku"] for line in lines]) if lines else {}
    view: list[CartLine] = []
    totals: dict[str, int] = {}
    for line in sorted(lines, key=lambda li: li["added_at"]):
        record = catalog.get(line["sku"])
        unit = Money.model_validate(line["unit_price"])
        available = record is not None and record.sellable
        current = record.price if record is not None else None
        view.append(
            CartLine(
                sku=line["sku"],
                name=record.name if record else line.get("name", line["sku"]),
                quantity=line["quantity"],
                unit_price=unit,
                current_price=current,
                price_changed=current is not None and current != unit,
                available=available,
            )
        )
        if available and current is not None:
            totals[current.currency] = (
                totals.get(current.currency, 0) + current.amount * line["quantity"]
            )
    return Cart(
        lines=view,
        line_count=len(view),
        item_count=sum(line.quantity for line in view),
        totals=[Money(amount=a, currency=c) for c, a in sorted(totals.items())],
        needs_review=any(line.price_changed or not line.available for line in view),
        updated_at=meta.get("updated_at") if meta else None,
    )


# ----------------------------------------------------------------------------- changing
def create_guest_cart() -> tuple[str, Cart]:
    token = secrets.token_urlsafe(32)
    owner = guest_owner(token)
    expires = math.ceil(now() + GUEST_IDLE_SECONDS)
    _client().put_item(
        TableName=cart_table(),
        Item=to_item(
            {
                "pk": f"CART#{owner}",
                "sk": "META",
                "owner": owner,
                "line_count": 0,
                "updated_at": iso_now(),
                "expiry_bucket": GUEST_BUCKET,
                "expires_at": expires,
                "ttl": expires + 7 * 24 * 3600,
            }
        ),
        ConditionExpression="attribute_not_exists(pk)",
    )
    return token, get_cart(owner)


def _sellable(sku: str) -> SkuRecord:
    record = get_skus([sku]).get(sku)
    if record is None:
        raise ValidationFailed(f"there is no SKU {sku}", code="SKU_NOT_FOUND")
    if not record.sellable:
        raise ValidationFailed(f"{sku} is no longer sold", code="SKU_UNAVAILABLE")
    return record


def add_item(owner: str, sku: str, quantity: int) -> LineChange:
    record = _sellable(sku)
    for _ in range(MAX_ATTEMPTS):
        new_line = {
            "Put": {
                "Item": to_item(
                    {
                        "pk": f"CART#{owner}",
                        "sk": f"LINE#{sku}",
                        "sku": sku,
                        "name": record.name,
                        "quantity": quantity,
                        "unit_price": record.price.model_dump(),
                        "added_at": iso_now(),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        codes = _transact([new_line, _touch_meta(owner, line_delta=1, guard_limit=True)])
        if codes is None:
            return _line_change(owner, sku)
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] != "ConditionalCheckFailed":
            continue  # a transaction conflict: try again
        # The line exists: add to it, atomically, within the per-line limit.
        more = {
            "Update": {
                "Key": _line_key(owner, sku),
                "UpdateExpression": "SET quantity = quantity + :q",
                "ConditionExpression": "attribute_exists(pk) AND quantity <= :room",
                "ExpressionAttributeValues": {
                    ":q": {"N": str(quantity)},
                    ":room": {"N": str(MAX_LINE_QUANTITY - quantity)},
                },
            }
        }
        codes = _transact([more, _touch_meta(owner)])
        if codes is None:
            return _line_change(owner, sku)
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] == "ConditionalCheckFailed" and _line_quantity(owner, sku) is not None:
            raise ValidationFailed(
                f"a cart line holds at most {MAX_LINE_QUANTITY}",
                code="QUANTITY_LIMIT",
                details={"sku": sku, "in_cart": _line_quantity(owner, sku)},
            )
    raise Throttled("the cart is changing too fast; retry")


def _line_change(owner: str, sku: str) -> LineChange:
    meta = _client().get_item(TableName=cart_table(), Key=_meta_key(owner), ConsistentRead=True)
    line_count = int(meta.get("Item", {}).get("line_count", {}).get("N", "0"))
    return LineChange(sku=sku, quantity=_line_quantity(owner, sku) or 0, line_count=line_count)


def _line_quantity(owner: str, sku: str) -> int | None:
    item = _client().get_item(
        TableName=cart_table(), Key=_line_key(owner, sku), ConsistentRead=True
    )
    return int(item["Item"]["quantity"]["N"]) if "Item" in item else None


def _explain_meta_refusal(owner: str) -> None:
    meta, _ = _read(owner)
    _require_usable(owner, meta)
    if meta is not None and meta.get("line_count", 0) >= MAX_LINES:
        raise ValidationFailed(f"a cart holds at most {MAX_LINES} lines", code="CART_FULL")


def set_quantity(owner: str, sku: str, quantity: int) -> LineChange:
    line = {
        "Update": {
            "Key": _line_key(owner, sku),
            "UpdateExpression": "SET quantity = :q",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":q": {"N": str(quantity)}},
        }
    }
    codes = _transact([line, _touch_meta(owner)])
    if codes is not None:
        if codes[1] == "ConditionalCheckFailed":
            _explain_meta_refusal(owner)
        if codes[0] == "ConditionalCheckFailed":
            raise NotFound(f"{sku} is not in the cart", code="LINE_NOT_FOUND")
        raise Throttled("the cart is changing too fast; retry")
    return _line_change(owner, sku)


def remove_item(owner: str, sku: str) -> LineChange:
    """Remove a line; removing a line that is not there changes nothing."""
    line = {"Delete": {"Key": _line_key(owner, sku), "ConditionExpression": "attribute_exists(pk)"}}
    codes = _transact([line, _touch_meta(owner, line_delta=-1)])
    if codes is not None and codes[1] == "ConditionalCheckFailed":
        _explain_meta_refusal(owner)
    return _line_change(owner, sku)


def remove_purchased(owner: str, purchased: dict[str, int]) -> Cart:
    """After a checkout: take the bought quantities off their lines (a line added to during
    the checkout keeps the difference). Repeating it is harmless only with the same snapshot
    id, so the saga calls it once per checkout through its own idempotent step."""
    _, lines = _read(owner)
    for line in lines:
        bought = purchased.get(line["sku"], 0)
        if not bought:
            continue
        if line["quantity"] <= bought:
            _transact(
                [
                    {
                        "Delete": {
                            "Key": _line_key(owner, line["sku"]),
                            "ConditionExpression": "quantity <= :bought",
                            "ExpressionAttributeValues": {":bought": {"N": str(bought)}},
                        }
                    },
                    _touch_meta(owner, line_delta=-1),
                ]
            )
        else:
            _client().update_item(
                TableName=cart_table(),
                Key=_line_key(owner, line["sku"]),
                UpdateExpression="SET quantity = quantity - :bought",
                ConditionExpression="quantity > :bought",
                ExpressionAttributeValues={":bought": {"N": str(bought)}},
            )
    return get_cart(owner)


# ----------------------------------------------------------------------------- merging
def merge_guest_cart(token: str, user_id: str) -> Cart:
    """Fold a guest cart into the user's, exactly once: quantities add up (to the line limit),
    new lines join while the cart has room, and the guest cart is marked merged in the same
    transaction, so a repeated or concurrent merge cannot count twice."""
    guest, user = guest_owner(token), user_owner(user_id)
    for _ in range(MAX_ATTEMPTS):
        guest_meta, guest_lines = _read(guest)
        if guest_meta is not None and guest_meta.get("merged_into") == user:
            return get_cart(user)  # done before: the repeat is harmless
        _require_usable(guest, guest_meta)
        user_meta, user_lines = _read(user)
        mine = {line["sku"]: line for line in user_lines}
        count = len(user_lines)
        writes: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": _meta_key(guest),
                    "UpdateExpression": "SET merged_into = :user, updated_at = :now",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND attribute_not_exists(merged_into)"
                    ),
                    "ExpressionAttributeValues": {":user": {"S": user}, ":now": {"S": iso_now()}},
                }
            }
        ]
        added = 0
        for line in sorted(guest_lines, key=lambda li: li["added_at"])[: MAX_LINES - 2]:
            existing = mine.get(line["sku"])
            if existing is not None:
                total = min(existing["quantity"] + line["quantity"], MAX_LINE_QUANTITY)
                if total == existing["quantity"]:
                    continue
                writes.append(
                    {
                        "Update": {
                            "Key": _line_key(user, line["sku"]),
                            "UpdateExpression": "SET quantity = :total",
                            "ConditionExpression": "quantity = :seen",
                            "ExpressionAttributeValues": {
                                ":total": {"N": str(total)},
                                ":seen": {"N": str(existing["quantity"])},
                            },
                        }
                    }
                )
            elif count + added < MAX_LINES:
                added += 1
                writes.append(
                    {
                        "Put": {
                            "Item": to_item({**line, "pk": f"CART#{user}"}),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
        meta = _touch_meta(user, line_delta=added)
        # The user's line count must be what we read, or our room calculation is stale.
        meta["Update"]["ConditionExpression"] += (
            " AND (attribute_not_exists(line_count) OR line_count = :seen_count)"
        )
        meta["Update"]["ExpressionAttributeValues"][":seen_count"] = {
            "N": str(user_meta.get("line_count", 0) if user_meta else 0)
        }
        if _transact([*writes, meta]) is None:
            return get_cart(user)
    raise Throttled("the carts are changing too fast; retry the merge")


# ----------------------------------------------------------------------------- expiry
def expire_guest_carts() -> int:
    """Delete guest carts idle for 30 days. DynamoDB's TTL would get there too, but up to days
    late (and moto never), and a shopper would see a cart that should be gone."""
    expired = 0
    request: dict[str, Any] = {
        "TableName": cart_table(),
        "IndexName": "GuestExpiryIndex",
        "KeyConditionExpression": "expiry_bucket = :g AND expires_at < :now",
        "ExpressionAttributeValues": {
            ":g": {"S": GUEST_BUCKET},
            ":now": {"N": str(math.floor(now()))},
        },
    }
    while True:
        response = _client().query(**request)
        for item in response.get("Items", []):
            owner = item["pk"]["S"].removeprefix("CART#")
            try:
                # Only if still idle: activity since the query moved expires_at forward.
                _client().delete_item(
                    TableName=cart_table(),
                    Key=_meta_key(owner),
                    ConditionExpression="expires_at < :now",
                    ExpressionAttributeValues={":now": {"N": str(math.floor(now()))}},
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    continue
                raise
            _, lines = _read(owner)
            for line in lines:
                _client().delete_item(TableName=cart_table(), Key=_line_key(owner, line["sku"]))
            expired += 1
        if "LastEvaluatedKey" not in response:
            return expired
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
