"""`GET /` (what this service offers) and `GET /openapi.json` (its interface, described), both made once from the
routes when the app is assembled (locator.web.app)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from locator import __version__
from locator.web.bodies import Index, encode
from locator.web.openapi import Documented, json_answer
from locator.web.state import Shared

JSON = "application/json"


async def index(request: Request) -> Response:
    shared: Shared = request.app.state.shared
    return Response(encode(Index("OSDF cache locator", __version__, shared.index)), media_type=JSON)


async def openapi_page(request: Request) -> Response:
    shared: Shared = request.app.state.shared
    return Response(encode(shared.spec), media_type=JSON)


ROUTES = [
    Documented(
        "/",
        index,
        {
            "operationId": "index",
            "summary": "What this service offers",
            "responses": {"200": json_answer("Index", "Endpoints.")},
        },
    ),
    Documented(
        "/openapi.json",
        openapi_page,
        {
            "operationId": "openapi_page",
            "summary": "This interface, described",
            "responses": {"200": {"description": "OpenAPI 3.1."}},
        },
    ),
]
