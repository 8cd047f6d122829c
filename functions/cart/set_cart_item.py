"""PUT /cart/items/{sku} and /guest-cart/items/{sku} {"quantity"}: set a line's quantity."""

from shop.cart.edge import cart_owner
from shop.cart.models import SetQuantity
from shop.cart.service import set_quantity
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("cart")
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    change = request.json_body(SetQuantity)
    cart = set_quantity(owner, request.path_param("sku"), change.quantity)
    return ApiResponse(200, cart.model_dump())
