"""The response bodies: plain data built from a Decision, shared by the HTTP API and the CLI."""

from __future__ import annotations

import dataclasses
from typing import Any

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


def nearest_body(decision: Decision) -> dict[str, Any]:
    """The `/nearest` JSON: method, client, skipped sources and the ordered caches."""
    where = decision.location
    return {
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
        "skipped": dict(where.skipped),
        "edge": None if where.edge is None else dataclasses.asdict(where.edge),
        "caches": [
            {
                "name": item.cache.name,
                "endpoint": item.cache.endpoint,
                **cache_position(item.cache),
                "distance_km": _km(item.distance_km),
            }
            for item in decision.caches
        ],
    }


def nearest_text(decision: Decision) -> str:
    """One endpoint per line, nearest first: `curl -s .../nearest?format=text | head -1` in a job script."""
    return "".join(f"{item.cache.endpoint}\n" for item in decision.caches)


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
