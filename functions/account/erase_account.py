"""DELETE /account (Idempotency-Key required): erase the signed-in shopper's account. Their cart
and recommendation history are deleted, their orders and checkouts kept for the books without
their address, their notifications without their name, and their user deleted from the user
pool. Refused with 409 while a checkout is in progress or an order is on its way."""

from shop.account.models import AccountErased
from shop.account.service import erase
from shop.errors import ErasureBlocked, IdempotencyKeyReused, RequestInProgress
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import once_per_key


@api_handler(
    "account",
    responses={200: AccountErased},
    errors=[ErasureBlocked, RequestInProgress, IdempotencyKeyReused],
    idempotency="required",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()

    def forget() -> ApiResponse:
        return ApiResponse(200, erase(caller.user_id).model_dump())

    return once_per_key(request, caller, "erase_account", forget, required=True)
