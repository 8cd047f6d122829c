"""POST /admin/shipments/{shipment_id}/ship {"carrier"?}: buy the carrier's label and hand the
parcel over; the answer carries `carrier` and `tracking_number`."""

from shop.errors import (
    CarrierNotFound,
    DependencyUnavailable,
    Forbidden,
    ShipmentNotFound,
    ShipmentStateConflict,
)
from shop.fulfillment.models import Shipment, ShipmentId, ShipRequest
from shop.fulfillment.service import ship
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "fulfillment",
    body=ShipRequest,
    path={"shipment_id": ShipmentId},
    responses={200: Shipment},
    errors=[
        Forbidden,
        ShipmentNotFound,
        ShipmentStateConflict,
        CarrierNotFound,
        DependencyUnavailable,
    ],
)
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    body = request.json_body(ShipRequest) if request.body_bytes().strip() else ShipRequest()
    shipment = ship(request.path_param("shipment_id"), body.carrier)
    return ApiResponse(200, shipment.model_dump())
