"""Decisions: locate each client, then rank the caches from there, or order them stickily at random.

`order_many` is the one composition of cascade results and ranking; the HTTP API and the CLI reach it
through `decide` (one client, with memos of recent answers), the evaluation harness directly (many
clients at once).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from locator.addresses import IPAddress, client_network
from locator.caches import Cache, CacheSet
from locator.edge import EdgeContext
from locator.geo import Coordinate, FloatArray
from locator.locate import Location, locate
from locator.rank import IndexArray, rank_many, sticky_indices, sticky_window
from locator.resources import Resources


@dataclass(frozen=True, slots=True)
class RankedCache:
    cache: Cache
    distance_km: float | None  # None: position unknown, or a fallback order


@dataclass(frozen=True)
class Decision:
    """Where the client is and the caches in order: indexes into `caches.in_service` and their km (NaN =
    unknown), turned into objects only when asked for."""

    location: Location
    order: IndexArray
    distances: FloatArray
    caches_in_service: CacheSet

    @cached_property
    def caches(self) -> list[RankedCache]:
        in_service = self.caches_in_service.in_service
        return [
            RankedCache(in_service[index], None if math.isnan(km) else km)
            for index, km in zip(self.order.tolist(), self.distances.tolist(), strict=True)
        ]

    @property
    def first(self) -> Cache | None:
        return self.caches_in_service.in_service[int(self.order[0])] if len(self.order) else None


def order_many(
    resources: Resources,
    locations: Sequence[Location],
    clients: Sequence[IPAddress | None],
    now_s: float,
    n: int | None = None,
) -> tuple[IndexArray, FloatArray]:
    """Cache orders for many clients: (order, distances), shape (clients, min(n, caches in service)).

    Located clients are ranked together with one distance matrix; the others get the sticky order of
    their client network, with NaN distances.
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
            network = client_network(clients[i])
            order[i] = sticky_indices(count, network, now_s, resources.sticky_s, width)
    return order, distances


def decide(
    resources: Resources,
    context: EdgeContext,
    declared: Coordinate | None = None,
    n: int | None = None,
    now_s: float | None = None,
) -> Decision:
    """The whole answer for one client; the HTTP API and the CLI both come through here."""
    memos = resources.memos
    location = memos.locations.get((declared, context)) if memos is not None else None
    if location is None:
        location = locate(declared, context, resources.sources, resources.policy)
        if memos is not None:
            memos.locations.put((declared, context), location)
    point = location.coordinate
    now = time.time() if now_s is None else now_s
    width = -1 if n is None else n
    if point is not None:
        key: tuple[object, ...] = (point.latitude, point.longitude, width)
    else:  # a sticky order lasts its network's window
        network = client_network(context.client_ip)
        key = (network, sticky_window(network, now, resources.sticky_s), width)
    if memos is not None and (hit := memos.rankings.get(key)) is not None:
        order, distances = hit
    else:
        rows, km = order_many(resources, [location], [context.client_ip], now, n)
        order, distances = rows[0], km[0]
        if memos is not None:
            order.flags.writeable = distances.flags.writeable = False
            memos.rankings.put(key, (order, distances))
    return Decision(location, order, distances, resources.caches)
