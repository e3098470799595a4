"""THE ranking: caches by great-circle distance from one or many origins; pure, shared with the evaluation.

Rules, in order of precedence:
1. Only caches in service (status `up`) are ranked; down and disabled ones never appear.
2. Ascending haversine distance in km from the origin.
3. Exact ties keep the cache file's order (stable sort), so an answer never flickers between equals.
4. Caches whose position is unknown come last, in file order, with distance None.
5. `n` keeps the first n (None: all).
When there is no origin at all, `sticky_indices` gives a random order that is stable per client network.
"""

from __future__ import annotations

import random
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

from locator.caches import CacheSet
from locator.geo import FloatArray, distance_matrix_km

IndexArray = npt.NDArray[np.intp]


def rank_many(
    caches: CacheSet, origin_lat: FloatArray, origin_lon: FloatArray, n: int | None = None
) -> tuple[IndexArray, FloatArray]:
    """Rank every cache for many origins at once: one distance matrix, one sort.

    Returns (order, distances), both shape (origins, min(n, caches)): `order[i]` indexes
    `caches.in_service` nearest first for origin i, `distances[i]` holds the matching km (NaN = unknown).
    """
    distances = distance_matrix_km(origin_lat, origin_lon, caches.latitudes, caches.longitudes)
    # Unknown positions sort after every real distance; a stable sort keeps file order among equals.
    keys = np.where(np.isnan(distances), np.inf, distances)
    order = np.argsort(keys, axis=1, kind="stable")
    if n is not None:
        order = order[:, :n]
    return order, np.take_along_axis(distances, order, axis=1)


def sticky_indices(count: int, client_network: str, now_s: float, period_s: int) -> list[int]:
    """A random order of `count` caches that one client network keeps for `period_s` seconds.

    A fresh shuffle per request sends each job of a site to a different cache and ruins hit rates
    (Pelican #1587). Seeding with (network, time window) keeps it stable without any state, so every
    replica gives the same answer. Each network's window starts at its own offset, so the federation's
    clients do not all switch caches at the same second.
    """
    digest = blake2b(client_network.encode(), digest_size=8).digest()
    window = int((now_s + int.from_bytes(digest, "big") % period_s) // period_s)
    order = list(range(count))
    random.Random(f"{client_network}|{window}").shuffle(order)
    return order
