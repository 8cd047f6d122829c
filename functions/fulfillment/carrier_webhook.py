"""POST /carriers/{carrier}/webhook: a carrier's signed tracking update (the signature is the
authentication). Duplicates and stale updates are acknowledged and change nothing."""

from shop.errors import CarrierNotFound, InvalidWebhook, PayloadTooLarge, ShipmentNotFound
from shop.fulfillment.models import CarrierName, TrackingOutcome
from shop.fulfillment.service import apply_tracking, carrier
from shop.http import ApiRequest, ApiResponse, Header, api_handler


# Its body is the carrier's, read raw (the signature covers the bytes).
@api_handler(
    "fulfillment",
    path={"carrier": CarrierName},
    headers=[
        Header("Carrier-Signature", "the carrier's signature of the body: the authentication")
    ],
    responses={200: TrackingOutcome},
    errors=[InvalidWebhook, PayloadTooLarge, CarrierNotFound, ShipmentNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    name = request.path_param("carrier")
    update = carrier(name).parse_webhook(request.body_bytes(), request.headers)
    return ApiResponse(200, apply_tracking(name, update).model_dump())
