"""GET /orders/{order_id}: one of the caller's orders, with its status history, its shipments
(and their tracking), returns and cancellations."""

from shop.errors import OrderNotFound
from shop.fulfillment.service import with_fulfillment
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.orders.models import Order
from shop.orders.service import get_order


@api_handler("orders", responses={200: Order}, errors=[OrderNotFound])
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    order = with_fulfillment(get_order(request.path_param("order_id"), owner=caller.user_id))
    return ApiResponse(200, order.model_dump())
