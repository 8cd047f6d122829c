"""DELETE /cart/items/{sku} and /guest-cart/items/{sku}: remove a line (idempotent)."""

from shop.cart.edge import cart_owner
from shop.cart.service import remove_item
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("cart")
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    return ApiResponse(200, remove_item(owner, request.path_param("sku")).model_dump())
