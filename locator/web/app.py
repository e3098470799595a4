"""The HTTP service assembled: the route families (each module declares its routes beside its handlers), the
redirect for every other path, the request observer, one error shape, the lifespan.

A request flows one way: uvicorn (locator.web.connections bounds its head) -> the observer (request id, metrics,
access log) -> the route's handler, which reads the request into an ask (locator.web.query), decides through the
memo (locator.web.memo, the core beneath it), renders (locator.web.bodies) and answers. Each request takes the
snapshot in service once (`store.current`); reloads and health rounds swap snapshots meanwhile. This package
imports none of the data sources: locator.service hands them in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette import routing
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Lifespan, Receive, Scope, Send

from locator.web import director, geoapi, index, metrics, nearest, redirect, status
from locator.web.bodies import Error, encode
from locator.web.errors import LocatorError
from locator.web.lifespan import lifespan
from locator.web.observe import Observer
from locator.web.openapi import Documented, document
from locator.web.openapi import index as index_of
from locator.web.state import Shared

log = logging.getLogger(__name__)

# The service's own routes, in the order the router tries them (the busiest first); every other path is a
# redirect (the router's default).
ROUTES = [*nearest.ROUTES, *director.ROUTES, *geoapi.ROUTES, *status.ROUTES, *metrics.ROUTES, *index.ROUTES]


def error_response(status_code: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The one error shape: {"error": code, "detail": text}."""
    return Response(
        encode(Error(code, detail)), status_code=status_code, media_type="application/json", headers=headers
    )


async def locator_error(request: Request, exc: LocatorError) -> Response:
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "unexpected error; it has been logged")


# Every error, ours or Starlette's or a bug, answered in the one shape.
EXCEPTION_HANDLERS: dict[Any, Any] = {
    LocatorError: locator_error,
    HTTPException: http_error,
    Exception: internal_error,
}


class Router(routing.Router):
    """Starlette's router, which tries each route's pattern in turn before its default: a path that is no
    route's fixed path and starts no templated one's prefix goes straight to the default (the redirect, most
    of the traffic, would otherwise pay for ten pattern matches)."""

    def __init__(self, routes: Sequence[Documented], lifespan: Lifespan[Starlette]) -> None:
        super().__init__(routes=list(routes), lifespan=lifespan, redirect_slashes=False, default=redirect.redirect)
        self.fixed = frozenset(route.path for route in routes if "{" not in route.path)
        self.prefixes = tuple({route.path.split("{", 1)[0] for route in routes if "{" in route.path})

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.fixed and not scope["path"].startswith(self.prefixes):
            await self.default(scope, receive, send)
        else:
            await super().app(scope, receive, send)


def starlette_app(shared: Shared) -> Starlette:
    shared.spec = document(ROUTES, redirect.OPERATION)
    shared.index = index_of(ROUTES, redirect.OPERATION)
    app = Starlette(
        middleware=[
            Middleware(
                Observer,
                routes=[route.path for route in ROUTES],
                metrics=shared.metrics,
                access_log=shared.access_log,
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    # Every other path is a redirect. Starlette would answer `/nearest/` with a 307 to `/nearest` on the host
    # named by the request's Host header (redirect_slashes): a redirect an attacker can aim anywhere; every 307
    # here points at a configured cache.
    app.router = Router(ROUTES, lifespan(shared))
    app.state.shared = shared
    return app
