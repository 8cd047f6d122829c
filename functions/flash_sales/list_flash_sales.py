"""GET /flash-sales (anyone): the sales not yet ended, soonest first, a second old at most."""

from shop.flash_sales.models import FlashSaleList
from shop.flash_sales.service import STATUS_CACHE_CONTROL, current_sales
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler("flash_sales", responses={200: FlashSaleList})
def handler(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, current_sales().model_dump(), {"Cache-Control": STATUS_CACHE_CONTROL})
