"""The response bodies: plain data built from a Decision, shared by the HTTP API and the CLI."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import orjson

from locator.caches import Cache, CacheSet
from locator.decide import Decision
from locator.locate import Method

# What the 2022 worker said in `matched`, kept word for word for the methods it had.
WORKER_MATCHED = {
    Method.DECLARED: "Using lat/lon declared by the client",
    Method.OVERRIDE: "Using lat/lon from an operator override",
    Method.EDGE: "Using lat/log from GeoIP",
    Method.GEOIP: "Using lat/lon from the locator's GeoIP database",
    Method.COLO: "Using lat/log from Airport Code",
    Method.FALLBACK: "Using random shuffle of caches",
}


def _km(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def cache_position(cache: Cache) -> dict[str, float | None]:
    if cache.coordinate is None:
        return {"latitude": None, "longitude": None}
    return {"latitude": cache.coordinate.latitude, "longitude": cache.coordinate.longitude}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@functools.lru_cache(maxsize=8)
def cache_fragments(caches: CacheSet) -> tuple[str, ...]:
    """Each cache's entry in /nearest up to its distance, rendered once per cache list: per request only
    the distances are new (rendering whole dicts cost more than the decision itself)."""
    return tuple(
        f'{{"name":{_json(c.name)},"endpoint":{_json(c.endpoint)},'
        f'"latitude":{_json(cache_position(c)["latitude"])},"longitude":{_json(cache_position(c)["longitude"])},'
        '"distance_km":'
        for c in caches.in_service
    )


def render_nearest(decision: Decision) -> bytes:
    """The `/nearest` JSON: method, client, skipped sources, the edge's report and the ordered caches."""
    where = decision.location
    head = orjson.dumps(
        {
            "method": str(where.method),
            "client": {
                "ip": where.client_ip,
                "latitude": None if where.coordinate is None else where.coordinate.latitude,
                "longitude": None if where.coordinate is None else where.coordinate.longitude,
                "city": where.city,
                "country": where.country,
                "colo": where.colo,
                "accuracy_km": where.accuracy_km,
            },
            "skipped": where.skipped,
            "edge": None if where.edge is None else where.edge._asdict(),
        }
    )
    listed = _caches_json(decision.caches_in_service, decision.order.tobytes(), decision.distances.tobytes())
    return b"".join((head[:-1], b',"caches":', listed, b"}"))


@functools.lru_cache(maxsize=4096)
def _caches_json(caches: CacheSet, order: bytes, distances: bytes) -> bytes:
    """The ordered cache list as JSON; many clients get the very same list (same origin), so it is kept."""
    fragments = cache_fragments(caches)
    entries = [
        f"{fragments[index]}{'null' if km != km else repr(round(km, 3))}}}"
        for index, km in zip(
            np.frombuffer(order, dtype=np.intp).tolist(), np.frombuffer(distances).tolist(), strict=True
        )
    ]
    return f"[{','.join(entries)}]".encode()


def nearest_body(decision: Decision) -> dict[str, Any]:
    """`render_nearest` as data (for the CLI's --json)."""
    body: dict[str, Any] = json.loads(render_nearest(decision))
    return body


def nearest_text(decision: Decision) -> str:
    """One endpoint per line, nearest first: `curl -s .../nearest?format=text | head -1` in a job script."""
    in_service = decision.caches_in_service.in_service
    return "".join(f"{in_service[index].endpoint}\n" for index in decision.order.tolist())


def worker_body(decision: Decision) -> dict[str, Any]:
    """The 2022 worker's `/_caches` shape, so that its job scripts work unchanged.

    Like the worker's `request.cf` fields, city, latitude, longitude, postal code and region are what the
    edge reported (text), whether used or not; without an edge they describe the position we used.
    Caches are `[host:port, km]` as the worker listed them; a random order has 0 km, as in the worker.
    """
    where = decision.location
    shuffled = where.method is Method.FALLBACK
    edge = where.edge
    if edge is not None:
        place = {
            "city": edge.city,
            "latitude": edge.latitude,
            "longitude": edge.longitude,
            "postalCode": edge.postal_code,
            "region": edge.region,
        }
    else:
        point = where.coordinate
        place = {
            "city": where.city,
            "latitude": None if point is None else str(point.latitude),
            "longitude": None if point is None else str(point.longitude),
            "postalCode": None,
            "region": None,
        }
    return {
        **place,
        "AITA": where.colo,
        "caches": [[item.cache.authority, 0 if shuffled else _km(item.distance_km)] for item in decision.caches],
        "matched": WORKER_MATCHED[where.method],
    }


def caches_body(caches: CacheSet) -> dict[str, Any]:
    """Every configured cache, in file order, with its status."""
    return {
        "count": len(caches.caches),
        "in_service": len(caches.in_service),
        "caches": [
            {
                "name": cache.name,
                "endpoint": cache.endpoint,
                **cache_position(cache),
                "status": cache.status,
                "site": cache.site,
            }
            for cache in caches.caches
        ],
    }
