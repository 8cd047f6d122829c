"""POST /admin/flash-sales (admin; Idempotency-Key): set a SKU's units aside for a sale. 201
with the sale; 409 OUT_OF_STOCK (and nothing set aside) when its stock cannot cover them, 422
when the catalog has no such SKU or no longer sells it."""

from shop.errors import Forbidden, IdempotencyKeyReused, OutOfStock, SkuUnavailable, UnknownSku
from shop.flash_sales.models import FlashSaleView, NewFlashSale
from shop.flash_sales.service import create_sale
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import idempotency_key


@api_handler(
    "flash_sales",
    body=NewFlashSale,
    responses={201: FlashSaleView},
    errors=[Forbidden, OutOfStock, IdempotencyKeyReused, UnknownSku, SkuUnavailable],
    idempotency="optional",
)
def handler(request: ApiRequest) -> ApiResponse:
    admin = request.admin()
    draft = request.json_body(NewFlashSale)
    sale = create_sale(draft, admin.user_id, idempotency_key(request, required=False))
    return ApiResponse(201, sale.model_dump(), {"Location": f"/flash-sales/{sale.sale_id}"})
