"""Payment records in DynamoDB.

pk = PAYMENT#<checkout_id>   intent_id, status, amount, currency, wait_token
pk = WEBHOOK#<event_id>      a Stripe event already handled (replays are ignored)
pk = REFUND#<claim_id>       a part of a payment given back (a cancellation, a return):
                             written with the payment's `refunded` total, in one transaction
"""

from __future__ import annotations

from typing import Any

from shop.clock import iso_now
from shop.dynamo import put_new, put_write, read_item, transact, update_if, update_write
from shop.money import Money


def payment_key(checkout_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PAYMENT#{checkout_id}"}}


class PaymentsRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def get(self, checkout_id: str) -> dict[str, Any] | None:
        return read_item(self.table_name, payment_key(checkout_id))

    def open(self, checkout_id: str, amount: Money) -> None:
        """The checkout's payment record, CREATING, unless it has one already."""
        put_new(
            self.table_name,
            {
                "pk": f"PAYMENT#{checkout_id}",
                "checkout_id": checkout_id,
                "status": "CREATING",
                "amount": amount.amount,
                "currency": amount.currency,
                "created_at": iso_now(),
            },
        )

    def update(self, checkout_id: str, **fields: Any) -> None:
        """Set `fields` on the record, unconditionally."""
        update_if(
            self.table_name,
            payment_key(checkout_id),
            "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            names={f"#{k}": k for k in fields},
            values={f":{k}": v for k, v in fields.items()},
        )

    def settle_wait(self, checkout_id: str, outcome: str) -> str | None:
        """Take the record out of REQUIRES_ACTION into `outcome`, once, if a saga is parked on
        it: the parked saga's task token, or None when there is nothing (left) to resume."""
        record = update_if(
            self.table_name,
            payment_key(checkout_id),
            "SET #s = :outcome, updated_at = :now",
            condition="#s = :waiting AND attribute_exists(wait_token)",
            names={"#s": "status"},
            values={":outcome": outcome, ":waiting": "REQUIRES_ACTION", ":now": iso_now()},
        )
        return None if record is None else str(record["wait_token"])

    def first_delivery(self, event_id: str, event_type: str) -> bool:
        """Record a Stripe event as handled: False when it was before (a replay)."""
        return put_new(
            self.table_name, {"pk": f"WEBHOOK#{event_id}", "type": event_type, "at": iso_now()}
        )

    def refund(self, claim_id: str) -> dict[str, Any] | None:
        return read_item(self.table_name, {"pk": {"S": f"REFUND#{claim_id}"}})

    def open_refund(self, checkout_id: str, claim_id: str, amount: int, paid: int) -> bool:
        """Record that `amount` of the checkout's captured payment (`paid`) is being given back
        for `claim_id`, and add it to the payment's `refunded` total, only if the total stays
        within what was paid. False when refused: the claim's refund was recorded before, or the
        payment is not captured or has not that much left."""
        codes = transact(
            [
                {
                    **put_write(
                        {
                            "pk": f"REFUND#{claim_id}",
                            "checkout_id": checkout_id,
                            "amount": amount,
                            "status": "PENDING",
                            "created_at": iso_now(),
                        },
                        condition="attribute_not_exists(pk)",
                    )
                },
                update_write(
                    payment_key(checkout_id),
                    "SET refunded = if_not_exists(refunded, :zero) + :a",
                    condition="#s = :captured AND "
                    "((attribute_not_exists(refunded) AND amount >= :a) OR refunded <= :room)",
                    names={"#s": "status"},
                    values={
                        ":zero": 0,
                        ":a": amount,
                        ":captured": "CAPTURED",
                        ":room": paid - amount,
                    },
                ),
            ],
            table=self.table_name,
        )
        return codes is None

    def settle_refund(self, claim_id: str, refund_id: str) -> None:
        update_if(
            self.table_name,
            {"pk": {"S": f"REFUND#{claim_id}"}},
            "SET #s = :done, refund_id = :r, updated_at = :now",
            names={"#s": "status"},
            values={":done": "REFUNDED", ":r": refund_id, ":now": iso_now()},
        )

    def withdraw_refund(self, checkout_id: str, claim_id: str, amount: int) -> None:
        """Take back a recorded refund Stripe refused for good (none was made): the record goes
        and the payment's `refunded` total drops by it, together, once."""
        transact(
            [
                {
                    "Delete": {
                        "Key": {"pk": {"S": f"REFUND#{claim_id}"}},
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":pending": {"S": "PENDING"}},
                    }
                },
                update_write(
                    payment_key(checkout_id),
                    "SET refunded = refunded - :a",
                    condition="refunded >= :a",
                    values={":a": amount},
                ),
            ],
            table=self.table_name,
        )
