"""POST /payments/webhook: Stripe's signed events (the signature is the authentication)."""

from shop.http import ApiRequest, ApiResponse, api_handler
from shop.payments.service import handle_webhook


@api_handler("payments")
def handler(request: ApiRequest) -> ApiResponse:
    result = handle_webhook(request.body_bytes(), request.header("Stripe-Signature") or "")
    return ApiResponse(200, result)
