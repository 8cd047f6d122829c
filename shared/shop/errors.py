"""The error catalogue: every error a client (or the checkout saga) can see is a class here,
with one stable `code` and one HTTP `status`. The codes are the public contract.

Handlers never build error responses themselves: `shop.http` turns a `ShopError` into
`{"error": {"code", "message", "details"}}` with the error's HTTP status. A saga task's
`ShopError` reaches Step Functions under its class name, so class names are contract too.

A new code is a new class under the base whose status it shares (BadRequest, NotFound,
Conflict, ValidationFailed, ...): an instance cannot change its code.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar


class ShopError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    # Ends a checkout with this code as its `failure.code` (any other error ends it with
    # CHECKOUT_FAILED): see `checkout_failure_codes`.
    ends_checkout: ClassVar[bool] = False
    # The saga retries it with backoff: statemachines/checkout.asl.json lists exactly these.
    transient: ClassVar[bool] = False
    # The name the saga sees this error under, when Step Functions raises it, not our code.
    saga_error: ClassVar[str | None] = None
    # Sent as `Retry-After` (seconds) with the error's response: the client may try again.
    # An instance may say better (an open circuit knows when its probe is due).
    retry_after: int | None = None

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ShopError):
    """The request cannot be parsed: malformed JSON, a bad cursor, a missing header."""

    status = 400
    code = "BAD_REQUEST"


class Unauthorized(ShopError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(ShopError):
    status = 403
    code = "FORBIDDEN"


class NotFound(ShopError):
    status = 404
    code = "NOT_FOUND"


class Conflict(ShopError):
    """The request is valid but clashes with the current state (a version, a duplicate SKU)."""

    status = 409
    code = "CONFLICT"


class PayloadTooLarge(ShopError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class ValidationFailed(ShopError):
    """The request parses but breaks a rule: a wrong type, a negative price, an unknown field."""

    status = 422
    code = "VALIDATION_FAILED"


class Throttled(ShopError):
    status = 429
    code = "THROTTLED"
    transient = True
    retry_after = 1


class DependencyUnavailable(ShopError):
    """An AWS service the shop depends on timed out, could not be reached, or kept throttling
    past the SDK's own retries (`shop.aws.unavailable` decides which errors these are): a slow
    moment, not a verdict. The saga retries it with backoff; the API answers 503 and
    `Retry-After`."""

    status = 503
    code = "DEPENDENCY_UNAVAILABLE"
    transient = True
    retry_after = 1


class PaymentDeclined(ShopError):
    """The card issuer said no. A business outcome, not a failure to retry."""

    status = 402
    code = "PAYMENT_DECLINED"
    ends_checkout = True


class PaymentProviderUnavailable(ShopError):
    """Stripe could not be reached or answered 5xx, or its circuit is open (shop.breakers):
    transient, retried with backoff; a checkout that still meets it ends with this code."""

    status = 503
    code = "PAYMENT_PROVIDER_UNAVAILABLE"
    transient = True
    ends_checkout = True
    retry_after = 1


# ----------------------------------------------------------------------------- 400
class InvalidWebhook(BadRequest):
    """A webhook whose signature does not verify (the signature is its authentication)."""

    code = "INVALID_SIGNATURE"


# ----------------------------------------------------------------------------- 404
class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"


class SkuNotStocked(NotFound):
    code = "SKU_NOT_STOCKED"


class ReservationNotFound(NotFound):
    code = "RESERVATION_NOT_FOUND"


class CartNotFound(NotFound):
    """No such guest cart, or it expired."""

    code = "CART_NOT_FOUND"


class LineNotFound(NotFound):
    code = "LINE_NOT_FOUND"


class CheckoutNotFound(NotFound):
    code = "CHECKOUT_NOT_FOUND"


class OrderNotFound(NotFound):
    """Also another user's order: an order's existence is never revealed to others."""

    code = "ORDER_NOT_FOUND"


class ShipmentNotFound(NotFound):
    code = "SHIPMENT_NOT_FOUND"


class ReturnNotFound(NotFound):
    code = "RETURN_NOT_FOUND"


class CarrierNotFound(NotFound):
    """No carrier of that name is configured."""

    code = "CARRIER_NOT_FOUND"


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"


class FlashSaleNotFound(NotFound):
    code = "FLASH_SALE_NOT_FOUND"


class TicketNotFound(NotFound):
    """Also another shopper's ticket."""

    code = "TICKET_NOT_FOUND"


# ----------------------------------------------------------------------------- 409
class ProductConflict(Conflict):
    """The product exists already, or was changed between our read and our write."""

    code = "PRODUCT_CONFLICT"


class SkuTaken(Conflict):
    code = "SKU_TAKEN"


class VersionConflict(Conflict):
    """The update names a version that is not the stored one (optimistic locking)."""

    code = "VERSION_CONFLICT"


class BelowReserved(Conflict):
    code = "BELOW_RESERVED"


class ShardsInUse(Conflict):
    code = "SHARDS_IN_USE"


class InsufficientStock(Conflict):
    """An adjustment would take more than a stock item has available."""

    code = "INSUFFICIENT_STOCK"


class OutOfStock(Conflict):
    """A reservation cannot be covered by the stock there is."""

    code = "OUT_OF_STOCK"
    ends_checkout = True


class ReservationMismatch(Conflict):
    """The checkout already reserved other lines."""

    code = "RESERVATION_MISMATCH"


class ReservationCommitted(Conflict):
    code = "RESERVATION_COMMITTED"


class ReservationLapsed(Conflict):
    """The reservation was released or expired before it could be committed."""

    code = "RESERVATION_EXPIRED"  # the code a checkout it ends has always shown
    ends_checkout = True


class CartMerged(Conflict):
    """A guest cart that was merged into a signed-in cart takes no more changes."""

    code = "CART_MERGED"


class PriceChanged(Conflict):
    code = "PRICE_CHANGED"
    ends_checkout = True


class OrderStateConflict(Conflict):
    """The order's status does not allow the change."""

    code = "ORDER_STATE"


class SaleNotOpen(Conflict):
    """The sale has not started, or has ended: entries are taken between the two."""

    code = "SALE_NOT_OPEN"


class TicketNotWon(Conflict):
    """Only a won ticket whose hold has not lapsed can be checked out."""

    code = "TICKET_NOT_WON"


class TicketInCheckout(Conflict):
    """Another checkout of this ticket is under way: wait for its outcome."""

    code = "TICKET_IN_CHECKOUT"


class AlreadyShipped(Conflict):
    """What is asked to be cancelled has left the warehouse: return it after delivery."""

    code = "ALREADY_SHIPPED"


class LabelNotVoidable(Conflict):
    """The carrier has the parcel moving already: its label can no longer be voided."""

    code = "LABEL_NOT_VOIDABLE"


class ShipmentStateConflict(Conflict):
    """The shipment's status does not allow the change (packing a cancelled shipment)."""

    code = "SHIPMENT_STATE"


class RefundRefused(Conflict):
    """Stripe refused a refund for good (a disputed or closed charge): an operator decides."""

    code = "REFUND_REFUSED"


class ClaimStateConflict(Conflict):
    """Only a stalled claim (a cancellation or return whose refund failed) is retried."""

    code = "CLAIM_STATE"


class ReturnStateConflict(Conflict):
    code = "RETURN_STATE"


class PaymentNotCapturable(Conflict):
    code = "PAYMENT_NOT_CAPTURABLE"


class ErasureBlocked(Conflict):
    """An account with a checkout in progress or an order still on its way cannot be erased
    yet: the saga and the carrier need the address (docs/privacy.md)."""

    code = "ERASURE_BLOCKED"


class RequestInProgress(Conflict):
    """A request with the same Idempotency-Key is still running."""

    code = "REQUEST_IN_PROGRESS"


class CursorMismatch(Conflict):
    """The cursor was issued for another listing (another user's orders)."""

    code = "BAD_CURSOR"


# ----------------------------------------------------------------------------- 422
class IdempotencyKeyReused(ValidationFailed):
    code = "IDEMPOTENCY_KEY_REUSED"


class ReturnNotAllowed(ValidationFailed):
    """More than was delivered (and not yet returned), or outside the return window."""

    code = "RETURN_NOT_ALLOWED"


class RefundExceedsPayment(ValidationFailed):
    """A refund would take back more than the order's payment still holds."""

    code = "REFUND_EXCEEDS_PAYMENT"


class UnknownSku(ValidationFailed):
    code = "SKU_NOT_FOUND"


class SkuUnavailable(ValidationFailed):
    """The SKU exists but is no longer sold."""

    code = "SKU_UNAVAILABLE"


class QuantityLimit(ValidationFailed):
    code = "QUANTITY_LIMIT"


class CartFull(ValidationFailed):
    code = "CART_FULL"


class CartEmpty(ValidationFailed):
    code = "CART_EMPTY"


class ItemUnavailable(ValidationFailed):
    """Some item of the checkout is no longer sold (found at checkout, or during the saga)."""

    code = "ITEM_UNAVAILABLE"
    ends_checkout = True


class MixedCurrencies(ValidationFailed):
    code = "MIXED_CURRENCIES"


# ----------------------------------------------------------------------------- saga outcomes
class PaymentTimeout(ShopError):
    """The customer did not complete 3-D Secure in time: the saga's wait timed out."""

    status = 402
    code = "PAYMENT_TIMEOUT"
    ends_checkout = True
    saga_error = "States.Timeout"


class RecoveryExhausted(ShopError):
    """The checkout kept stalling; the recovery sweep ran its compensation only."""

    code = "CHECKOUT_ABANDONED"
    ends_checkout = True


class CheckoutFailed(ShopError):
    """A checkout ended by any error without a failure code of its own."""

    code = "CHECKOUT_FAILED"


class EventInProgress(Conflict):
    """Another delivery of the same event is being handled right now: retried later."""

    code = "EVENT_IN_PROGRESS"


class PoisonEvent(ShopError):
    """An event no consumer can ever handle (malformed, unknown type or version): it goes to
    the queue's DLQ, never to a client."""

    status = 422
    code = "POISON_EVENT"


class EventPublishFailed(ShopError):
    """EventBridge refused some entries: the caller's retry (a stream's, a state machine's)
    sends them again."""

    status = 503
    code = "EVENT_PUBLISH_FAILED"


def catalogue() -> list[type[ShopError]]:
    """Every error class of the shop, the bases included, in the order defined here."""
    return [
        value
        for value in vars(sys.modules[__name__]).values()
        if isinstance(value, type) and issubclass(value, ShopError)
    ]


def checkout_failure_codes() -> dict[str, str]:
    """A failed checkout's `failure.code`, by the name of the error its saga failed with."""
    return {e.saga_error or e.__name__: e.code for e in catalogue() if e.ends_checkout}
