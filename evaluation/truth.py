"""The evaluation's truth: the nearest cache that may serve a record's namespace, by brute force.

It shares no code with the ranking it judges (locator.core.rank, locator.core.federation, locator.core.geo's distance
matrix): a bug there must not move the truth with the answer. For each distinct (site position, namespace)
it walks every cache, keeps those the files put in service that serve the namespace (the rule as the
README states it, written out again here), and takes the minimum great-circle distance from the
`haversine` package. Health is not part of the truth: it is not known offline.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Sequence

import pandas as pd
from haversine import haversine

from locator.core.caches import Cache, CacheSet


def listed_namespace(path: str, listed: Collection[str]) -> str | None:
    """The longest listed namespace containing `path`, on whole segments; None: public data."""
    if not path:
        return None
    parts = posixpath.normpath("/" + path.lstrip("/")).split("/")
    for end in range(len(parts), 1, -1):
        prefix = "/".join(parts[:end])
        if prefix in listed:
            return prefix
    return None


def may_serve(cache: Cache, namespace: str | None) -> bool:
    """The files' rule: a listed namespace needs the cache to list it; anything else needs `public`."""
    if namespace is None:
        return cache.public
    return namespace in cache.namespaces


def nearest_eligible(
    caches: CacheSet, latitude: float, longitude: float, namespace: str | None
) -> tuple[str, float] | tuple[None, None]:
    """(name, km) of the nearest cache that may serve `namespace` (None: public data); file order on ties."""
    best: tuple[str, float] | tuple[None, None] = (None, None)
    for cache in caches.caches:
        if cache.coordinate is None or cache.status != "up" or cache.downtime or not may_serve(cache, namespace):
            continue
        km = haversine((latitude, longitude), (cache.coordinate.latitude, cache.coordinate.longitude))
        if best[1] is None or km < best[1]:
            best = (cache.name, km)
    return best


def truth(
    caches: CacheSet, latitudes: Sequence[float], longitudes: Sequence[float], namespaces: Sequence[str | None]
) -> pd.DataFrame:
    """Per record: `nearest` (cache name, '' when none may serve it) and `nearest_km` (NaN then)."""
    found: dict[tuple[float, float, str | None], tuple[str, float] | tuple[None, None]] = {}
    names, kms = [], []
    for lat, lon, namespace in zip(latitudes, longitudes, namespaces, strict=True):
        key = (lat, lon, namespace)
        if key not in found:
            found[key] = nearest_eligible(caches, lat, lon, namespace)
        name, km = found[key]
        names.append(name or "")
        kms.append(float("nan") if km is None else km)
    return pd.DataFrame({"nearest": names, "nearest_km": kms})
