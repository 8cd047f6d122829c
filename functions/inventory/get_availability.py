"""GET /inventory/{sku}: how many can be bought now (eventually consistent)."""

from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.service import availability


@api_handler("inventory")
def handler(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, availability(request.path_param("sku")).model_dump())
