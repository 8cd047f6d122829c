"""GET /flash-sales (anyone): the sales not yet ended, soonest first, a second old at most."""

from shop.flash_sales.models import FlashSaleList
from shop.flash_sales.service import STATUS_CACHE_SECONDS, current_sales
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("flash_sales", responses={200: FlashSaleList})
def handler(request: ApiRequest) -> ApiResponse:
    # The same for everyone, as fresh as the function's own cache: a CDN may keep it too.
    cache = f"public, max-age={int(STATUS_CACHE_SECONDS)}"
    return ApiResponse(200, current_sales().model_dump(), {"Cache-Control": cache})
