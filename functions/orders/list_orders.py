"""GET /orders?cursor=&limit=: the caller's orders, newest first."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop.http import ApiRequest, ApiResponse, api_handler
from shop.orders.service import list_orders


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


@api_handler("orders")
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    query = request.query_params(Query)
    orders, cursor = list_orders(caller.user_id, query.cursor, query.limit)
    return ApiResponse(200, {"items": [o.model_dump() for o in orders], "cursor": cursor})
