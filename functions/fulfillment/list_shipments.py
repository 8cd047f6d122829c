"""GET /admin/shipments?warehouse_id=&status=&cursor=&limit=: a warehouse's work list."""

from shop.errors import BadRequest, CursorMismatch, Forbidden
from shop.fulfillment.models import ShipmentPage, ShipmentQuery
from shop.fulfillment.service import warehouse_shipments
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "fulfillment",
    query=ShipmentQuery,
    responses={200: ShipmentPage},
    errors=[Forbidden, BadRequest, CursorMismatch],
)
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    query = request.query_params(ShipmentQuery)
    items, cursor = warehouse_shipments(query.warehouse_id, query.status, query.cursor, query.limit)
    return ApiResponse(200, ShipmentPage(items=items, cursor=cursor).model_dump())
