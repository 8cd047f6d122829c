"""GET /flash-sales/{sale_id} (anyone): the sale's terms and standing, a second old at most."""

from shop.errors import FlashSaleNotFound
from shop.flash_sales.models import FlashSaleView, SaleId
from shop.flash_sales.service import STATUS_CACHE_CONTROL, get_sale
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "flash_sales",
    path={"sale_id": SaleId},
    responses={200: FlashSaleView},
    errors=[FlashSaleNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    sale = get_sale(request.path_param("sale_id"))
    return ApiResponse(200, sale.model_dump(), {"Cache-Control": STATUS_CACHE_CONTROL})
