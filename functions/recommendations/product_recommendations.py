"""GET /products/{product_id}/recommendations?limit=: products bought with this one, for
anyone; never the product itself, never one archived or sold out."""

from shop.catalog.models import ProductId
from shop.errors import BadRequest, ProductNotFound
from shop.http import PUBLIC_CACHE, ApiRequest, ApiResponse, api_handler
from shop.recommendations.models import Recommendations, RecommendationsQuery
from shop.recommendations.service import bought_together


@api_handler(
    "recommendations",
    path={"product_id": ProductId},
    query=RecommendationsQuery,
    responses={200: Recommendations},
    errors=[BadRequest, ProductNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    query = request.query_params(RecommendationsQuery)
    found = bought_together(request.path_param("product_id"), query.limit)
    # The same for every shopper. Briefly cacheable: a product archived or sold out leaves the
    # list within the service's own 10 s, and a cache adds its max-age to that.
    return ApiResponse(200, found.model_dump(), {"Cache-Control": PUBLIC_CACHE})
