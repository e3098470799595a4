"""`GET /nearest` (the caches nearest to the caller, as JSON, text or a Metalink) and `GET /_caches` (the same
decision in the 2022 Cloudflare Worker's shape)."""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Scope

from locator import __version__
from locator.core.decide import decide
from locator.core.edge import edge_headers, read_edge
from locator.web import metalink
from locator.web.bodies import JSON, NO_STORE, TEXT, Raw, encode, endpoints, nearest_json, nearest_text, worker_caches
from locator.web.memo import Answer
from locator.web.openapi import ERRORS, Documented, json_answer, ref
from locator.web.openapi import NO_STORE as NO_STORE_SPEC
from locator.web.query import COORDINATE_SPEC, PARAMETER_SPECS, read_ask
from locator.web.redirect import encoded_path, object_urls
from locator.web.state import Shared

VARY = (b"vary", b"Accept")


async def nearest(scope: Scope) -> Response:
    """Ask, decide through the memo, answer in the format asked for."""
    shared: Shared = scope["app"].state.shared
    federation = shared.store.current  # the one snapshot this request reads
    ask = read_ask(scope, federation, shared.settings)
    query = ask.query
    wants_metalink = query.format == "metalink" or (query.format is None and metalink.wanted(scope["headers"]))
    if query.path is not None and wants_metalink:  # a Metalink describes one object: without a path, JSON
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(scope, links, ask.namespace)
        urls = object_urls(links.rendered, encoded_path(query.path), "")
        body = metalink.document(urls, query.path, f"osdf-cache-locator/{__version__}")
        return Raw(body, metalink.CONTENT_TYPE, NO_STORE, VARY)
    text = query.format == "text"
    answer = shared.memo.answer(federation, ask, "text" if text else "json", nearest_text if text else nearest_json)
    shared.decided(scope, answer, ask.namespace)
    return Raw(answer.rendered, TEXT if text else JSON, NO_STORE)


async def caches_2022(scope: Scope) -> Response:
    """The 2022 shape echoes the whole decision (the edge's report, every distance): decided afresh."""
    shared: Shared = scope["app"].state.shared
    federation = shared.store.current
    ask = read_ask(scope, federation, shared.settings)
    query = ask.query
    context = read_edge(edge_headers(ask.edge), ask.peer, ask.trusted).with_query(query.ip, query.colo)
    decision = decide(federation, context, query.declared, ask.namespace, query.n, time.time())
    first = decision.first
    answer = Answer(decision.location, b"", None if first is None else first.name, decision.network, None, None)
    shared.decided(scope, answer, ask.namespace)
    return Raw(encode(worker_caches(decision)), JSON, NO_STORE)


ROUTES = [
    Documented(
        "/nearest",
        nearest,
        {
            "operationId": "nearest",
            "summary": "The caches nearest to the caller, nearest first (lat, lon, ip, colo, n, format, path)",
            "parameters": [*PARAMETER_SPECS, COORDINATE_SPEC],
            "responses": {
                "200": {
                    "description": "The decision and the ordered caches: JSON; one endpoint per line for "
                    "`format=text`; a Metalink 4 document (RFC 5854) of the object's URLs for `format=metalink`, "
                    "or with a `path` and `Accept: application/metalink4+xml`.",
                    "headers": NO_STORE_SPEC,
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
            "parameters": [*PARAMETER_SPECS, COORDINATE_SPEC],
            "responses": {
                "200": json_answer("WorkerCaches", "Worker-compatible answer."),
                **ERRORS,
                "503": json_answer("Error", "no_cache_available: no cache in service may serve the namespace."),
            },
        },
    ),
]
