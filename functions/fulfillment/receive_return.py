"""POST /admin/returns/{return_id}/receive: the returned units arrived; they are restocked
and refunded (by the refund state machine). 202 with the return."""

from shop.errors import Forbidden, ReturnNotFound, ReturnStateConflict
from shop.fulfillment.models import Return, ReturnId
from shop.fulfillment.service import receive_return
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "fulfillment",
    path={"return_id": ReturnId},
    responses={202: Return},
    errors=[Forbidden, ReturnNotFound, ReturnStateConflict],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    received = receive_return(
        request.path_param("return_id"), caller.user_id, request.correlation_id
    )
    return ApiResponse(202, received.model_dump())
