"""`GET /caches` (every configured cache, its health, and why it is or is not ranked), `/healthz` (liveness) and
`/readyz` (readiness: degraded parts, the GeoIP database, the prober, the reloads)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from locator.web.bodies import (
    JSON,
    NO_STORE,
    Alive,
    FileState,
    GeoIPState,
    HealthSummary,
    Raw,
    Ready,
    cache_list,
    encode,
)
from locator.web.openapi import Documented, json_answer
from locator.web.state import Shared

NO_PUBLIC_CACHE = "caches: no cache in service is open to public data: a request outside the listed namespaces gets 503"


async def caches(scope: Scope) -> Response:
    shared: Shared = scope["app"].state.shared
    return Raw(encode(cache_list(shared.store.current)), JSON)


async def healthz(scope: Scope) -> Response:
    return Raw(encode(Alive("ok")), JSON, NO_STORE)


async def readyz(scope: Scope) -> Response:
    shared: Shared = scope["app"].state.shared
    federation = shared.store.current
    sources = federation.sources
    geoip = None if sources.geoip is None else sources.geoip.info
    view = federation.health
    files = {
        name: FileState(None if state.path is None else str(state.path), state.loaded_at, state.error)
        for name, state in shared.reloader.files.items()
    }
    degraded = list(federation.degraded)
    unknown = federation.caches.unknown_columns
    if unknown:
        degraded.append(
            f"caches: the file's column(s) {', '.join(unknown)} mean nothing here and are ignored (a typo?)"
        )
    if shared.load_feed is not None and federation.load.stale:
        degraded.append("load: stale (no report from LOCATOR_LOAD_URL in three intervals): ranking by distance alone")
    if not len(federation.candidates(None)):
        degraded.append(NO_PUBLIC_CACHE)
    failing = any(state.error for state in files.values())
    body = Ready(
        "degraded" if degraded or failing or view.distrusted else "ready",
        int(federation.rankable.sum()),
        len(federation.namespaces),
        len(sources.overrides),
        None if geoip is None else GeoIPState(geoip.path, geoip.database_type, geoip.built, geoip.licence),
        0 if sources.airports is None else len(sources.airports),
        degraded,
        HealthSummary(view.probing, shared.settings.health_interval_s, view.distrusted, view.reason, view.counts()),
        files,
        federation.loaded_at,
        federation.version,
    )
    return Raw(encode(body), JSON, NO_STORE)


ROUTES = [
    Documented(
        "/caches",
        caches,
        {
            "operationId": "caches",
            "summary": "The configured caches, their health, and why each is or is not ranked",
            "responses": {"200": json_answer("CacheList", "Caches.")},
        },
    ),
    Documented(
        "/healthz",
        healthz,
        {"operationId": "healthz", "summary": "Liveness", "responses": {"200": json_answer("Alive", "Alive.")}},
    ),
    Documented(
        "/readyz",
        readyz,
        {
            "operationId": "readyz",
            "summary": "Readiness, degraded modes, the GeoIP database, health prober and reload state",
            "responses": {"200": json_answer("Ready", "Serving.")},
        },
    ),
]
