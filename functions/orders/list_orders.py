"""GET /orders?cursor=&limit=: the caller's orders, newest first."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop.errors import BadRequest, CursorMismatch
from shop.fulfillment.service import with_statuses
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.orders.models import OrderPage
from shop.orders.service import list_orders


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@api_handler("orders", query=Query, responses={200: OrderPage}, errors=[BadRequest, CursorMismatch])
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    query = request.query_params(Query)
    orders, cursor = list_orders(caller.user_id, query.cursor, query.limit)
    page = OrderPage(items=with_statuses(orders), cursor=cursor)
    return ApiResponse(200, page.model_dump())
