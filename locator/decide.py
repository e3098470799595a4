"""Decisions: locate each client, then rank the caches from there, or order them stickily at random.

`order_many` is the one composition of cascade results and ranking; the HTTP API and the CLI reach it
through `decide` (one client), the evaluation harness directly (many clients at once).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from locator.addresses import client_network
from locator.caches import Cache
from locator.edge import EdgeContext
from locator.geo import Coordinate, FloatArray
from locator.locate import Location, locate
from locator.rank import IndexArray, rank_many, sticky_indices
from locator.resources import Resources


@dataclass(frozen=True, slots=True)
class RankedCache:
    cache: Cache
    distance_km: float | None  # None: position unknown, or a fallback order


@dataclass(frozen=True)
class Decision:
    location: Location
    caches: list[RankedCache]


def order_many(
    resources: Resources,
    locations: Sequence[Location],
    networks: Sequence[str],
    now_s: float,
    n: int | None = None,
) -> tuple[IndexArray, FloatArray]:
    """Cache orders for many clients: (order, distances), shape (clients, min(n, caches in service)).

    Located clients are ranked together with one distance matrix; the others get the sticky order of
    their client network (`networks[i]`), with NaN distances.
    """
    count = len(resources.caches)
    width = count if n is None else min(n, count)
    order = np.empty((len(locations), width), dtype=np.intp)
    distances = np.full((len(locations), width), np.nan)
    located = [(i, where.coordinate) for i, where in enumerate(locations) if where.coordinate is not None]
    if located:
        rows = [i for i, _ in located]
        lats = np.array([point.latitude for _, point in located])
        lons = np.array([point.longitude for _, point in located])
        order[rows], distances[rows] = rank_many(resources.caches, lats, lons, width)
    for i, where in enumerate(locations):
        if where.coordinate is None:
            order[i] = sticky_indices(count, networks[i], now_s, resources.sticky_s)[:width]
    return order, distances


def decide(
    resources: Resources,
    context: EdgeContext,
    declared: Coordinate | None = None,
    n: int | None = None,
    now_s: float | None = None,
) -> Decision:
    """The whole answer for one client; the HTTP API and the CLI both come through here."""
    location = locate(declared, context, resources.sources, resources.policy)
    now = time.time() if now_s is None else now_s
    order, distances = order_many(resources, [location], [client_network(context.client_ip)], now, n)
    in_service = resources.caches.in_service
    ranked = [
        RankedCache(in_service[index], None if math.isnan(km) else km)
        for index, km in zip(order[0].tolist(), distances[0].tolist(), strict=True)
    ]
    return Decision(location, ranked)
