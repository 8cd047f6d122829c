"""GET /products/{product_id}: one product with its variants, for anyone."""

from shop.catalog.models import Product, ProductId
from shop.catalog.service import get_product
from shop.errors import ProductNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "catalog",
    path={"product_id": ProductId},
    responses={200: Product},
    errors=[ProductNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, get_product(request.path_param("product_id")).model_dump())
