"""GET /recommendations?limit=: the signed-in shopper's own recommendations (always `limit`
items): what they buy again, what goes with their history and their session, popular ones.
While the store of histories is unavailable: the bestsellers, `"degraded": true`."""

from shop.errors import BadRequest
from shop.http import PERSONAL_CACHE, ApiRequest, ApiResponse, api_handler
from shop.recommendations.models import Recommendations, RecommendationsQuery
from shop.recommendations.service import for_shopper


@api_handler(
    "recommendations",
    query=RecommendationsQuery,
    responses={200: Recommendations},
    errors=[BadRequest],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    found = for_shopper(caller.user_id, request.query_params(RecommendationsQuery).limit)
    return ApiResponse(200, found.model_dump(), {"Cache-Control": PERSONAL_CACHE})
