"""`GET /` (what this service offers) and `GET /openapi.json` (its interface, described), both made once from the
routes when the app is assembled (locator.web.app)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from locator import __version__
from locator.web.bodies import JSON, Index, Raw, encode
from locator.web.openapi import Documented, json_answer
from locator.web.state import Shared


async def index(scope: Scope) -> Response:
    shared: Shared = scope["app"].state.shared
    return Raw(encode(Index("OSDF cache locator", __version__, shared.index)), JSON)


async def openapi_page(scope: Scope) -> Response:
    shared: Shared = scope["app"].state.shared
    return Raw(encode(shared.spec), JSON)


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
