"""GET /admin/reservations?expiring_before=&cursor=&limit=: held reservations, soonest first."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.service import held_reservations
from shop.pagination import decode_cursor, encode_cursor

_KEYS = frozenset({"pk", "sk", "held", "expires_at"})


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    expiring_before: Annotated[int, Field(ge=0)] | None = None
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


@api_handler("inventory")
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    query = request.query_params(Query)
    start = decode_cursor(query.cursor, expected_keys=_KEYS)
    found, last = held_reservations(
        expiring_before=query.expiring_before,
        limit=query.limit,
        cursor={k: ({"N": v} if k == "expires_at" else {"S": v}) for k, v in start.items()}
        if start
        else None,
    )
    cursor = encode_cursor({k: next(iter(v.values())) for k, v in last.items()} if last else None)
    return ApiResponse(200, {"items": [r.model_dump() for r in found], "cursor": cursor})
