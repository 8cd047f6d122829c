"""POST /payments/webhook: Stripe's signed events (the signature is the authentication)."""

from shop.errors import InvalidWebhook, PayloadTooLarge
from shop.http import ApiRequest, ApiResponse, Header, api_handler
from shop.payments.models import WebhookOutcome
from shop.payments.service import handle_webhook


# Its body is Stripe's, read raw (the signature covers the bytes): openapi.overlay.yaml shows it.
@api_handler(
    "payments",
    headers=[Header("Stripe-Signature", "Stripe's signature of the body: the authentication")],
    responses={200: WebhookOutcome},
    errors=[InvalidWebhook, PayloadTooLarge],
)
def handler(request: ApiRequest) -> ApiResponse:
    result = handle_webhook(request.body_bytes(), request.header("Stripe-Signature") or "")
    return ApiResponse(200, WebhookOutcome.model_validate(result).model_dump(exclude_none=True))
