"""POST /checkout {"payment_method", "shipping_address"} + Idempotency-Key: snapshot the cart
and start the saga. 202 {"checkout_id", "status"}; poll GET /checkout/{checkout_id}. While
Stripe's circuit is open, 503 PAYMENT_PROVIDER_UNAVAILABLE at once, nothing held."""

from shop.checkout.models import CheckoutAccepted, StartCheckout
from shop.checkout.service import start_checkout
from shop.errors import (
    CartEmpty,
    IdempotencyKeyReused,
    ItemUnavailable,
    MixedCurrencies,
    PaymentProviderUnavailable,
    PriceChanged,
    TicketInCheckout,
    TicketNotFound,
    TicketNotWon,
)
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import idempotency_key


@api_handler(
    "checkout",
    body=StartCheckout,
    responses={202: CheckoutAccepted},
    # A repeated key finds the same checkout (no REQUEST_IN_PROGRESS), if the body is the same.
    errors=[
        CartEmpty,
        IdempotencyKeyReused,
        ItemUnavailable,
        MixedCurrencies,
        PaymentProviderUnavailable,
        PriceChanged,
        TicketNotFound,
        TicketNotWon,
        TicketInCheckout,
    ],
    idempotency="required",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    key = idempotency_key(request, required=True)
    assert key is not None
    body = request.json_body(StartCheckout)
    checkout = start_checkout(caller.user_id, key, body, request.correlation_id)
    return ApiResponse(
        202,
        CheckoutAccepted(checkout_id=checkout.checkout_id, status=checkout.status).model_dump(),
        {"Location": f"/checkout/{checkout.checkout_id}"},
    )
