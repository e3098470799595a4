"""The HTTP service: request -> edge context -> location cascade -> ranking -> response.

Each request takes the snapshot in service once (`self.store.current`) and decides everything from it;
reloads and health rounds swap snapshots meanwhile. The file watcher and the prober come from locator.sources,
handed in by locator.service: this package imports none of the data sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import msgspec
from cachetools import LRUCache
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from locator import __version__
from locator.core.decide import Decision, decide
from locator.core.edge import READ_HEADERS, EdgeContext, edge_headers, read_edge
from locator.core.federation import Federation, SnapshotStore
from locator.core.locate import Location
from locator.core.lookups import Resolution
from locator.core.namespaces import Namespace
from locator.core.rank import sticky_window
from locator.settings import Settings
from locator.web import metalink
from locator.web.bodies import (
    Alive,
    FileState,
    GeoIPState,
    HealthSummary,
    Index,
    Ready,
    cache_list,
    encode,
    nearest,
    nearest_text,
    ranked_caches,
    worker_caches,
)
from locator.web.bodies import Error as ErrorBody
from locator.web.errors import Forbidden, LocatorError, NotFound, ServiceUnavailable, Unauthorized
from locator.web.geoapi import MAX_SERVERS, GeoAPI, WireAnswer, bad_request, names_to_resolve, parse
from locator.web.logs import AccessLog
from locator.web.metrics import DataCollector, Metrics
from locator.web.observe import Observer
from locator.web.openapi import ROUTES, index, openapi
from locator.web.query import NearestQuery, parse_query_string
from locator.web.redirect import MAX_LINKS, checked_path, encoded_path, object_urls, redirect_headers

log = logging.getLogger(__name__)

NO_QUERY = NearestQuery()
NO_STORE = {"cache-control": "no-store"}  # answers depend on who asks: no shared cache may keep them
# What an entry costs besides its rendered bytes and the edge headers of its key: the key's other values, the
# location and the tuples holding them (measured in tests/test_decide.py).
MEMO_ENTRY_BYTES = 2048


class WatchedFile(Protocol):
    @property
    def path(self) -> Path | None: ...

    @property
    def loaded_at(self) -> float: ...

    @property
    def error(self) -> str | None: ...


class FileWatcher(Protocol):
    """Reloads the data files that changed (locator.sources.reload.Reloader)."""

    @property
    def files(self) -> Mapping[str, WatchedFile]: ...

    def errors(self) -> dict[str, str | None]: ...

    def check(self, force: bool = False) -> tuple[list[str], list[str]]: ...  # (reloaded, failed)


class Prober(Protocol):
    """Probes the caches' health in rounds, forever (locator.sources.prober.Prober)."""

    async def run(self) -> None: ...


class Resolver(Protocol):
    """Host names to addresses, bounded in time and memory (locator.sources.resolver.Resolver)."""

    async def resolve(self, names: Iterable[str]) -> Resolution: ...

    async def close(self) -> None: ...


def answer_bytes(answer: Answer) -> int:
    return answer.size


class JSONBody(Response):
    media_type = "application/json"


class Answer(NamedTuple):
    """What the memo keeps of a decision: where the client is, the rendered ranking, the first cache's name,
    the client's network, and for a client without a position the sticky window its order belongs to."""

    location: Location
    body: bytes
    first: str | None
    network: str
    window: int | None
    size: int = 0  # bytes it holds in the memo, with its key


def render_caches(decision: Decision) -> bytes:
    return encode(ranked_caches(decision))


def render_text(decision: Decision) -> bytes:
    return nearest_text(decision).encode()


def render_links(decision: Decision) -> bytes:
    return "\n".join(cache.endpoint for cache, _ in decision).encode()


def wire_response(answer: WireAnswer) -> Response:
    headers = {"cache-control": answer.cache_control} if answer.cache_control else None
    return PlainTextResponse(answer.body, status_code=answer.status, headers=headers)


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The one error shape: {"error": code, "detail": text}."""
    return JSONBody(encode(ErrorBody(code, detail)), status_code=status, headers=headers)


class LocatorApp:
    """Routes and handlers over the snapshot store, with the one memo of rendered answers."""

    def __init__(
        self, settings: Settings, store: SnapshotStore, reloader: FileWatcher, prober: Prober, resolver: Resolver
    ) -> None:
        self.settings = settings
        self.store = store
        self.reloader = reloader
        self.prober = prober
        self.resolver = resolver
        self.metrics = Metrics(DataCollector(lambda: self.store.current, reloader.errors, self.memo_stats))
        self.access_log = AccessLog(settings.log_format) if settings.access_log else None
        self.spec = openapi()
        # Answers by everything they depend on (locator.core.decide.decision_key), bounded in bytes: a site's jobs come
        # from a few addresses through the same edge, and a repeat then costs neither the cascade, the ranking
        # nor the rendering.
        self.memo: LRUCache[tuple[object, ...], Answer] | None = None
        if settings.memo_mb > 0:
            self.memo = LRUCache(int(settings.memo_mb * 1_000_000), getsizeof=answer_bytes)
        self.memo_version = -1

    def memo_stats(self) -> tuple[int, int, int]:
        memo = self.memo
        return (0, 0, 0) if memo is None else (len(memo), int(memo.currsize), int(memo.maxsize))

    def answer(
        self,
        federation: Federation,
        request: Request,
        query: NearestQuery,
        namespace: Namespace | None,
        n: int | None,
        kind: str,
        render: Callable[[Decision], bytes],
    ) -> Answer:
        """Decide and render (`kind` names the rendering), or take the answer from the memo when a request with
        the same inputs came before; counted and logged either way.

        The memo's key is what an answer depends on, as the request brought it: the peer address and the edge
        headers as received, the query's values, the caches the namespace allows, n, and the snapshot. A hit
        skips the edge headers' parsing, the cascade, the ranking and the rendering. An unlocated client's
        order also depends on its sticky window, which is checked on a hit.
        """
        self.allowed(query)
        scope = request.scope
        now = time.time()
        memo = self.memo
        key = None
        found: Answer | None = None
        if memo is not None:
            if self.memo_version != federation.version:  # a new snapshot: every entry is stale
                memo.clear()
                self.memo_version = federation.version
            peer = scope.get("client")
            edge = tuple((name.lower(), value) for name, value in scope["headers"] if name.lower() in READ_HEADERS)
            eligible = namespace.path if namespace is not None and namespace.listed else None
            key = (kind, peer[0] if peer else None, edge, query.declared, query.ip, query.colo, eligible, n)
            found = memo.get(key)
            if found is not None and found.window is not None:
                if found.window != sticky_window(found.network, now, federation.spread.sticky_s):
                    found = None  # its window has passed: a new order
        if found is None:
            context = self.context(request, query)
            decision = decide(federation, context, query.declared, namespace, n, now)
            first = decision.first
            unlocated = decision.location.coordinate is None
            window = sticky_window(decision.network, now, federation.spread.sticky_s) if unlocated else None
            name = None if first is None else first.name
            found = Answer(decision.location, render(decision), name, decision.network, window)
            if key is not None:
                size = len(found.body) + sum(len(name) + len(value) for name, value in edge) + MEMO_ENTRY_BYTES
                with contextlib.suppress(ValueError):  # larger than the whole memo: serve it, keep nothing
                    memo[key] = found._replace(size=size)  # type: ignore[index]
        self.observed(request, found.network, namespace, found.location, found.first)
        return found

    def observed(
        self, request: Request, network: str, namespace: Namespace | None, location: Location, first: str | None
    ) -> None:
        """Count the decision, give the access log its facts; 503 when no cache at all may serve the request."""
        self.metrics.observe_decision(location)
        facts = request.scope.get("locator")
        if facts is not None and self.access_log is not None:
            facts["method"] = location.method.value
            facts["cache"] = first
            facts["client_network"] = network
            if namespace is not None:
                facts["namespace"] = namespace.path
        if first is None:  # every cache that may serve it is out of service
            served = "public data" if namespace is None else namespace.path or "public data"
            raise ServiceUnavailable(f"no cache in service may serve {served}", "no_cache_available")

    def allowed(self, query: NearestQuery) -> None:
        if query.ip is not None and not self.settings.allow_ip_override:
            raise Forbidden(
                "the ip= test override is disabled here (LOCATOR_ALLOW_IP_OVERRIDE)", "ip_override_disabled"
            )

    def context(self, request: Request, query: NearestQuery) -> EdgeContext:
        scope = request.scope
        peer = scope.get("client")
        edge = read_edge(edge_headers(scope["headers"]), peer[0] if peer else None, self.settings.trusted_proxies)
        return edge.with_query(query.ip, query.colo)

    def namespace(self, federation: Federation, path: str | None) -> Namespace | None:
        """The namespace of a path; 404 no_namespace for a path in none when LOCATOR_UNLISTED_PATHS=refuse."""
        if path is None:
            return None
        namespace = federation.namespaces.resolve(path)
        if not namespace.listed and self.settings.unlisted_paths == "refuse":
            raise NotFound(f"{path} is in no listed namespace (LOCATOR_UNLISTED_PATHS=refuse)", "no_namespace")
        return namespace

    @staticmethod
    def query(request: Request) -> NearestQuery:
        return parse_query_string(request.scope["query_string"])

    async def nearest(self, request: Request) -> Response:
        federation = self.store.current  # the one snapshot this request reads
        query = self.query(request)
        namespace = self.namespace(federation, query.path)
        if query.format == "text":
            text = self.answer(federation, request, query, namespace, query.n, "text", render_text)
            return PlainTextResponse(text.body, headers=NO_STORE)
        if query.path is not None and (
            query.format == "metalink" or (query.format is None and metalink.wanted(request.scope["headers"]))
        ):  # a Metalink describes one object: without a path, the answer is the JSON one
            path = encoded_path(query.path)
            return self.metalink(federation, request, query, namespace, query.path, path, raw_query="")
        answer = self.answer(federation, request, query, namespace, query.n, "json", render_caches)
        return JSONBody(nearest(answer.location, namespace, msgspec.Raw(answer.body)), headers=NO_STORE)

    async def geo_cvmfs(self, request: Request) -> Response:
        params = request.path_params
        return await self.geo(request, f"/{params['repo']}/{params['rest']}")

    async def geo_wpad(self, request: Request) -> Response:
        return await self.geo(request, "//" + request.path_params["rest"])

    async def geo(self, request: Request, path_info: str) -> Response:
        """The CVMFS geo API (locator.web.geoapi): the legacy wire format, this locator's cascade."""
        federation = self.store.current
        parsed = parse(path_info)
        if isinstance(parsed, WireAnswer):
            return wire_response(parsed)
        caching, servers = parsed
        if len(servers) > MAX_SERVERS:
            return wire_response(bad_request(f"more than {MAX_SERVERS} servers"))
        readable = self.settings.allow_ip_override  # the caching string names an address to locate, as ?ip= does
        resolved = await self.resolver.resolve(names_to_resolve(caching if readable else None, servers, federation))
        geo = GeoAPI(federation, resolved.addresses, resolved.late, readable)
        answer, location = geo.answer(caching, servers, self.context(request, NO_QUERY))
        self.metrics.observe_decision(location)
        facts = request.scope.get("locator")
        if facts is not None:
            facts["method"] = location.method.value
        return wire_response(answer)

    async def worker_caches(self, request: Request) -> Response:
        """The 2022 shape echoes the whole decision (the edge's report, every distance): decided afresh."""
        federation = self.store.current
        query = self.query(request)
        self.allowed(query)
        namespace = self.namespace(federation, query.path)
        context = self.context(request, query)
        decision = decide(federation, context, query.declared, namespace, query.n, time.time())
        first = decision.first
        name = None if first is None else first.name
        self.observed(request, decision.network, namespace, decision.location, name)
        return JSONBody(encode(worker_caches(decision)), headers=NO_STORE)

    async def caches(self, request: Request) -> Response:
        return JSONBody(encode(cache_list(self.store.current)))

    async def healthz(self, request: Request) -> Response:
        return JSONBody(encode(Alive("ok")), headers=NO_STORE)

    async def readyz(self, request: Request) -> Response:
        federation = self.store.current
        sources = federation.sources
        geoip = None if sources.geoip is None else sources.geoip.info
        view = federation.health
        files = {
            name: FileState(None if state.path is None else str(state.path), state.loaded_at, state.error)
            for name, state in self.reloader.files.items()
        }
        failing = any(state.error for state in files.values())
        degraded = list(federation.degraded)
        if not len(federation.candidates(None)):
            degraded.append(
                "caches: no cache in service is open to public data: a request outside the listed namespaces gets 503"
            )
        body = Ready(
            "degraded" if degraded or failing or view.distrusted else "ready",
            int(federation.rankable.sum()),
            len(federation.namespaces),
            len(sources.overrides),
            None if geoip is None else GeoIPState(geoip.path, geoip.database_type, geoip.built, geoip.licence),
            0 if sources.airports is None else len(sources.airports),
            degraded,
            HealthSummary(view.probing, self.settings.health_interval_s, view.distrusted, view.reason, view.counts()),
            files,
            federation.loaded_at,
            federation.version,
        )
        return JSONBody(encode(body), headers=NO_STORE)

    async def metrics_page(self, request: Request) -> Response:
        token = self.settings.metrics_token
        if token:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, ("Bearer " + str(token)).encode()):
                raise Unauthorized(
                    "/metrics needs Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
                )
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type, headers=NO_STORE)

    async def openapi_page(self, request: Request) -> Response:
        return JSONBody(encode(self.spec))

    async def index(self, request: Request) -> Response:
        return JSONBody(encode(Index("OSDF cache locator", __version__, index())))

    async def redirect(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every path without a route of its own: 307 to the nearest eligible cache, keeping path and query.

        Installed as the router's default rather than a `/{path:path}` route, whose pattern would not
        match a path with an (encoded) newline and so could not reject it with a 400.
        """
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
        path, cleaned = checked_path(raw_path)
        federation = self.store.current
        namespace = self.namespace(federation, cleaned)
        raw_query = scope["query_string"].decode("latin-1")
        if metalink.wanted(scope["headers"]):  # davix and gfal2 failing over
            response = self.metalink(federation, request, NO_QUERY, namespace, scope["path"], path, raw_query)
            await response(scope, receive, send)
            return
        answer = self.answer(federation, request, NO_QUERY, namespace, MAX_LINKS, "links", render_links)
        headers = redirect_headers(answer.body.decode().split("\n"), path, cleaned, raw_query, namespace)
        self.metrics.count(self.metrics.redirects)
        await Response(status_code=307, headers=headers)(scope, receive, send)

    def metalink(
        self,
        federation: Federation,
        request: Request,
        query: NearestQuery,
        namespace: Namespace | None,
        decoded_path: str,
        object_path: str,
        raw_query: str,
    ) -> Response:
        """Every cache that may serve the object, nearest first, as a Metalink document."""
        answer = self.answer(federation, request, query, namespace, query.n, "links", render_links)
        urls = object_urls(answer.body.decode().split("\n"), object_path, raw_query)
        body = metalink.document(urls, decoded_path, f"osdf-cache-locator/{__version__}")
        return Response(body, media_type=metalink.MEDIA_TYPE, headers={**NO_STORE, "vary": "Accept"})

    def routes(self) -> list[Route]:
        """From the one route table (locator.web.openapi.ROUTES): each route's operationId names its method."""
        return [
            Route(path, getattr(self, spec["get"]["operationId"]), methods=["GET"]) for path, spec in ROUTES.items()
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Watch the data files and probe the caches while serving; reload on SIGHUP. May run more than
        once (test clients do). The snapshot stays open after shutdown: a process that exits frees it."""
        tasks: set[asyncio.Task[Any]] = set()

        def reload_now() -> None:
            task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.check_files, True))
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
        if self.settings.health_interval_s:
            watchers.append(loop.create_task(self.prober.run()))
        try:
            yield
        finally:
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await self.resolver.close()
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

    def check_files(self, force: bool = False) -> tuple[list[str], list[str]]:
        """Reload what changed, and count it; (reloaded, failed) as the watcher says."""
        reloaded, failed = self.reloader.check(force)
        for name in reloaded:
            self.metrics.reloads.labels(name).inc()
        for name in failed:
            self.metrics.reload_failures.labels(name).inc()
        return reloaded, failed

    async def watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.check_files)
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


# Every error, ours or Starlette's or a bug, answered in the one shape.
EXCEPTION_HANDLERS: dict[Any, Any] = {
    LocatorError: locator_error,
    HTTPException: http_error,
    Exception: internal_error,
}


def starlette_app(locator: LocatorApp) -> Starlette:
    """The Starlette application around the handlers: routes, the observer, the error shapes."""
    app = Starlette(
        routes=locator.routes(),
        middleware=[Middleware(Observer, metrics=locator.metrics, access_log=locator.access_log)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=locator.lifespan,
    )
    app.router.default = locator.redirect
    # Starlette would answer `/nearest/` with a 307 to `/nearest` on the host named by the request's Host
    # header: a redirect an attacker can aim anywhere. Every 307 here must point at a configured cache.
    app.router.redirect_slashes = False
    app.state.locator = locator
    return app
