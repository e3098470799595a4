"""The caches file (LOCATOR_CACHES_FILE): each row checked and read into a Cache, the whole into a CacheSet.

An endpoint is where every redirect sends a client and what the health prober fetches, so it must point at a
cache on the Internet: `http(s)://`, a valid host, nothing after the path, at most MAX_ENDPOINT_CHARS, and not
an address of this host's own networks (loopback, private, link-local such as the cloud metadata service at
169.254.169.254, `localhost`, an IPv6 zone) unless LOCATOR_ALLOW_PRIVATE_ENDPOINTS says so. Host names are not
resolved here: the rule is about what the file says.

A row's `role` is `cache` (the default, when the column is absent or the cell empty) or `origin`: an origin's
`namespaces` cell lists the paths it exports, and origins are kept apart from the caches. A position of exactly
0,0 is no position (what broken lookups give). A column the file format does not know is kept in the CacheSet
for /readyz to report, never silently ignored.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from locator.core.addresses import is_public
from locator.core.caches import CACHE, NOTHING, ORIGIN, PUBLIC, ROLES, Cache, CacheSet
from locator.core.geo import Coordinate
from locator.core.namespaces import check_path
from locator.sources.files import parse_rows, read_table

STATUSES = ("up", "down", "disabled")
MAX_ENDPOINT_CHARS = 256  # every redirect carries up to six of them in its headers
MAX_NAME_CHARS = 128
REQUIRED_COLUMNS = ("name", "endpoint", "latitude", "longitude")
CACHE_COLUMNS = (
    *REQUIRED_COLUMNS,
    "status",
    "downtime",
    "weight",
    "namespaces",
    "site",
    "city",
    "country",
    "ip",
    "note",
)
COLUMNS = (*CACHE_COLUMNS, "role")  # every column the file format knows ("role": origins)


class CacheFileError(ValueError):
    """The cache file cannot be used; the message names the file and the line."""


HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def valid_host(host: str) -> bool:
    """A DNS name of letter-digit-hyphen labels (no trailing dot: `osdf1.` is a name cut short) or an IP."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        return len(host) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()
    return True


def private_host(host: str) -> str | None:
    """Why a host is one of this host's own networks rather than the Internet's, or None."""
    if host == "localhost" or host.endswith(".localhost"):
        return "is this host (localhost)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if is_public(address) else "is not a public address (loopback, private, link-local or reserved)"


def parse_endpoint(text: str, allow_private: bool = False) -> str:
    """An http(s) base URL with a valid host and nothing after the path: the prefix every redirect starts with.
    A host of this host's own networks only when `allow_private` (LOCATOR_ALLOW_PRIVATE_ENDPOINTS)."""
    endpoint = text.strip()
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise ValueError(f"endpoint {endpoint[:40]!r}... is longer than {MAX_ENDPOINT_CHARS} characters")
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in endpoint):
        raise ValueError(f"endpoint {text!r} contains spaces or non-ASCII characters")
    if any(ch in endpoint for ch in "?#\\@%"):
        raise ValueError(
            f"endpoint {text!r} must not carry credentials, a query, a fragment, a backslash or a %-escape"
        )
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {text!r} is not an http:// or https:// URL with a host")
    if not valid_host(parts.hostname):
        raise ValueError(f"endpoint {text!r}: {parts.hostname!r} is not a host name or an IP address")
    _, colon, port = parts.netloc.rpartition("]")[2].partition(":")
    if colon and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"endpoint {text!r} has an invalid port (1-65535)")
    why = None if allow_private else private_host(parts.hostname)
    if why is not None:
        raise ValueError(f"endpoint {text!r}: {parts.hostname} {why} (LOCATOR_ALLOW_PRIVATE_ENDPOINTS)")
    return endpoint.rstrip("/")


def check_name(text: str) -> str:
    """A cache name the file can hold: not empty, no control characters, not starting with `#` (a comment
    line), at most MAX_NAME_CHARS."""
    name = text.strip()
    if not name:
        raise ValueError("name is empty")
    if name.startswith("#"):
        raise ValueError(f"name {name!r} starts with '#': the caches file would read its line as a comment")
    if len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise ValueError(f"name {name[:40]!r} is longer than {MAX_NAME_CHARS} characters or not printable")
    return name


def parse_served(text: str) -> tuple[frozenset[str], bool]:
    """The `namespaces` cell: `;`-separated namespace paths and `public`, or `none`. Empty means `public`
    (a cache without restrictions, as in files from before namespaces)."""
    items = [item.strip() for item in text.split(";") if item.strip()]
    if not items:
        return frozenset(), True
    if NOTHING in items:
        if len(items) > 1:
            raise ValueError(f"namespaces {text!r}: '{NOTHING}' cannot be combined with anything else")
        return frozenset(), False
    paths = frozenset(check_path(item) for item in items if item != PUBLIC)
    return paths, PUBLIC in items


def parse_weight(text: str) -> float:
    value = float(text) if text.strip() else 1.0
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"weight {text!r} is not a finite number >= 0")
    return value


def parse_flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("", "false", "no", "0"):
        return False
    if value in ("true", "yes", "1"):
        return True
    raise ValueError(f"{name} {text!r} is not true or false")


def cache_from_row(row: dict[str, str], allow_private: bool = False) -> Cache:
    """One CSV row to a Cache; raises ValueError naming the bad field."""
    name = check_name(row.get("name") or "")
    endpoint = parse_endpoint(row.get("endpoint") or "", allow_private)
    lat, lon = (row.get("latitude") or "").strip(), (row.get("longitude") or "").strip()
    coordinate: Coordinate | None = None
    if lat or lon:
        coordinate = Coordinate.parse(lat, lon)
        if coordinate.is_null_island:
            coordinate = None
    role = (row.get("role") or CACHE).strip().lower()
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    status = (row.get("status") or "up").strip().lower()
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    namespaces, public = parse_served(row.get("namespaces") or "")
    if role == ORIGIN and (public or not namespaces):
        raise ValueError(f"origin {name!r}: its namespaces cell must list the paths it exports (not public or none)")
    return Cache(
        name=name,
        endpoint=endpoint,
        coordinate=coordinate,
        status=status,
        site=(row.get("site") or "").strip(),
        ip=(row.get("ip") or "").strip(),
        downtime=parse_flag("downtime", row.get("downtime") or ""),
        weight=parse_weight(row.get("weight") or ""),
        namespaces=namespaces,
        public=public,
        role=role,
    )


def parse_caches(lines: Iterable[str], source: str, allow_private: bool = False) -> CacheSet:
    seen: set[str] = set()
    unknown: set[str] = set()

    def unique_cache(row: dict[str, str]) -> Cache:
        unknown.update(str(column) for column in row if column not in COLUMNS)  # None: cells beyond the header
        cache = cache_from_row(row, allow_private)
        if cache.name in seen:
            raise ValueError(f"duplicate cache name {cache.name!r}")
        seen.add(cache.name)
        return cache

    servers = parse_rows(lines, REQUIRED_COLUMNS, source, CacheFileError, unique_cache)
    result = CacheSet(
        tuple(server for server in servers if server.role == CACHE),
        tuple(server for server in servers if server.role == ORIGIN),
        tuple(sorted(unknown)),
    )
    if not result.in_service:
        raise CacheFileError(f"{source}: no cache is in service (status 'up' and no downtime)")
    return result


def load_caches(path: Path, allow_private: bool = False) -> CacheSet:
    """Read and validate a cache file; raises CacheFileError with a message fit for an operator."""

    def parse(lines: Iterable[str], source: str) -> CacheSet:
        return parse_caches(lines, source, allow_private)

    return read_table(path, parse, CacheFileError, "cache file (LOCATOR_CACHES_FILE)")
