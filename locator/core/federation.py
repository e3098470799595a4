"""One snapshot of the federation: caches, namespaces, health and the location sources, immutable.

Everything a decision depends on besides the request is in one `Federation`. A reload, a health round or a
new GeoIP database builds a new one and `SnapshotStore` swaps it in with one assignment, so every request
reads exactly one snapshot from start to end. What the ranking needs of it (`Derived`: which caches may be
ranked, their weights and rendezvous seeds, which serve each namespace) is computed once per snapshot, and is
as immutable as the rest: read-only arrays, read-only mappings.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from hashlib import blake2b
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from locator.core.caches import CacheSet
from locator.core.geo import Destinations, FloatArray, read_only
from locator.core.health import HealthView, State
from locator.core.load import LoadView
from locator.core.locate import Policy, Sources
from locator.core.namespaces import Namespace, NamespaceTable, longest_prefix

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
    """How co-located caches share the load, how long an unlocated client keeps its order, and how much farther
    than its nearest eligible cache load may send a client."""

    spread_km: float = 50.0
    sticky_s: int = 1200
    detour_km: float = 500.0


@dataclass(frozen=True)
class Places:
    """What the ranking needs of the places it orders: their positions prepared for distances, each one's
    capacity (weight) and rendezvous seed, whether its health demotes it, and how co-located places share."""

    destinations: Destinations
    weights: FloatArray
    seeds: SeedArray
    demoted: BoolArray
    spread: Spread
    kept: FloatArray | None = None  # the share of its clients each keeps under load (None: no load anywhere)


@dataclass(frozen=True)
class Derived:
    """What a snapshot's ranking reads, computed once from its caches, namespaces and health."""

    states: tuple[State, ...]  # each cache's health as the ranking takes it
    rankable: BoolArray  # in service by the files, and not failed
    places: Places
    candidates: Mapping[str | None, IndexArray]  # by listed namespace path (None: public data)
    origin_places: Places  # the origins, as the ranking orders them (no health: origins are not probed)
    exports: Mapping[str, IndexArray]  # origins in service by the path they export


def kept_shares(caches: CacheSet, load: LoadView) -> FloatArray | None:
    """Each cache's kept share under the reported load; None when load moves no client (the ranking's fast path)."""
    shares = np.array([getattr(load.of(cache.name), "kept", 1.0) for cache in caches.caches], dtype=float)
    return read_only(shares) if bool((shares < 1.0).any()) else None


def derive(caches: CacheSet, namespaces: NamespaceTable, health: HealthView, spread: Spread, load: LoadView) -> Derived:
    states = tuple(health.effective(cache.name) for cache in caches.caches)
    in_service = np.array([cache.in_service for cache in caches.caches], dtype=bool)
    rankable = read_only(in_service & np.array([state is not State.FAILED for state in states], dtype=bool))
    places = Places(
        caches.destinations,
        read_only(np.array([cache.weight for cache in caches.caches], dtype=float)),
        read_only(np.array([seed_of(cache.name) for cache in caches.caches], dtype=np.uint64)),
        read_only(np.array([state is State.DEGRADED for state in states], dtype=bool)),
        spread,
        kept_shares(caches, load),
    )
    candidates: dict[str | None, IndexArray] = {}
    for namespace in [*namespaces, None]:
        serving = np.array([cache.serves(namespace) for cache in caches.caches], dtype=bool)
        candidates[None if namespace is None else namespace.path] = read_only(np.flatnonzero(serving & rankable))
    origins = caches.origins
    exports: dict[str, list[int]] = {}
    for index, origin in enumerate(origins):
        if origin.in_service:
            for path in origin.namespaces:
                exports.setdefault(path, []).append(index)
    origin_places = Places(
        caches.origin_destinations,
        read_only(np.array([origin.weight for origin in origins], dtype=float)),
        read_only(np.array([seed_of(origin.name) for origin in origins], dtype=np.uint64)),
        read_only(np.zeros(len(origins), dtype=bool)),
        spread,
    )
    return Derived(
        states,
        rankable,
        places,
        MappingProxyType(candidates),
        origin_places,
        MappingProxyType({path: read_only(np.array(found, dtype=np.intp)) for path, found in exports.items()}),
    )


@dataclass(frozen=True, eq=False)
class Federation:
    """The whole federation as one value (see the module docstring)."""

    caches: CacheSet
    namespaces: NamespaceTable = field(default_factory=NamespaceTable)
    health: HealthView = field(default_factory=HealthView)
    sources: Sources = field(default_factory=Sources)
    policy: Policy = field(default_factory=Policy)
    spread: Spread = field(default_factory=Spread)
    load: LoadView = field(default_factory=LoadView)
    version: int = 0
    loaded_at: float = field(default_factory=time.time)
    degraded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for cache in self.caches.caches:
            unknown = sorted(path for path in cache.namespaces if path not in self.namespaces)
            if unknown:
                raise FederationError(
                    f"cache {cache.name} serves {', '.join(unknown)}, which the namespaces file does not list"
                )

    @cached_property
    def derived(self) -> Derived:
        """Computed on first use, once (the store computes it before it installs a snapshot)."""
        return derive(self.caches, self.namespaces, self.health, self.spread, self.load)

    @property
    def states(self) -> tuple[State, ...]:
        return self.derived.states

    @property
    def rankable(self) -> BoolArray:
        return self.derived.rankable

    @property
    def places(self) -> Places:
        return self.derived.places

    def candidates(self, namespace: Namespace | None) -> IndexArray:
        """Indexes (file order) of the caches that may be ranked for a namespace: eligible and not failed."""
        key = namespace.path if namespace is not None and namespace.listed else None
        return self.derived.candidates[key]

    def exporting(self, cleaned: str) -> str | None:
        """The longest path an origin in service exports that covers a clean request path, or None."""
        exports = self.derived.exports
        return longest_prefix(cleaned, exports) if exports else None

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
            installed.derived  # noqa: B018 - computed here, by the writer, not by the first request that reads it
            self.current = installed
            return installed
