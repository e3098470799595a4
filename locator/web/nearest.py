"""`GET /nearest` (the caches nearest to the caller, as JSON, text or a Metalink) and `GET /_caches` (the same
decision in the 2022 Cloudflare Worker's shape)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from locator import __version__
from locator.core.decide import decide
from locator.core.edge import edge_headers, read_edge
from locator.web import metalink
from locator.web.bodies import encode, endpoints, nearest_json, nearest_text, worker_caches
from locator.web.memo import Answer
from locator.web.openapi import ERRORS, NO_STORE, Documented, json_answer, ref
from locator.web.query import PARAMETER_SPECS, parse_query_string, read_ask
from locator.web.redirect import encoded_path, object_urls
from locator.web.state import Shared

NO_STORE_HEADERS = {"cache-control": "no-store"}  # answers depend on who asks: no shared cache may keep them
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


async def nearest(request: Request) -> Response:
    """Ask, decide through the memo, answer in the format asked for."""
    shared: Shared = request.app.state.shared
    federation = shared.store.current  # the one snapshot this request reads
    query = parse_query_string(request.scope["query_string"])
    ask = read_ask(request.scope, query, query.path, federation, shared.settings)
    wants_metalink = query.format == "metalink" or (query.format is None and metalink.wanted(request.scope["headers"]))
    if query.path is not None and wants_metalink:  # a Metalink describes one object: without a path, JSON
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(request.scope, links, ask.namespace)
        urls = object_urls(links.rendered, encoded_path(query.path), "")
        body = metalink.document(urls, query.path, f"osdf-cache-locator/{__version__}")
        return Response(body, media_type=metalink.MEDIA_TYPE, headers={**NO_STORE_HEADERS, "vary": "Accept"})
    text = query.format == "text"
    answer = shared.memo.answer(federation, ask, "text" if text else "json", nearest_text if text else nearest_json)
    shared.decided(request.scope, answer, ask.namespace)
    return Response(answer.rendered, media_type=TEXT if text else JSON, headers=NO_STORE_HEADERS)


async def caches_2022(request: Request) -> Response:
    """The 2022 shape echoes the whole decision (the edge's report, every distance): decided afresh."""
    shared: Shared = request.app.state.shared
    federation = shared.store.current
    query = parse_query_string(request.scope["query_string"])
    ask = read_ask(request.scope, query, query.path, federation, shared.settings)
    context = read_edge(edge_headers(ask.edge), ask.peer, ask.trusted).with_query(query.ip, query.colo)
    decision = decide(federation, context, query.declared, ask.namespace, query.n, time.time())
    first = decision.first
    answer = Answer(decision.location, b"", None if first is None else first.name, decision.network, None)
    shared.decided(request.scope, answer, ask.namespace)
    return Response(encode(worker_caches(decision)), media_type=JSON, headers=NO_STORE_HEADERS)


ROUTES = [
    Documented(
        "/nearest",
        nearest,
        {
            "operationId": "nearest",
            "summary": "The caches nearest to the caller, nearest first (lat, lon, ip, colo, n, format, path)",
            "parameters": PARAMETER_SPECS,
            "responses": {
                "200": {
                    "description": "The decision and the ordered caches: JSON; one endpoint per line for "
                    "`format=text`; a Metalink 4 document (RFC 5854) of the object's URLs for `format=metalink`, "
                    "or with a `path` and `Accept: application/metalink4+xml`.",
                    "headers": NO_STORE,
                    "content": {
                        "application/json": {"schema": ref("Nearest")},
                        "text/plain": {"schema": {"type": "string"}},
                        metalink.MEDIA_TYPE: {"schema": {"type": "string"}},
                    },
                },
                **ERRORS,
                "503": json_answer("Error", "no_cache_available: no cache in service may serve the namespace."),
            },
        },
    ),
    Documented(
        "/_caches",
        caches_2022,
        {
            "operationId": "worker_caches",
            "summary": "The same decision in the 2022 Cloudflare Worker's shape",
            "parameters": PARAMETER_SPECS,
            "responses": {
                "200": json_answer("WorkerCaches", "Worker-compatible answer."),
                **ERRORS,
                "503": json_answer("Error", "no_cache_available: no cache in service may serve the namespace."),
            },
        },
    ),
]
