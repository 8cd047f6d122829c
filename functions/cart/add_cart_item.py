"""POST /cart/items and /guest-cart/items {"sku", "quantity"}: add to a line, atomically.
Honours Idempotency-Key (a retried add counts once)."""

from shop.cart.edge import GUEST_CART_TOKEN, cart_owner
from shop.cart.models import AddItem, LineChange
from shop.cart.service import add_item
from shop.errors import (
    BadRequest,
    CartFull,
    CartMerged,
    CartNotFound,
    IdempotencyKeyReused,
    QuantityLimit,
    RequestInProgress,
    SkuUnavailable,
    UnknownSku,
)
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import once_per_key


@api_handler(
    "cart",
    body=AddItem,
    headers=[GUEST_CART_TOKEN],
    responses={200: LineChange},
    errors=[
        BadRequest,
        CartNotFound,
        CartMerged,
        UnknownSku,
        SkuUnavailable,
        QuantityLimit,
        CartFull,
        RequestInProgress,
        IdempotencyKeyReused,
    ],
    idempotency="optional",
)
def handler(request: ApiRequest) -> ApiResponse:
    owner, caller = cart_owner(request)
    item = request.json_body(AddItem)

    def add() -> ApiResponse:
        added = add_item(owner, item.sku, item.quantity, correlation_id=request.correlation_id)
        return ApiResponse(200, added.model_dump())

    return once_per_key(request, caller, "add_cart_item", add)
