"""What the cascade looks up, and what it expects of the sources that answer: airports by IATA code,
GeoIP records by address, the operator's overrides by network. The sources (locator.sources) read files into
these values; the cascade needs nothing else of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from locator.core.addresses import IPAddress, IPNetwork
from locator.core.geo import Coordinate

CONTINENTS = ("AF", "AN", "AS", "EU", "NA", "OC", "SA")  # OurAirports' codes


@dataclass(frozen=True, slots=True)
class Airport:
    iata: str
    name: str
    city: str
    country: str
    continent: str  # one of CONTINENTS, "" when not known (a store built before the column existed)
    coordinate: Coordinate


class AirportLookup(Protocol):
    """An airport table (locator.sources.airports.AirportTable)."""

    def __len__(self) -> int: ...

    def lookup(self, iata: str) -> Airport | None: ...


@dataclass(frozen=True, slots=True)
class GeoIPRecord:
    """One database answer. Any field may be missing: MaxMind omits what it does not know."""

    latitude: float | None
    longitude: float | None
    accuracy_km: int | None
    city: str | None
    country: str | None


@dataclass(frozen=True)
class GeoIPInfo:
    """What /readyz, the evaluation's reports and `locator geoip update` say about a database."""

    path: str
    database_type: str
    built: str  # ISO date of the build
    ip_version: int
    licence: str


class DamagedRecord(ValueError):
    """The record for an address does not decode: the database has no answer for it."""


class GeoIPLookup(Protocol):
    """A City database (locator.sources.geoip.GeoIPDatabase); `lookup` raises DamagedRecord."""

    @property
    def info(self) -> GeoIPInfo: ...

    @property
    def lookup(self) -> Callable[[IPAddress], GeoIPRecord | None]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Override:
    network: IPNetwork
    coordinate: Coordinate
    note: str = ""


class OverrideTable:
    """Longest-prefix match in O(number of distinct prefix lengths): one dict per (version, prefix length)."""

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self._by_prefix: dict[tuple[int, int], dict[int, Override]] = {}
        count = 0
        for override in overrides:
            net = override.network
            bucket = self._by_prefix.setdefault((net.version, net.prefixlen), {})
            bucket[int(net.network_address)] = override
            count += 1
        self._count = count
        # Longest prefixes first, so the first hit is the most specific network.
        self._order = sorted(self._by_prefix, key=lambda key: -key[1])

    def __len__(self) -> int:
        return self._count

    def lookup(self, address: IPAddress) -> Override | None:
        bits = address.max_prefixlen
        value = int(address)
        for version, prefixlen in self._order:
            if version != address.version:
                continue
            masked = (value >> (bits - prefixlen)) << (bits - prefixlen) if prefixlen else 0
            hit = self._by_prefix[(version, prefixlen)].get(masked)
            if hit is not None:
                return hit
        return None


@dataclass(frozen=True)
class Resolution:
    """What the host names of one request resolved to (None: they do not resolve), and which of them did not
    resolve in time: an answer naming one of those may change, so it must not be kept long."""

    addresses: Mapping[str, IPAddress | None]
    late: frozenset[str] = field(default_factory=frozenset)
