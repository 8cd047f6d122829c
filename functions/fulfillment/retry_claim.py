"""POST /admin/claims/{claim_id}/retry: run a STALLED cancellation or return again, once its
cause is fixed; what its steps did before is not done twice. 202 with the claim."""

from shop.errors import ClaimStateConflict, Forbidden, ReturnNotFound
from shop.fulfillment.models import Claim, ClaimId
from shop.fulfillment.service import retry_claim
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "fulfillment",
    path={"claim_id": ClaimId},
    responses={202: Claim},
    errors=[Forbidden, ReturnNotFound, ClaimStateConflict],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    claim = retry_claim(request.path_param("claim_id"), caller.user_id, request.correlation_id)
    return ApiResponse(202, claim.model_dump())
