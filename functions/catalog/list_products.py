"""GET /products?category=&cursor=&limit=: browse active products, a page at a time."""

from shop.catalog.models import ListProductsQuery, ProductPage
from shop.catalog.service import list_products
from shop.errors import BadRequest
from shop.http import PUBLIC_CACHE, ApiRequest, ApiResponse, api_handler


@api_handler("catalog", query=ListProductsQuery, responses={200: ProductPage}, errors=[BadRequest])
def handler(request: ApiRequest) -> ApiResponse:
    page = list_products(request.query_params(ListProductsQuery))
    return ApiResponse(200, page.model_dump(), {"Cache-Control": PUBLIC_CACHE})
