"""POST /orders/{order_id}/cancel {"reason"?} + Idempotency-Key: cancel what has not shipped.
202 with what was stopped (its refund and restock follow); 409 ALREADY_SHIPPED when all of it
has left the warehouse."""

from shop.errors import (
    AlreadyShipped,
    IdempotencyKeyReused,
    OrderNotFound,
    OrderStateConflict,
)
from shop.fulfillment.models import CancellationAccepted, CancelRequest, OrderId
from shop.fulfillment.service import request_cancellation
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import idempotency_key
from shop.orders.service import get_order


@api_handler(
    "fulfillment",
    body=CancelRequest,
    path={"order_id": OrderId},
    responses={202: CancellationAccepted},
    errors=[OrderNotFound, OrderStateConflict, AlreadyShipped, IdempotencyKeyReused],
    idempotency="required",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    key = idempotency_key(request, required=True)
    assert key is not None
    body = request.json_body(CancelRequest) if request.body_bytes().strip() else CancelRequest()
    order = get_order(request.path_param("order_id"), owner=caller.user_id)
    accepted = request_cancellation(order, key, body.reason, request.correlation_id)
    return ApiResponse(202, accepted.model_dump())
