"""GET /checkout/{checkout_id}: status, and at the end the order id or the failure code."""

from shop.checkout.models import CheckoutView
from shop.checkout.service import get_checkout
from shop.errors import CheckoutNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("checkout", responses={200: CheckoutView}, errors=[CheckoutNotFound])
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    view = get_checkout(request.path_param("checkout_id"), caller.user_id)
    return ApiResponse(200, view.model_dump(exclude_none=True))
