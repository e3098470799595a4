"""The OpenAPI 3.1 description of the HTTP interface, served at /openapi.json: generated from the routes.

Every route is declared beside its handler as a `Documented` Starlette route carrying its OpenAPI operation
(summary, parameters, responses); the paths come from those routes and the redirect's operation, and the
schemas from the body types the service encodes (locator.web.bodies). One source: the router dispatches the
same routes the document describes. tests/test_openapi.py keeps it true (real answers validate against the
schemas; every status the service gives is documented) and schemathesis fuzzes the service from it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from locator import __version__
from locator.web.bodies import BODIES


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(name)}}}


TEXT = {"text/plain": {"schema": {"type": "string"}}}
ERRORS = {
    "400": json_answer("Error", "Bad input: the error code names the parameter's problem."),
    "403": json_answer("Error", "ip_override_disabled: `ip=` is turned off here (LOCATOR_ALLOW_IP_OVERRIDE)."),
    "404": json_answer("Error", "no_namespace: `path` is in no listed namespace and LOCATOR_UNLISTED_PATHS=refuse."),
    "405": json_answer("Error", "Method not allowed (the Allow header lists the methods)."),
}
NO_STORE = {
    "Cache-Control": {"description": "Always `no-store`: the answer depends on who asks.", "schema": {"type": "string"}}
}
# Answers any route may get before it runs (locator/web/observe.py and locator/web/connections.py).
EVERY_ROUTE = {
    "400": json_answer("Error", "invalid_path: the path holds control characters (any route)."),
    "408": {"description": "head_timeout: the request head took longer than LOCATOR_HEAD_TIMEOUT_S; closed."},
    "431": json_answer("Error", "header_too_large: the request head is larger than LOCATOR_MAX_HEAD_BYTES."),
}


Handler = Callable[[Scope], Awaitable[Response]]


class Answering:
    """A handler (scope -> response) as the route's ASGI app. Starlette would wrap a function in a Request and
    a second layer of exception handling, each request; the app's own layer answers every error already."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(scope)
        await response(scope, receive, send)


class Documented(Route):
    """A GET route with its OpenAPI operation beside it (`operation`: summary, parameters, responses)."""

    def __init__(self, path: str, handler: Handler, operation: dict[str, Any]) -> None:
        super().__init__(path, Answering(handler), methods=["GET"])
        self.operation = operation


def openapi_path(route: str) -> str:
    """Starlette's `{rest:path}` is OpenAPI's `{rest}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route)


def template_prefix(route: str) -> str:
    """A pattern for the paths a templated route takes: `/cvmfs/{repo}/api/{rest:path}` -> `cvmfs/[^/]+/api/`."""
    fixed = route.lstrip("/").split("{rest:path}")[0]
    return "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", fixed))


def redirect_path(routes: Iterable[str]) -> dict[str, str]:
    """What a redirect path may hold: not empty and not one of the service's own routes (those answer
    themselves), no control characters, and no leading '/' or '\\' (which would make `<endpoint>/<path>`
    name another host)."""
    own = "|".join(re.escape(route.lstrip("/")) for route in routes if route != "/" and "{" not in route)
    prefixes = "|".join(template_prefix(route) for route in routes if "{" in route)
    return {
        "type": "string",
        "pattern": f"^(?!(?:{own})$)(?!(?:{prefixes}))(?![/\\\\])[^\\x00-\\x1f\\x7f]+$",
    }


def index(routes: Sequence[Documented], redirect: dict[str, Any]) -> dict[str, str]:
    """The index page's list: every route's summary, then the redirect's."""
    return {route.path: route.operation["summary"] for route in routes} | {"/<path>": redirect["summary"]}


def document(routes: Sequence[Documented], redirect: dict[str, Any]) -> dict[str, Any]:
    """The whole document: the routes' operations, then the catch-all redirect's (its path pattern excluding the
    routes' own paths), every answer any route may get, and the bodies' schemas."""
    operations = {route.path: route.operation for route in routes}
    path, *others = redirect["parameters"]
    catch_all = {**redirect, "parameters": [{**path, "schema": redirect_path(operations)}, *others]}
    paths = {
        openapi_path(path): {"get": {**operation, "responses": EVERY_ROUTE | operation["responses"]}}
        for path, operation in {**operations, "/{path}": catch_all}.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OSDF cache locator",
            "version": __version__,
            "description": "Finds the OSDF data caches nearest to a client, from CDN edge headers, local GeoIP "
            "or the receiving data centre; answers with an ordered list or a 307 redirect.",
        },
        "paths": paths,
        "components": {"schemas": schemas()},
    }


def schemas() -> dict[str, Any]:
    """JSON Schemas of every body, generated from the types in locator.web.bodies."""
    _, components = msgspec.json.schema_components(BODIES, ref_template="#/components/schemas/{name}")
    return components
