"""The one error hierarchy. Every error a client can see is a `ShopError` with a stable code.

Handlers never build error responses themselves: `shop.http` turns a `ShopError` into
`{"error": {"code", "message", "details"}}` with the error's HTTP status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShopError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # a narrower code for one instance
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


class OutOfStock(Conflict):
    """A reservation cannot be covered by the stock there is."""

    code = "OUT_OF_STOCK"


class ReservationLapsed(Conflict):
    """The reservation was released or expired before it could be committed."""

    code = "RESERVATION_LAPSED"


class PaymentDeclined(ShopError):
    """The card issuer said no. A business outcome, not a failure to retry."""

    status = 402
    code = "PAYMENT_DECLINED"


class PaymentProviderUnavailable(ShopError):
    """Stripe could not be reached or answered 5xx: transient, retried with backoff."""

    status = 503
    code = "PAYMENT_PROVIDER_UNAVAILABLE"


class PriceChanged(Conflict):
    code = "PRICE_CHANGED"


class ItemUnavailable(Conflict):
    code = "ITEM_UNAVAILABLE"
