"""GET /admin/reservations?expiring_before=&cursor=&limit=: held reservations, soonest first."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shop.errors import BadRequest, Forbidden
from shop.http import ApiRequest, ApiResponse, api_handler
from shop.inventory.models import ReservationPage
from shop.inventory.service import held_reservations


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    expiring_before: Annotated[int, Field(ge=0)] | None = None
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


@api_handler(
    "inventory", query=Query, responses={200: ReservationPage}, errors=[Forbidden, BadRequest]
)
def handler(request: ApiRequest) -> ApiResponse:
    request.admin()
    query = request.query_params(Query)
    page = held_reservations(
        expiring_before=query.expiring_before, limit=query.limit, cursor=query.cursor
    )
    return ApiResponse(200, page.model_dump())
