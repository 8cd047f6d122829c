"""Checkout sessions in DynamoDB: one item per checkout.

pk = CHECKOUT#<id>   status, lines, total, order_id, failure, saga_input (the saga's JSON),
                     recoveries; while PENDING also `pending` + `started_at`, the keys of
                     the sparse PendingCheckoutsIndex the recovery sweep reads

UserCheckoutsIndex (user_id, created_at) lists a shopper's checkouts (an export, an erasure).
"""

from __future__ import annotations

import json
import math
from typing import Any

from shop.checkout.models import SagaInput
from shop.clock import iso_now, now
from shop.dynamo import put_new, query_all, query_page, read_item, update_if

PENDING = "PENDING"


def checkout_key(checkout_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CHECKOUT#{checkout_id}"}}


class CheckoutRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def get(self, checkout_id: str) -> dict[str, Any] | None:
        return read_item(self.table_name, checkout_key(checkout_id))

    def create(self, saga: SagaInput) -> dict[str, Any]:
        """A new PENDING checkout of the snapshot; the record that exists, if a concurrent
        request with the same key won."""
        at = iso_now()
        record = {
            "pk": f"CHECKOUT#{saga.checkout_id}",
            "checkout_id": saga.checkout_id,
            "user_id": saga.user_id,
            "status": PENDING,
            "lines": [line.model_dump() for line in saga.lines],
            "total": saga.total.model_dump(),
            "saga_input": json.dumps(saga.model_dump()),
            "pending": PENDING,
            "started_at": math.floor(now()),
            "recoveries": 0,
            "created_at": at,
            "updated_at": at,
        }
        if put_new(self.table_name, record):
            return record
        raced = self.get(saga.checkout_id)
        assert raced is not None
        return raced

    def finish(
        self, checkout_id: str, outcome: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, bool]:
        """Set the outcome (`status` and `order_id` or `failure`) of a PENDING checkout, which
        leaves the pending index. The record as it is afterwards (an outcome recorded before
        stays; None if there is no such checkout), and whether this call recorded it."""
        sets = ", ".join(f"{name} = :{name}" for name in outcome if name != "status")
        recorded = update_if(
            self.table_name,
            checkout_key(checkout_id),
            f"SET #s = :status, {sets}, updated_at = :now REMOVE pending",
            condition="#s = :pending",
            names={"#s": "status"},
            values={
                **{f":{name}": value for name, value in outcome.items()},
                ":now": iso_now(),
                ":pending": PENDING,
            },
        )
        if recorded is not None:
            return recorded, True
        return self.get(checkout_id), False

    def stuck(self, started_before: int, *, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` PENDING checkouts started before `started_before` (epoch seconds)."""
        items, _ = query_page(
            self.table_name,
            "pending = :p AND started_at < :cutoff",
            {":p": PENDING, ":cutoff": started_before},
            index="PendingCheckoutsIndex",
            limit=limit,
        )
        return items

    def claim_recovery(self, checkout_id: str, attempt: int) -> bool:
        """Count recovery `attempt` + 1 of a PENDING checkout, if no other sweep counted it
        first: whether this caller owns the attempt."""
        claimed = update_if(
            self.table_name,
            checkout_key(checkout_id),
            "SET recoveries = :next, started_at = :now_s",
            condition="recoveries = :seen AND #s = :pending",
            names={"#s": "status"},
            values={
                ":next": attempt + 1,
                ":seen": attempt,
                ":pending": PENDING,
                ":now_s": math.floor(now()),
            },
        )
        return claimed is not None

    def of_user(self, user_id: str) -> list[dict[str, Any]]:
        """Every checkout of the shopper, oldest first."""
        return list(
            query_all(self.table_name, "user_id = :u", {":u": user_id}, index="UserCheckoutsIndex")
        )

    def erase_address(self, checkout_id: str, saga_input: str, at: str) -> None:
        """Replace the checkout's snapshot (`saga_input`) by one without the shopper's address
        (an erasure); a repeat writes the same and keeps the first `erased_at`. Only finished
        checkouts are erased: a PENDING one's saga still reads the snapshot."""
        update_if(
            self.table_name,
            checkout_key(checkout_id),
            "SET saga_input = :s, erased_at = if_not_exists(erased_at, :at)",
            condition="#s <> :pending",
            names={"#s": "status"},
            values={":s": saga_input, ":at": at, ":pending": PENDING},
        )
