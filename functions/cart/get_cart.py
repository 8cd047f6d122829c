"""GET /cart and GET /guest-cart: the cart, re-priced from the catalog."""

from shop.cart.edge import cart_owner
from shop.cart.service import get_cart
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("cart")
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    return ApiResponse(200, get_cart(owner).model_dump())
