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
from locator.geo import FloatArray, distances_km

IndexArray = npt.NDArray[np.intp]


def _stable_order(keys: FloatArray) -> IndexArray:
    """Each row's stable ascending order: an unstable sort, then the rare runs of equal keys put back in
    file order. The same result as kind="stable", in about half the time for thousands of caches."""
    order = np.argsort(keys, axis=1, kind="quicksort")
    ordered = np.take_along_axis(keys, order, axis=1)
    for row in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1)):
        equal = np.concatenate(([False], ordered[row, 1:] == ordered[row, :-1], [False]))
        edges = np.flatnonzero(equal[1:] != equal[:-1])  # each run of equal keys: [start, end]
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            order[row, start : end + 1].sort()
    return order


def _first(keys: FloatArray, n: int) -> IndexArray:
    """The stable order's first n of each row without sorting everything.

    argpartition finds each row's n-th smallest key; every key up to it (ties at the cut included, so that
    file order still decides among equals) is then sorted stably. A row whose candidates are too many
    (a cut inside a run of unknown positions) falls back to a full stable sort.
    """
    cut = np.take_along_axis(keys, np.argpartition(keys, n - 1, axis=1)[:, n - 1 : n], axis=1)
    rows = []
    for row, limit in zip(keys, cut[:, 0], strict=True):
        candidates = np.flatnonzero(row <= limit)
        if len(candidates) > 4 * n:
            rows.append(_stable_order(row[np.newaxis, :])[0, :n])
        else:
            rows.append(candidates[np.argsort(row[candidates], kind="stable")][:n])
    return np.array(rows, dtype=np.intp).reshape(len(keys), n)


def rank_many(
    caches: CacheSet, origin_lat: FloatArray, origin_lon: FloatArray, n: int | None = None
) -> tuple[IndexArray, FloatArray]:
    """Rank every cache for many origins at once: one distance matrix, then the order.

    Returns (order, distances), both shape (origins, min(n, caches)): `order[i]` indexes
    `caches.in_service` nearest first for origin i, `distances[i]` holds the matching km (NaN = unknown).
    """
    distances = distances_km(origin_lat, origin_lon, caches.destinations)
    # Unknown positions sort after every real distance; a stable sort keeps file order among equals.
    keys = np.where(np.isnan(distances), np.inf, distances)
    count = keys.shape[1]
    width = count if n is None else min(n, count)
    if width == 0:
        order = np.empty((len(keys), 0), dtype=np.intp)
    elif width == 1:
        order = np.argmin(keys, axis=1)[:, np.newaxis]  # argmin returns the first of equals: file order
    elif width * 8 <= count:
        order = _first(keys, width)
    else:
        order = _stable_order(keys)[:, :width]
    return order, np.take_along_axis(distances, order, axis=1)


def sticky_window(client_network: str, now_s: float, period_s: int) -> int:
    """Which of its `period_s`-long windows a network is in: each network's windows start at their own
    offset, so the federation's clients do not all switch caches at the same second."""
    digest = blake2b(client_network.encode(), digest_size=8).digest()
    return int((now_s + int.from_bytes(digest, "big") % period_s) // period_s)


def sticky_indices(count: int, client_network: str, now_s: float, period_s: int, n: int | None = None) -> list[int]:
    """A random order of `count` caches (its first n) that one client network keeps for `period_s` seconds.

    A fresh shuffle per request sends each job of a site to a different cache and ruins hit rates
    (Pelican #1587). Seeding with (network, time window) keeps it stable without any state, so every
    replica gives the same answer (see sticky_window). A forward Fisher-Yates stops after n draws, so asking
    for fewer caches costs less and gives the same first ones.
    """
    rng = random.Random(f"{client_network}|{sticky_window(client_network, now_s, period_s)}")
    moved: dict[int, int] = {}  # the positions a swap has changed, so that a long list is never built
    order = []
    for i in range(count if n is None else min(n, count)):
        j = rng.randrange(i, count)
        order.append(moved.get(j, j))
        moved[j] = moved.get(i, i)
    return order
