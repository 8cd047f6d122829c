"""GET /account/export: everything the shop holds about the signed-in shopper, in one answer."""

from shop.account.models import AccountExport
from shop.account.service import export
from shop.http import PERSONAL_CACHE, ApiRequest, ApiResponse, api_handler


@api_handler("account", responses={200: AccountExport})
def handler(request: ApiRequest) -> ApiResponse:
    caller = request.caller()
    data = export(caller.user_id, request.claims())
    return ApiResponse(200, data.model_dump(), {"Cache-Control": PERSONAL_CACHE})
