"""PUT /admin/inventory/{sku} {"warehouse_id", "quantity", "shards"?}: count a warehouse's stock."""

from shop.catalog.models import Sku
from shop.errors import BelowReserved, Forbidden, ShardsInUse
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.models import SetStock, StockLevels
from shop.inventory.service import set_stock


@api_handler(
    "inventory",
    body=SetStock,
    path={"sku": Sku},
    responses={200: StockLevels},
    errors=[Forbidden, BelowReserved, ShardsInUse],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    change = request.json_body(SetStock)
    levels = set_stock(
        request.path_param("sku"),
        change.warehouse_id,
        change.quantity,
        shards=change.shards,
        reference=f"set by {caller.user_id}",
    )
    return ApiResponse(200, StockLevels(levels=levels).model_dump())
