"""PUT /admin/products/{product_id}: an administrator replaces a product's fields."""

from shop.catalog.models import Product, ProductId, ProductUpdate
from shop.catalog.service import update_product
from shop.errors import Forbidden, ProductConflict, ProductNotFound, SkuTaken, VersionConflict
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "catalog",
    body=ProductUpdate,
    path={"product_id": ProductId},
    responses={200: Product},
    errors=[Forbidden, ProductNotFound, VersionConflict, ProductConflict, SkuTaken],
)
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    update = request.json_body(ProductUpdate)
    product = update_product(
        request.path_param("product_id"), update, correlation_id=request.correlation_id
    )
    return ApiResponse(200, product.model_dump())
