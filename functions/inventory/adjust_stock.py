"""POST /admin/inventory/{sku}/adjustments {"warehouse_id", "delta", "reason"}: needs an
Idempotency-Key, since a repeated adjustment would move stock twice."""

from shop.catalog.models import Sku
from shop.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    RequestInProgress,
    SkuNotStocked,
)
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import once_per_key
from shop.inventory.models import AdjustStock, StockLevels
from shop.inventory.service import adjust_stock


@api_handler(
    "inventory",
    body=AdjustStock,
    path={"sku": Sku},
    responses={200: StockLevels},
    errors=[Forbidden, SkuNotStocked, InsufficientStock, RequestInProgress, IdempotencyKeyReused],
    idempotency="required",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    change = request.json_body(AdjustStock)
    sku = request.path_param("sku")

    def adjust() -> ApiResponse:
        levels = adjust_stock(sku, change.warehouse_id, change.delta, change.reason)
        return ApiResponse(200, StockLevels(levels=levels).model_dump())

    return once_per_key(request, caller, f"adjust_stock:{sku}", adjust, required=True)
