"""POST /flash-sales/{sale_id}/entries {"quantity"} (signed in; Idempotency-Key optional: a
shopper has one ticket per sale, so every repeat finds it): 202 with the ticket, at once."""

from shop.errors import FlashSaleNotFound, QuantityLimit, SaleNotOpen
from shop.flash_sales.models import EnterFlashSale, EntryAccepted, SaleId
from shop.flash_sales.service import enter
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "flash_sales",
    body=EnterFlashSale,
    path={"sale_id": SaleId},
    responses={202: EntryAccepted},
    errors=[FlashSaleNotFound, SaleNotOpen, QuantityLimit],
    idempotency="optional",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    sale_id = request.path_param("sale_id")
    body = request.json_body(EnterFlashSale) if request.body_bytes().strip() else EnterFlashSale()
    accepted = enter(sale_id, caller.user_id, body.quantity, request.correlation_id)
    return ApiResponse(
        202,
        accepted.model_dump(),
        {"Location": f"/flash-sales/{sale_id}/entries/{accepted.ticket_id}"},
    )
