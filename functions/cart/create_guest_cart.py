"""POST /guest-cart: a new guest cart; the client keeps the token (we keep only its hash)."""

from shop.cart.models import GuestCartCreated
from shop.cart.service import create_guest_cart
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("cart", responses={201: GuestCartCreated})
def handler(request: ApiRequest) -> ApiResponse:
    token, cart = create_guest_cart()
    return ApiResponse(201, GuestCartCreated(cart_token=token, cart=cart).model_dump())
