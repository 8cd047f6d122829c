"""POST /orders/{order_id}/returns {"lines", "reason"} (+ Idempotency-Key): return delivered
lines within the return window. 201 {"return_id", "status": "REQUESTED", ...}; 422 for more
than was delivered or outside the window."""

from shop.errors import IdempotencyKeyReused, OrderNotFound, ReturnNotAllowed
from shop.fulfillment.models import OrderId, Return, ReturnRequest
from shop.fulfillment.service import request_return
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import idempotency_key
from shop.orders.service import get_order


@api_handler(
    "fulfillment",
    body=ReturnRequest,
    path={"order_id": OrderId},
    responses={201: Return},
    errors=[OrderNotFound, ReturnNotAllowed, IdempotencyKeyReused],
    idempotency="optional",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    key = idempotency_key(request, required=False)
    body = request.json_body(ReturnRequest)
    order = get_order(request.path_param("order_id"), owner=caller.user_id)
    created = request_return(order, body, key, request.correlation_id)
    return ApiResponse(201, created.model_dump(), {"Location": f"/orders/{order.order_id}"})
