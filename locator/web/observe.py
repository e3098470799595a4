"""Per-request observation: a request id, one access-log line and the HTTP metrics.

A pure ASGI middleware (no response buffering): it times the request, tags the response with
`X-Request-ID` (the caller's, when it is a sane token, so that ids follow a request through proxies), and
after the response logs what the handler decided, which the handler leaves in `scope["locator"]`.

A made id is a random per-process prefix and a serial number: unique like a random id, without a
`getrandom` system call on every request (strace showed one per request, a tenth of the service's syscalls).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locator.core.namespaces import has_control
from locator.web.bodies import Error, encode
from locator.web.connections import oversized_head
from locator.web.logs import AccessLog
from locator.web.metrics import Metrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
DECISION = "decision"  # where a handler leaves its decision's Location among the request's facts (not logged)


def refusal(status: int, code: str, detail: str) -> ASGIApp:
    return Response(
        encode(Error(code, detail)),
        status_code=status,
        media_type="application/json",
        headers={"connection": "close"} if status == 431 else None,
    )


def refused(scope: Scope) -> ASGIApp | None:
    """What no route may see: a head too large (one that arrived whole; an incomplete one never gets here),
    or a path with control characters, which would match a route's `$` before a trailing newline."""
    too_big = oversized_head(scope)
    if too_big is not None:
        return refusal(431, "header_too_large", too_big)
    if has_control(scope["path"]):
        return refusal(400, "invalid_path", "the path contains control characters such as CR or LF")
    return None


class RouteLabels:
    """Bounded labels: a route's own path (its template), or `redirect` for every other path."""

    def __init__(self, routes: Sequence[str]) -> None:
        self.fixed = frozenset(route for route in routes if "{" not in route)
        self.templated = [(compile_path(route)[0], route) for route in routes if "{" in route]

    def __call__(self, path: str) -> str:
        if path in self.fixed:
            return path
        return next((route for pattern, route in self.templated if pattern.match(path)), "redirect")


class Observer:
    def __init__(self, app: ASGIApp, routes: Sequence[str], metrics: Metrics, access_log: AccessLog | None) -> None:
        self.app = app
        self.route_of = RouteLabels(routes)
        self.metrics = metrics
        self.access_log = access_log
        self.id_prefix = os.urandom(5).hex()  # per process: each worker builds its own app
        self.serial = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if REQUEST_ID.match(given) else f"{self.id_prefix}-{next(self.serial):x}"
        # The access log's line, filled in as the request goes (the handler adds its decision).
        facts: dict[str, Any] = {"request_id": request_id}
        scope["locator"] = facts
        status = 500

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        app = refused(scope) or self.app
        try:
            await app(scope, receive, tagged)
        finally:
            elapsed = time.perf_counter() - started
            route = self.route_of(scope["path"])
            self.metrics.observed(route, status, elapsed, facts.pop(DECISION, None))
            if self.access_log is not None:
                facts.update(
                    http_method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
                self.access_log.write(facts)
