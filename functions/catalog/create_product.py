"""POST /admin/products: an administrator adds a product (honours Idempotency-Key)."""

from shop.catalog.models import NewProduct, Product
from shop.catalog.service import create_product
from shop.errors import (
    Forbidden,
    IdempotencyKeyReused,
    ProductConflict,
    RequestInProgress,
    SkuTaken,
)
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.idempotency import once_per_key


@api_handler(
    "catalog",
    body=NewProduct,
    responses={201: Product},
    errors=[Forbidden, ProductConflict, SkuTaken, RequestInProgress, IdempotencyKeyReused],
    idempotency="optional",
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.admin()
    draft = request.json_body(NewProduct)

    def create() -> ApiResponse:
        product = create_product(draft, correlation_id=request.correlation_id)
        return ApiResponse(201, product.model_dump())

    return once_per_key(request, caller, "create_product", create)
