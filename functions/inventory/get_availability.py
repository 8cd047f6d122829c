"""GET /inventory/{sku}: how many can be bought now (eventually consistent)."""

from shop.catalog.models import Sku
from shop.errors import SkuNotStocked
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.models import Availability
from shop.inventory.service import availability


@api_handler("inventory", path={"sku": Sku}, responses={200: Availability}, errors=[SkuNotStocked])
def handler(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, availability(request.path_param("sku")).model_dump())
