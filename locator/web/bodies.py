"""The response bodies, declared once as types: the service encodes them and /openapi.json is generated
from them (locator.web.openapi), so the description is the code's own. Built from a Decision or a snapshot."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import numpy as np
from msgspec import Meta
from starlette.responses import Response

from locator.core.caches import Cache
from locator.core.decide import Decision
from locator.core.edge import EdgeReport
from locator.core.federation import Federation
from locator.core.health import CacheHealth, State
from locator.core.locate import Method
from locator.core.namespaces import Namespace
from locator.core.rank import REASONS

Reason = Literal["nearest", "spread", "distance", "degraded", "no_position", "unlocated", "load"]


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """Every body: its schema allows no other properties than those declared."""


class Error(Body):
    """Every error answer: a machine-readable code and a sentence for people."""

    error: str
    detail: str


class Client(Body):
    ip: str | None
    latitude: float | None
    longitude: float | None
    city: str | None
    country: str | None
    colo: str | None
    accuracy_km: float | None


class NamespaceInfo(Body):
    """The namespace the answer is for: `listed` false means public data (path: its own prefix, or null)."""

    path: str | None
    require_token: bool
    listed: bool


class RankedCache(Body):
    name: str
    endpoint: str
    latitude: float | None
    longitude: float | None
    distance_km: Annotated[float | None, Meta(description="null when unknown: no position, or a client without one")]
    weight: Annotated[float, Meta(description="capacity relative to co-located caches (LOCATOR_SPREAD_KM)")]
    health: State
    reason: Annotated[
        Reason,
        Meta(
            description="why it is in this place: nearest; spread (within LOCATOR_SPREAD_KM of the nearest, placed "
            "by the weighted rendezvous hash of the client network); distance; degraded (failing health probes); "
            "no_position; unlocated (client without a position: weighted rendezvous of its network); load (above "
            "its load threshold, this cache sheds this client to the caches with room within LOCATOR_LOAD_DETOUR_KM)"
        ),
    ]
    load: Annotated[float | None, Meta(description="the latest ioLoad the load feed reported; null without one")]


class RankedOrigin(Body):
    """An origin exporting the path asked about: where direct reads (`?directread`) and listings go."""

    name: str
    endpoint: str
    latitude: float | None
    longitude: float | None
    distance_km: Annotated[float | None, Meta(description="null when unknown: no position, or a client without one")]
    reason: Reason


class Nearest(Body):
    method: Method
    client: Client
    skipped: Annotated[dict[str, str], Meta(description="each location source tried before the one used, and why")]
    edge: EdgeReport | None
    namespace: Annotated[NamespaceInfo | None, Meta(description="null: no path given, so public data")]
    caches: list[RankedCache]
    origins: Annotated[
        list[RankedOrigin],
        Meta(description="the origins exporting the path, nearest first (none without a path, or none exports it)"),
    ]


class WorkerCaches(Body):
    """The 2022 Cloudflare Worker's /_caches shape, for its job scripts."""

    city: str | None
    latitude: str | None
    longitude: str | None
    postalCode: str | None  # noqa: N815 - the worker's own names
    region: str | None
    AITA: str | None  # noqa: N815
    caches: Annotated[
        list[Annotated[list[str | float | None], Meta(min_length=2, max_length=2)]],
        Meta(description="[host:port, km] nearest first; km null when unknown, 0 in a random order"),
    ]
    matched: str


class Health(Body):
    state: State
    score: float
    probes: int
    last: str
    checked_at: float | None


class CacheEntry(Body):
    name: str
    endpoint: str
    latitude: float | None
    longitude: float | None
    status: Literal["up", "down", "disabled"]
    downtime: bool
    weight: float
    namespaces: list[str]
    public: bool
    site: str
    in_service: Annotated[bool, Meta(description="ranked at all: up, no downtime, health not failed")]
    health: Health
    reason: Annotated[str, Meta(description="why it is, or is not, ranked, in words")]


class OriginEntry(Body):
    name: str
    endpoint: str
    latitude: float | None
    longitude: float | None
    status: Literal["up", "down", "disabled"]
    downtime: bool
    exports: Annotated[list[str], Meta(description="the namespace paths it exports")]
    site: str
    in_service: Annotated[bool, Meta(description="answered at all: up, no downtime")]


class CacheList(Body):
    count: int
    in_service: int
    caches: list[CacheEntry]
    origins: Annotated[list[OriginEntry], Meta(description="the origins of the caches file, apart from the caches")]


class Alive(Body):
    status: Literal["ok"]


class FileState(Body):
    path: str | None
    loaded_at: float
    error: str | None


class HealthSummary(Body):
    probing: bool
    interval_s: float
    distrusted: bool
    reason: str
    states: dict[str, int]


class GeoIPState(Body):
    path: str
    database_type: str
    built: str
    licence: str


class Ready(Body):
    status: Literal["ready", "degraded"]
    caches_in_service: int
    namespaces: int
    overrides: int
    geoip: GeoIPState | None  # the database in service, None without one
    airports: int
    degraded: list[str]
    health: HealthSummary
    reload: dict[str, FileState]
    loaded_at: float
    snapshot: int


class PelicanConfiguration(Body):
    """Federation discovery, as Pelican's clients read it: only what the locator has (no registry, no issuer
    keys)."""

    director_endpoint: Annotated[str, Meta(description="LOCATOR_PUBLIC_URL, else the URL the request came to")]


class Index(Body):
    service: str
    version: str
    endpoints: dict[str, str]


BODIES: tuple[type[msgspec.Struct], ...] = (
    Error,
    Nearest,
    WorkerCaches,
    CacheList,
    Alive,
    Ready,
    Index,
    PelicanConfiguration,
)

# What the 2022 worker said in `matched`, kept word for word for the methods it had.
WORKER_MATCHED = {
    Method.DECLARED: "Using lat/lon declared by the client",
    Method.OVERRIDE: "Using lat/lon from an operator override",
    Method.EDGE: "Using lat/log from GeoIP",
    Method.GEOIP: "Using lat/lon from the locator's GeoIP database",
    Method.COLO: "Using lat/log from Airport Code",
    Method.FALLBACK: "Using random shuffle of caches",
}

encode = msgspec.json.Encoder().encode

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
NO_STORE = (b"cache-control", b"no-store")  # answers that depend on who asks: no shared cache may keep them


class Raw(Response):
    """A response with its headers as they are sent. Starlette's own builds them from a dict, lower-casing and
    encoding each one, for every response; these are constants."""

    def __init__(
        self, body: bytes, content_type: bytes | None, *headers: tuple[bytes, bytes], status: int = 200
    ) -> None:
        self.body = body
        self.status_code = status
        self.background = None
        self.raw_headers = [(b"content-length", b"%d" % len(body)), *headers]
        if content_type is not None:
            self.raw_headers.insert(0, (b"content-type", content_type))


def _km(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _position(cache: Cache) -> tuple[float | None, float | None]:
    point = cache.coordinate
    return (None, None) if point is None else (point.latitude, point.longitude)


def namespace_info(namespace: Namespace | None) -> NamespaceInfo | None:
    return None if namespace is None else NamespaceInfo(namespace.path, namespace.require_token, namespace.listed)


def ranked_caches(decision: Decision) -> list[RankedCache]:
    """The ranked caches as bodies; built from the ranking's arrays (a 10,000-cache answer is common enough)."""
    federation, ranking = decision.federation, decision.ranking
    caches, states = federation.caches.caches, federation.states
    km = np.round(ranking.distances, 3).tolist()
    bodies = []
    for index, distance, reason in zip(ranking.indices.tolist(), km, ranking.reasons.tolist(), strict=True):
        cache = caches[index]
        point = cache.coordinate
        bodies.append(
            RankedCache(
                cache.name,
                cache.endpoint,
                None if point is None else point.latitude,
                None if point is None else point.longitude,
                None if distance != distance else distance,  # NaN: unknown
                cache.weight,
                states[index],
                REASONS[reason],  # type: ignore[arg-type]
                None if (report := federation.load.of(cache.name)) is None else report.io_load,
            )
        )
    return bodies


def nearest_json(decision: Decision) -> bytes:
    """The /nearest JSON of a decision."""
    where = decision.location
    point = where.coordinate
    body = Nearest(
        where.method,
        Client(
            where.client_ip,
            None if point is None else point.latitude,
            None if point is None else point.longitude,
            where.city,
            where.country,
            where.colo,
            where.accuracy_km,
        ),
        where.skipped,
        where.edge,
        namespace_info(decision.namespace),
        ranked_caches(decision),
        [
            RankedOrigin(origin.name, origin.endpoint, *_position(origin), _km(place.distance_km), place.reason)  # type: ignore[arg-type]
            for origin, place in decision.origins()
        ],
    )
    return encode(body)


def nearest_text(decision: Decision) -> bytes:
    """One endpoint per line, nearest first: `curl -s .../nearest?format=text | head -1` in a job script."""
    return "".join(f"{cache.endpoint}\n" for cache, _ in decision).encode()


def endpoints(decision: Decision) -> tuple[str, ...]:
    """The endpoints in order: what a redirect's headers and a Metalink are built from."""
    caches = decision.federation.caches.caches
    return tuple(caches[index].endpoint for index in decision.ranking.indices.tolist())


def origin_endpoints(decision: Decision) -> tuple[str, ...]:
    """The endpoints of the origins exporting the path, in order: what a redirect to an origin is built from."""
    return tuple(origin.endpoint for origin, _ in decision.origins())


def worker_caches(decision: Decision) -> WorkerCaches:
    """Like the worker's `request.cf` fields, city, latitude, longitude, postal code and region are what the
    edge reported (text), whether used or not; without an edge they describe the position used. Caches are
    `[host:port, km]` as the worker listed them; a random order has 0 km, as in the worker."""
    where = decision.location
    shuffled = where.method is Method.FALLBACK
    caches: list[list[str | float | None]] = [
        [cache.authority, 0.0 if shuffled else _km(place.distance_km)] for cache, place in decision
    ]
    edge = where.edge
    if edge is not None:
        place = (edge.city, edge.latitude, edge.longitude, edge.postal_code, edge.region)
    else:
        point = where.coordinate
        lat, lon = (None, None) if point is None else (str(point.latitude), str(point.longitude))
        place = (where.city, lat, lon, None, None)
    return WorkerCaches(*place, where.colo, caches, WORKER_MATCHED[where.method])


def health_body(health: CacheHealth) -> Health:
    return Health(health.state, health.score, health.probes, health.last, health.checked_at)


def service_reason(federation: Federation, cache: Cache) -> str:
    """Why a cache is, or is not, ranked: the files first, then its health."""
    if cache.status != "up":
        return f"out of service: status {cache.status} in the caches file"
    if cache.downtime:
        return "out of service: in downtime (the federation's)"
    view = federation.health
    health = view.of(cache.name)
    if view.distrusted and health.state is not State.UNKNOWN:
        return f"ranked as healthy: the prober is distrusted ({health.state}: {health.last})"
    return {
        State.UNKNOWN: "ranked as healthy: not probed" + ("" if view.probing else " (probing is off)"),
        State.OK: f"healthy: {health.last}",
        State.DEGRADED: f"ranked after the healthy caches: probe score {health.score}, last {health.last}",
        State.FAILED: f"not ranked: probe score {health.score}, last {health.last}",
    }[health.state]


def cache_list(federation: Federation) -> CacheList:
    """Every configured cache in file order, with whether it is ranked and its health, and why."""
    view = federation.health
    entries = [
        CacheEntry(
            cache.name,
            cache.endpoint,
            *_position(cache),
            cache.status,  # type: ignore[arg-type]
            cache.downtime,
            cache.weight,
            sorted(cache.namespaces),
            cache.public,
            cache.site,
            bool(federation.rankable[index]),
            health_body(view.of(cache.name)),
            service_reason(federation, cache),
        )
        for index, cache in enumerate(federation.caches.caches)
    ]
    origins = [
        OriginEntry(
            origin.name,
            origin.endpoint,
            *_position(origin),
            origin.status,  # type: ignore[arg-type]
            origin.downtime,
            sorted(origin.namespaces),
            origin.site,
            origin.in_service,
        )
        for origin in federation.caches.origins
    ]
    return CacheList(len(entries), int(federation.rankable.sum()), entries, origins)
