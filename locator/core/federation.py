"""One snapshot of the federation: caches, namespaces, health and the location sources, immutable.

Everything a decision depends on besides the request is in one `Federation`. A reload, a health round or a
new GeoIP database builds a new one and `SnapshotStore` swaps it in with one assignment, so every request
reads exactly one snapshot from start to end. The arrays the ranking needs (which caches may be ranked,
their weights and rendezvous seeds, which serve each namespace) are computed once per snapshot.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

from locator.core.caches import CacheSet
from locator.core.geo import FloatArray
from locator.core.health import HealthView, State
from locator.core.locate import Policy, Sources
from locator.core.namespaces import Namespace, NamespaceTable

IndexArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
SeedArray = npt.NDArray[np.uint64]


class FederationError(ValueError):
    """The files disagree with each other (a cache serving a namespace the namespaces file lacks)."""


def seed_of(text: str) -> int:
    """A stable 64-bit hash (Python's hash() changes per process; replicas must agree)."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Spread:
    """How co-located caches share the load, and how long an unlocated client keeps its order."""

    spread_km: float = 50.0
    sticky_s: int = 1200


@dataclass(frozen=True, eq=False)
class Federation:
    """The whole federation as one value (see the module docstring)."""

    caches: CacheSet
    namespaces: NamespaceTable = field(default_factory=NamespaceTable)
    health: HealthView = field(default_factory=HealthView)
    sources: Sources = field(default_factory=Sources)
    policy: Policy = field(default_factory=Policy)
    spread: Spread = field(default_factory=Spread)
    version: int = 0
    loaded_at: float = field(default_factory=time.time)
    degraded: tuple[str, ...] = ()
    # Derived once per snapshot:
    states: tuple[State, ...] = field(init=False, repr=False)  # each cache's health as the ranking takes it
    rankable: BoolArray = field(init=False, repr=False)  # in service by the files, and not failed
    demoted: BoolArray = field(init=False, repr=False)  # degraded: ranked after every healthy cache
    weights: FloatArray = field(init=False, repr=False)
    seeds: SeedArray = field(init=False, repr=False)
    _candidates: dict[str | None, IndexArray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        caches = self.caches.caches
        for cache in caches:
            unknown = sorted(path for path in cache.namespaces if path not in self.namespaces)
            if unknown:
                raise FederationError(
                    f"cache {cache.name} serves {', '.join(unknown)}, which the namespaces file does not list"
                )
        states = tuple(self.health.effective(cache.name) for cache in caches)
        in_service = np.array([cache.in_service for cache in caches], dtype=bool)
        rankable = in_service & np.array([state is not State.FAILED for state in states], dtype=bool)
        demoted = np.array([state is State.DEGRADED for state in states], dtype=bool)
        weights = np.array([cache.weight for cache in caches], dtype=float)
        seeds = np.array([seed_of(cache.name) for cache in caches], dtype=np.uint64)
        candidates: dict[str | None, IndexArray] = {}
        for namespace in [*self.namespaces, None]:
            serving = np.array([cache.serves(namespace) for cache in caches], dtype=bool)
            candidates[None if namespace is None else namespace.path] = np.flatnonzero(serving & rankable)
        for name, value in (
            ("states", states),
            ("rankable", rankable),
            ("demoted", demoted),
            ("weights", weights),
            ("seeds", seeds),
            ("_candidates", candidates),
        ):
            object.__setattr__(self, name, value)

    def candidates(self, namespace: Namespace | None) -> IndexArray:
        """Indexes (file order) of the caches that may be ranked for a namespace: eligible and not failed."""
        key = namespace.path if namespace is not None and namespace.listed else None
        return self._candidates[key]

    def replace(self, **changes: object) -> Federation:
        """A new snapshot with some parts changed (the store gives it its version)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class SnapshotStore:
    """The snapshot in service. Readers take `current` (one attribute read); writers go through `update`,
    one at a time, each building on the snapshot in service at that moment, so that a slow writer never
    puts back an older state over a newer one."""

    def __init__(self, federation: Federation) -> None:
        self.current = federation
        self._lock = threading.Lock()

    def update(self, change: Callable[[Federation], Federation]) -> Federation:
        with self._lock:
            changed = change(self.current)
            installed = changed.replace(version=self.current.version + 1)
            self.current = installed
            return installed
