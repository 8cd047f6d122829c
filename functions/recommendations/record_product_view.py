"""POST /recommendations/views {"product_id"}: the storefront showed the signed-in shopper a
product; their next recommendations follow it. A repeat is harmless (a view at a moment)."""

from shop.errors import BadRequest, ProductNotFound
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.recommendations.models import ProductView, ViewRecorded
from shop.recommendations.service import record_view


@api_handler(
    "recommendations",
    body=ProductView,
    responses={202: ViewRecorded},
    errors=[BadRequest, ProductNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    view = request.json_body(ProductView)
    return ApiResponse(202, record_view(caller.user_id, view.product_id).model_dump())
