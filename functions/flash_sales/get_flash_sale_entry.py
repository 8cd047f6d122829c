"""GET /flash-sales/{sale_id}/entries/{ticket_id} (its owner): QUEUED, WON (until
hold_expires_at), LOST or EXPIRED."""

from shop.errors import TicketNotFound
from shop.flash_sales.models import SaleId, TicketId, TicketView
from shop.flash_sales.service import get_ticket, ticket_view
from shop.http import ApiRequest, ApiResponse, api_handler


@api_handler(
    "flash_sales",
    path={"sale_id": SaleId, "ticket_id": TicketId},
    responses={200: TicketView},
    errors=[TicketNotFound],
)
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    ticket = get_ticket(
        request.path_param("sale_id"), request.path_param("ticket_id"), caller.user_id
    )
    return ApiResponse(200, ticket_view(ticket).model_dump(), {"Cache-Control": "no-store"})
