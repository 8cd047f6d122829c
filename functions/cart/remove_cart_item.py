"""DELETE /cart/items/{sku} and /guest-cart/items/{sku}: remove a line (idempotent)."""

from shop.cart.edge import GUEST_CART_TOKEN, cart_owner
from shop.cart.models import LineChange
from shop.cart.service import remove_item
from shop.catalog.models import Sku
from shop.errors import BadRequest, CartFull, CartMerged, CartNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "cart",
    path={"sku": Sku},
    headers=[GUEST_CART_TOKEN],
    responses={200: LineChange},
    errors=[BadRequest, CartNotFound, CartMerged, CartFull],
)
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    return ApiResponse(200, remove_item(owner, request.path_param("sku")).model_dump())
