"""PUT /admin/inventory/{sku} {"warehouse_id", "quantity", "shards"?}: count a warehouse's stock."""

from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.models import SetStock
from shop.inventory.service import set_stock


@api_handler("inventory")
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
    return ApiResponse(200, {"levels": [level.model_dump() for level in levels]})
