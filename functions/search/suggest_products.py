"""GET /search/suggest?q=: product names completing what the shopper is typing."""

from shop.http import DEGRADED_CACHE, PUBLIC_CACHE, ApiRequest, ApiResponse, api_handler
from shop.search.models import Suggestions, SuggestQuery
from shop.search.service import suggest


@api_handler("search", query=SuggestQuery, responses={200: Suggestions})
def handler(request: ApiRequest) -> ApiResponse:
    found = suggest(request.query_params(SuggestQuery))
    cache = DEGRADED_CACHE if found.degraded else PUBLIC_CACHE
    return ApiResponse(200, found.model_dump(), {"Cache-Control": cache})
