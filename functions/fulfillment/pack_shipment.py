"""POST /admin/shipments/{shipment_id}/pack: the warehouse picked and packed it."""

from shop.errors import Forbidden, ShipmentNotFound, ShipmentStateConflict
from shop.fulfillment.models import Shipment, ShipmentId
from shop.fulfillment.service import pack
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "fulfillment",
    path={"shipment_id": ShipmentId},
    responses={200: Shipment},
    errors=[Forbidden, ShipmentNotFound, ShipmentStateConflict],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    shipment = pack(request.path_param("shipment_id"), caller.user_id)
    return ApiResponse(200, shipment.model_dump())
