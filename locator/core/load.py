"""Load: how busy each cache is, as a Pelican director reports it, and the share of its clients a cache keeps.

A cache's `ioLoad` up to THRESHOLD costs it nothing; above, the share of its clients it keeps halves every
HALVING (Pelican's own IO-load weight: director/sort_algorithms.go), times its `statusWeight` (1 for a healthy
server). At ioLoad 1,000 a cache keeps 2^-4.5, about 4% of the clients it would have without load. Which clients
it keeps is decided by a hash of the client's network and the cache (locator.core.rank), never by a random draw:
every replica gives the same answer, a client keeps its cache as long as the load allows, and when the load
falls, the answers return to exactly what they were. Where a shed client goes weighs the caches with room as
Pelican's adaptive sort weighs servers (distance x load x capacity), with a hash in place of its random draw:
`python -m evaluation loadsim` measures the difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from locator.core.geo import FloatArray

THRESHOLD = 100.0
HALVING = 200.0
DISTANCE_HALVING_KM = 200 * 1.609344  # Pelican's distance weight halves every 200 miles


def room_weights(weights: FloatArray, kept: FloatArray, extra_km: FloatArray) -> FloatArray:
    """How strongly a client that its own cache sheds is drawn to each cache with room for it: the cache's
    capacity weight, times the share of clients it keeps under its own load, times Pelican's distance weight
    (halving every 200 miles farther than the client's nearest). Used by rendezvous, not by a random draw."""
    drawn: FloatArray = weights * kept * 2.0 ** (-extra_km / DISTANCE_HALVING_KM)
    return drawn


@dataclass(frozen=True, slots=True)
class CacheLoad:
    io_load: float
    status_weight: float = 1.0

    @property
    def kept(self) -> float:
        """The share of its clients this cache keeps, in (0, 1]."""
        excess = max(0.0, self.io_load - THRESHOLD)
        weight = min(1.0, max(0.0, self.status_weight)) if math.isfinite(self.status_weight) else 1.0
        return float(max(1e-9, weight * 2.0 ** (-excess / HALVING)))


@dataclass(frozen=True)
class LoadView:
    """The latest report, by cache name; `stale`: too old to act on (the ranking ignores it, /readyz says so)."""

    by_name: Mapping[str, CacheLoad] = field(default_factory=lambda: MappingProxyType({}))
    fetched_at: float | None = None
    stale: bool = False

    def of(self, name: str) -> CacheLoad | None:
        return None if self.stale else self.by_name.get(name)
