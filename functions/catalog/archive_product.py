"""DELETE /admin/products/{product_id}: archive (never erase: orders still point at it)."""

from shop.catalog.models import Product, ProductId
from shop.catalog.service import archive_product
from shop.errors import Forbidden, ProductConflict, ProductNotFound
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "catalog",
    path={"product_id": ProductId},
    responses={200: Product},
    errors=[Forbidden, ProductNotFound, ProductConflict],
)
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    product = archive_product(
        request.path_param("product_id"), correlation_id=request.correlation_id
    )
    return ApiResponse(200, product.model_dump())
