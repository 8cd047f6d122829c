"""GET /search?q=&category=&min_price=&max_price=&in_stock=&sort=&cursor=&limit=: products by
words (typos forgiven, the last word completed), filtered, with facets. Anyone may search; a
signed-in shopper's results lean toward what they buy, and are then never cached publicly.
While the engine is unavailable, the answer is degraded (`"degraded": true`) and not cached."""

from shop.errors import BadRequest
from shop.http import (
    DEGRADED_CACHE,
    PERSONAL_CACHE,
    PUBLIC_CACHE,
    ApiRequest,
    ApiResponse,
    api_handler,
)
from shop.identity import optional_shopper
from shop.search.models import SearchPage, SearchQuery
from shop.search.service import search_products


@api_handler("search", query=SearchQuery, responses={200: SearchPage}, errors=[BadRequest])
def handler(request: ApiRequest) -> ApiResponse:
    shopper = optional_shopper(request)
    page = search_products(request.query_params(SearchQuery), shopper)
    cache = DEGRADED_CACHE if page.degraded else PERSONAL_CACHE if shopper else PUBLIC_CACHE
    headers = {"Cache-Control": cache, "Vary": "Authorization"}
    return ApiResponse(200, page.model_dump(), headers)
