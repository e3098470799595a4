"""Load: how busy each cache is, as a Pelican director reports it, and the share of its clients a cache keeps.

A cache's `ioLoad` up to THRESHOLD costs it nothing; above, the share of its clients it keeps halves every
HALVING (Pelican's own IO-load weight: director/sort_algorithms.go), times its `statusWeight` (1 for a healthy
server). At ioLoad 1,000 a cache keeps 2^-4.5, about 4% of the clients it would have without load. Which clients
it keeps is decided by a hash of the client's network and the cache (locator.core.rank), never by a random draw:
every replica gives the same answer, a client keeps its cache as long as the load allows, and when the load
falls, the answers return to exactly what they were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

THRESHOLD = 100.0
HALVING = 200.0


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
