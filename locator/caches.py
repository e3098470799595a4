"""The caches we rank, loaded from a CSV file: name, endpoint URL, position and status."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from locator.files import table_reader
from locator.geo import Coordinate, Destinations, FloatArray, InvalidCoordinate

STATUSES = ("up", "down", "disabled")
REQUIRED_COLUMNS = ("name", "endpoint", "latitude", "longitude")


class CacheFileError(ValueError):
    """The cache file cannot be used; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class Cache:
    """One cache. `coordinate` is None when its position is unknown (it then ranks last)."""

    name: str
    endpoint: str
    coordinate: Coordinate | None
    status: str = "up"
    site: str = ""
    ip: str = ""  # an address for the legacy service's GeoIP-of-the-server rule (evaluation only)

    @property
    def authority(self) -> str:
        """`host:port` as the 2022 worker listed caches."""
        return urlsplit(self.endpoint).netloc

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or ""

    @property
    def in_service(self) -> bool:
        return self.status == "up"


def parse_endpoint(text: str) -> str:
    """An http(s) base URL with a host and nothing after the path: the prefix every redirect starts with."""
    endpoint = text.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {text!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"endpoint {text!r} must not carry credentials, a query or a fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"endpoint {text!r} has an invalid port") from None
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in endpoint):
        raise ValueError(f"endpoint {text!r} contains spaces or non-ASCII characters")
    return endpoint.rstrip("/")


@dataclass(frozen=True, eq=False)
class CacheSet:
    """All configured caches, and those in service with their positions as arrays for vectorised ranking.

    Compared and hashed by identity: a loaded list is one value, and renderings of it can be memoised.
    """

    caches: tuple[Cache, ...]
    in_service: tuple[Cache, ...] = field(init=False)
    latitudes: FloatArray = field(init=False, repr=False)
    longitudes: FloatArray = field(init=False, repr=False)
    destinations: Destinations = field(init=False, repr=False)

    def __post_init__(self) -> None:
        usable = tuple(cache for cache in self.caches if cache.in_service)
        nan = float("nan")
        object.__setattr__(self, "in_service", usable)
        object.__setattr__(
            self, "latitudes", np.array([c.coordinate.latitude if c.coordinate else nan for c in usable])
        )
        object.__setattr__(
            self, "longitudes", np.array([c.coordinate.longitude if c.coordinate else nan for c in usable])
        )
        self.latitudes.flags.writeable = False
        self.longitudes.flags.writeable = False
        object.__setattr__(self, "destinations", Destinations.of(self.latitudes, self.longitudes))

    def __len__(self) -> int:
        return len(self.in_service)

    def by_name(self, name: str) -> Cache | None:
        return next((cache for cache in self.caches if cache.name == name), None)


def cache_from_row(row: dict[str, str]) -> Cache:
    """One CSV row to a Cache; raises ValueError naming the bad field."""
    name = (row.get("name") or "").strip()
    if not name:
        raise ValueError("name is empty")
    endpoint = parse_endpoint(row.get("endpoint") or "")
    lat, lon = (row.get("latitude") or "").strip(), (row.get("longitude") or "").strip()
    coordinate: Coordinate | None = None
    if lat or lon:
        try:
            coordinate = Coordinate.parse(lat, lon)
        except InvalidCoordinate as exc:
            raise ValueError(str(exc)) from None
    status = (row.get("status") or "up").strip().lower()
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return Cache(
        name=name,
        endpoint=endpoint,
        coordinate=coordinate,
        status=status,
        site=(row.get("site") or "").strip(),
        ip=(row.get("ip") or "").strip(),
    )


def parse_caches(lines: Iterable[str], source: str) -> CacheSet:
    try:
        reader = table_reader(lines, REQUIRED_COLUMNS)
    except ValueError as exc:
        raise CacheFileError(f"{source}: {exc}") from None
    caches: list[Cache] = []
    seen: set[str] = set()
    for row in reader:
        try:
            cache = cache_from_row(row)
        except ValueError as exc:
            raise CacheFileError(f"{source}, line {reader.line_num}: {exc}") from None
        if cache.name in seen:
            raise CacheFileError(f"{source}, line {reader.line_num}: duplicate cache name {cache.name!r}")
        seen.add(cache.name)
        caches.append(cache)
    result = CacheSet(tuple(caches))
    if not result.in_service:
        raise CacheFileError(f"{source}: no cache has status 'up'")
    return result


def load_caches(path: Path) -> CacheSet:
    """Read and validate a cache file; raises CacheFileError with a message fit for an operator."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return parse_caches(handle, str(path))
    except FileNotFoundError:
        raise CacheFileError(f"{path}: cache file not found (set LOCATOR_CACHES_FILE)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CacheFileError(f"{path}: cannot read cache file: {exc}") from None
