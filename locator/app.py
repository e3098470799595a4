"""The HTTP service: request -> edge context -> location cascade -> ranking -> response.

The only module of the service that imports Starlette; everything it answers is decided by locator.decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from locator import __version__
from locator.addresses import client_network
from locator.decide import Decision, decide
from locator.edge import EdgeContext, edge_headers, read_edge
from locator.errors import Forbidden, LocatorError, ServiceUnavailable, Unauthorized
from locator.logs import AccessLog
from locator.metrics import DataCollector, Metrics
from locator.observe import Observer
from locator.openapi import openapi
from locator.query import NearestQuery, parse_query_string
from locator.redirect import MAX_LINKS, redirect_headers
from locator.reload import Reloader
from locator.resources import Resources, load_resources
from locator.settings import Settings
from locator.views import caches_body, nearest_text, render_nearest, worker_body

log = logging.getLogger(__name__)

NO_STORE = {"cache-control": "no-store"}  # answers depend on who asks: no shared cache may keep them


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape: {"error": code, "detail": text}."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


class LocatorApp:
    """Routes and handlers over the current Resources, which a reload may replace at any time."""

    def __init__(self, settings: Settings, resources: Resources) -> None:
        self.settings = settings
        self.resources = resources
        self.metrics = Metrics(DataCollector(lambda: self.resources, lambda: self.reloader.errors()))
        self.reloader = Reloader(settings, lambda: self.resources, self.install, self.metrics)
        self.access_log = AccessLog(settings.log_format) if settings.access_log else None
        self.spec = openapi()

    def install(self, resources: Resources) -> None:
        self.resources = resources  # one assignment: a request keeps the resources it started with

    def context(self, request: Request, query: NearestQuery) -> EdgeContext:
        if query.ip is not None and not self.settings.allow_ip_override:
            raise Forbidden(
                "the ip= test override is disabled here (LOCATOR_ALLOW_IP_OVERRIDE)", "ip_override_disabled"
            )
        scope = request.scope
        peer = scope.get("client")
        edge = read_edge(edge_headers(scope["headers"]), peer[0] if peer else None, self.settings.trusted_proxies)
        return edge.with_query(query.ip, query.colo)

    def decide(self, request: Request, query: NearestQuery, n: int | None = None) -> Decision:
        context = self.context(request, query)
        decision = decide(self.resources, context, query.declared, query.n if n is None else n)
        self.metrics.observe_decision(decision.location)
        facts = request.scope.get("locator")
        if facts is not None and self.access_log is not None:
            first = decision.first
            facts["method"] = decision.location.method.value
            facts["cache"] = None if first is None else first.name
            facts["client_network"] = client_network(context.client_ip)
        return decision

    @staticmethod
    def query(request: Request) -> NearestQuery:
        return parse_query_string(request.scope["query_string"])

    async def nearest(self, request: Request) -> Response:
        query = self.query(request)
        decision = self.decide(request, query)
        if query.format == "text":
            return PlainTextResponse(nearest_text(decision), headers=NO_STORE)
        return Response(render_nearest(decision), media_type="application/json", headers=NO_STORE)

    async def worker_caches(self, request: Request) -> Response:
        query = self.query(request)
        return JSONResponse(worker_body(self.decide(request, query)), headers=NO_STORE)

    async def caches(self, request: Request) -> Response:
        return JSONResponse(caches_body(self.resources.caches))

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def readyz(self, request: Request) -> Response:
        resources = self.resources
        sources = resources.sources
        files = {name: state.report() for name, state in self.reloader.files.items()}
        failing = any(report["error"] for report in files.values())
        return JSONResponse(
            {
                "status": "degraded" if resources.degraded or failing else "ready",
                "caches_in_service": len(resources.caches),
                "overrides": len(sources.overrides),
                "geoip": sources.geoip is not None,
                "airports": 0 if sources.airports is None else len(sources.airports),
                "degraded": resources.degraded,
                "reload": files,
                "loaded_at": resources.loaded_at,
            },
            headers=NO_STORE,
        )

    async def metrics_page(self, request: Request) -> Response:
        token = self.settings.metrics_token
        if token:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, ("Bearer " + token.reveal()).encode()):
                raise Unauthorized(
                    "/metrics needs Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
                )
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type, headers=NO_STORE)

    async def openapi_page(self, request: Request) -> Response:
        return JSONResponse(self.spec)

    async def index(self, request: Request) -> Response:
        return JSONResponse(
            {
                "service": "OSDF cache locator",
                "version": __version__,
                "endpoints": {
                    "/nearest": "ordered caches for the caller (lat, lon, ip, colo, n, format=json|text)",
                    "/_caches": "the 2022 Cloudflare Worker's response shape",
                    "/caches": "the configured caches",
                    "/healthz": "liveness",
                    "/readyz": "readiness, degraded modes and reload state",
                    "/metrics": "Prometheus metrics",
                    "/openapi.json": "this interface, described",
                    "/<path>": "307 redirect to <nearest cache>/<path>",
                },
            }
        )

    async def redirect(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every path without a route of its own: 307 to the nearest cache, keeping path and query.

        Installed as the router's default rather than a `/{path:path}` route, whose pattern would not
        match a path with an (encoded) newline and so could not reject it with a 400.
        """
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        decision = self.decide(request, NearestQuery(), n=MAX_LINKS)  # the Location and Link caches only
        if not decision.caches:
            raise ServiceUnavailable("no cache is in service", "no_cache_available")
        headers = redirect_headers(decision.caches, raw_path.decode("latin-1"), scope["query_string"].decode("latin-1"))
        self.metrics.count(self.metrics.redirects)
        await Response(status_code=307, headers=headers)(scope, receive, send)

    def routes(self) -> list[Route]:
        return [
            Route("/nearest", self.nearest, methods=["GET"]),  # first: the router tries routes in order
            Route("/", self.index, methods=["GET"]),
            Route("/_caches", self.worker_caches, methods=["GET"]),
            Route("/caches", self.caches, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_page, methods=["GET"]),
            Route("/openapi.json", self.openapi_page, methods=["GET"]),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Watch the data files while serving; reload on SIGHUP. May run more than once (test clients do).

        The resources stay open after shutdown: they belong to the app, and a process that exits frees them.
        """
        tasks: set[asyncio.Task[Any]] = set()

        def reload_now() -> None:
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.reloader.check, True))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, reload_now)
        except (RuntimeError, ValueError):  # not the main thread (a test client): no signals to catch
            log.debug("SIGHUP reload not available in this thread")
        watchers = [loop.create_task(self.flush_buffers())]
        if self.settings.reload_interval_s:
            watchers.append(loop.create_task(self.watch(self.settings.reload_interval_s)))
        try:
            yield
        finally:
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            self.metrics.flush()
            if self.access_log is not None:
                self.access_log.flush()
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)

    async def flush_buffers(self) -> None:
        """Write the buffered access-log lines and counts twice a second."""
        while True:
            await asyncio.sleep(0.5)
            self.metrics.flush()
            if self.access_log is not None:
                self.access_log.flush()

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.reloader.check)
            except Exception:  # a bug in a reload must not stop the watching
                log.exception("checking the data files failed")


async def locator_error(request: Request, exc: LocatorError) -> Response:
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "unexpected error; it has been logged")


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> Starlette:
    """Build the app; loads the data now (so a broken file fails here, with its message) unless given."""
    settings = Settings.from_env() if settings is None else settings
    resources = load_resources(settings) if resources is None else resources
    locator = LocatorApp(settings, resources)
    handlers: dict[Any, Any] = {
        LocatorError: locator_error,
        HTTPException: http_error,
        Exception: internal_error,
    }
    app = Starlette(
        routes=locator.routes(),
        middleware=[Middleware(Observer, metrics=locator.metrics, access_log=locator.access_log)],
        exception_handlers=handlers,
        lifespan=locator.lifespan,
    )
    app.router.default = locator.redirect
    # Starlette would answer `/nearest/` with a 307 to `/nearest` on the host named by the request's Host
    # header: a redirect an attacker can aim anywhere. Every 307 here must point at a configured cache.
    app.router.redirect_slashes = False
    app.state.locator = locator
    return app
