"""GET /products/{product_id}: one product with its variants, for anyone."""

from shop.catalog.models import Product, ProductId
from shop.catalog.service import get_product
from shop.errors import ProductNotFound
from shop.http import PUBLIC_CACHE, ApiRequest, ApiResponse, api_handler


@api_handler(
    "catalog",
    path={"product_id": ProductId},
    responses={200: Product},
    errors=[ProductNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    product = get_product(request.path_param("product_id"))
    return ApiResponse(200, product.model_dump(), {"Cache-Control": PUBLIC_CACHE})
