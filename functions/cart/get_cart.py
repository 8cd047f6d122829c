"""GET /cart and GET /guest-cart: the cart, re-priced from the catalog."""

from shop.cart.edge import GUEST_CART_TOKEN, cart_owner
from shop.cart.models import Cart
from shop.cart.service import get_cart
from shop.errors import BadRequest, CartMerged, CartNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "cart",
    headers=[GUEST_CART_TOKEN],
    responses={200: Cart},
    errors=[BadRequest, CartNotFound, CartMerged],
)
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    return ApiResponse(200, get_cart(owner).model_dump())
