"""PUT /cart/items/{sku} and /guest-cart/items/{sku} {"quantity"}: set a line's quantity."""

from shop.cart.edge import GUEST_CART_TOKEN, cart_owner
from shop.cart.models import LineChange, SetQuantity
from shop.cart.service import set_quantity
from shop.catalog.models import Sku
from shop.errors import BadRequest, CartFull, CartMerged, CartNotFound, LineNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "cart",
    body=SetQuantity,
    path={"sku": Sku},
    headers=[GUEST_CART_TOKEN],
    responses={200: LineChange},
    errors=[BadRequest, CartNotFound, CartMerged, CartFull, LineNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    owner, _ = cart_owner(request)
    change = request.json_body(SetQuantity)
    cart = set_quantity(owner, request.path_param("sku"), change.quantity)
    return ApiResponse(200, cart.model_dump())
