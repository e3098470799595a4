"""What a cache is to the ranking: endpoint, position, what it may serve, its capacity and status; and the origins,
the servers that export namespaces, which Pelican's clients read from directly and list through."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

import numpy as np

from locator.core.geo import Coordinate, Destinations, FloatArray, read_only
from locator.core.namespaces import Namespace

PUBLIC = "public"  # in the `namespaces` cell: also serves public data outside every listed namespace
NOTHING = "none"  # the `namespaces` cell of a cache that serves nothing (kept listed, never ranked)
CACHE, ORIGIN = "cache", "origin"  # the `role` column
ROLES = (CACHE, ORIGIN)


@dataclass(frozen=True, slots=True)
class Cache:
    """One cache. `coordinate` is None when its position is unknown (it then ranks last).

    `status` is the operator's (up, down, disabled), `downtime` the federation's (OSG Topology, a director's
    filter); either takes it out of service. `namespaces` are the listed namespaces it may serve and `public`
    whether it serves public data outside them. `weight` is its capacity relative to co-located caches.
    An origin (`role`) is described the same way: its `namespaces` are the paths it exports.
    """

    name: str
    endpoint: str
    coordinate: Coordinate | None
    status: str = "up"
    site: str = ""
    ip: str = ""  # an address for the legacy service's GeoIP-of-the-server rule (evaluation only)
    downtime: bool = False
    weight: float = 1.0
    namespaces: frozenset[str] = frozenset()
    public: bool = True
    role: str = CACHE

    @property
    def authority(self) -> str:
        """`host:port` as the 2022 worker listed caches."""
        return urlsplit(self.endpoint).netloc

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or ""

    @property
    def in_service(self) -> bool:
        """In service by the files (the operator's status and the federation's downtime); health is apart."""
        return self.status == "up" and not self.downtime

    def serves(self, namespace: Namespace | None) -> bool:
        """Whether it may serve a namespace (None, or one that is not listed: public data)."""
        if namespace is None or not namespace.listed:
            return self.public
        return namespace.path in self.namespaces

    @property
    def served(self) -> str:
        """The `namespaces` cell it was read from."""
        return ";".join(sorted(self.namespaces) + ([PUBLIC] if self.public else [])) or NOTHING


def positions(servers: Iterable[Cache]) -> Destinations:
    """Positions prepared for distances (read-only arrays), NaN where a server has none."""
    nan = float("nan")
    listed = list(servers)
    return Destinations.of(
        np.array([s.coordinate.latitude if s.coordinate else nan for s in listed], dtype=float),
        np.array([s.coordinate.longitude if s.coordinate else nan for s in listed], dtype=float),
    )


@dataclass(frozen=True, eq=False)
class CacheSet:
    """All configured caches, in file order, with their positions as arrays for vectorised distances; and the
    origins of the same file, apart (never answered as caches, nor caches as origins).

    `in_service` are those the files put in service (status up, no downtime). `unknown_columns`: columns of the
    file that mean nothing here (a misspelt `weight`?), which /readyz reports. Compared and hashed by identity:
    a loaded list is one value.
    """

    caches: tuple[Cache, ...]
    origins: tuple[Cache, ...] = ()
    unknown_columns: tuple[str, ...] = ()

    @cached_property
    def in_service(self) -> tuple[Cache, ...]:
        return tuple(cache for cache in self.caches if cache.in_service)

    @cached_property
    def latitudes(self) -> FloatArray:
        """Each cache's latitude (read-only), NaN where it has no position; and `longitudes` likewise."""
        nan = float("nan")
        return read_only(np.array([c.coordinate.latitude if c.coordinate else nan for c in self.caches], dtype=float))

    @cached_property
    def longitudes(self) -> FloatArray:
        nan = float("nan")
        return read_only(np.array([c.coordinate.longitude if c.coordinate else nan for c in self.caches], dtype=float))

    @cached_property
    def destinations(self) -> Destinations:
        """The positions prepared for distances (read-only arrays)."""
        return Destinations.of(self.latitudes, self.longitudes)

    @cached_property
    def origin_destinations(self) -> Destinations:
        return positions(self.origins)

    def __len__(self) -> int:
        return len(self.caches)

    def named(self, text: str) -> Cache | None:
        """The cache a text names: its name, endpoint, `host:port` or host, in any case."""
        return self._names.get(text.lower())

    def named_each(self, texts: Iterable[str]) -> list[Cache | None]:
        """`named` of many texts in one call (the geo API names up to 64 servers a request)."""
        get = self._names.get
        return [get(text.lower()) for text in texts]

    @cached_property
    def _names(self) -> dict[str, Cache]:
        """Built on first use (the geo API, the evaluation): about 0.5 KB a cache, 5 MB for 10,000."""
        names: dict[str, Cache] = {}
        for cache in self.caches:
            for key in (cache.name, cache.endpoint, cache.authority, cache.host):
                names.setdefault(key.lower(), cache)
        return names
