"""POST /cart/merge {"cart_token"}: on sign-in, fold the guest cart into the user's, once."""

from shop.cart.models import Cart, MergeGuestCart
from shop.cart.service import merge_guest_cart
from shop.errors import CartMerged, CartNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("cart", body=MergeGuestCart, responses={200: Cart}, errors=[CartNotFound, CartMerged])
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    merge = request.json_body(MergeGuestCart)
    return ApiResponse(200, merge_guest_cart(merge.cart_token, caller.user_id).model_dump())
