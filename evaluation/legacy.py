"""The legacy CVMFS GeoIP service (cvmfs/webapi/cvmfs_geo.py), emulated rule for rule, and a live client.

The emulation keeps the quirks that make the comparison worth doing (../shared/legacy-geo-api.md):
- the client is the caller name if it resolves to a located address, else CF-Connecting-IP, else the
  text after the last space (else comma) of X-Forwarded-For, else REMOTE_ADDR;
- only the MaxMind latitude/longitude are read: accuracy and city are ignored, so the US centroid in
  Kansas counts as a real position;
- servers are placed by the GeoIP of their address; here the `ip` column of the caches file, or the
  cache's configured coordinates when it has none (no DNS: the evaluation runs offline);
- order by the unit-sphere angle from the spherical law of cosines, equal angles in request order,
  unlocated servers last in request order;
- it answers 500 where the real service crashes: a client address whose record has no location, a
  non-address such as `X-Forwarded-For: unknown`, and an arc cosine just outside [-1, 1].
The wire format (paths, indices, error answers, cache lifetimes, the `+PXYSEP+` proxy rule) is the service's
own, locator.web.geoapi, which the locator's geo API answers in too. Not emulated: the `_namelookups_` URL.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx2 as httpx
import numpy as np
import numpy.typing as npt

from evaluation.defaults import LEGACY_GEOIP
from evaluation.errors import HarnessError
from locator.core.caches import CacheSet
from locator.core.geo import Coordinate, FloatArray, InvalidCoordinate
from locator.core.lookups import DamagedRecord, GeoIPLookup
from locator.embedded import embedded_path
from locator.sources.geoip import GeoIPDatabase, GeoIPError
from locator.web.geoapi import (
    MAX_NAME_CHARS,
    NAME_PATTERN,
    WireAnswer,
    bad_request,
    ordered,
    parse,
)


class LegacyCrash(Exception):
    """Where the real service raises an uncaught exception, and its web server answers 500."""


def position_of(latitude: float, longitude: float) -> Coordinate | None:
    """A record's position; None for numbers no real place has (only a damaged record holds them)."""
    try:
        return Coordinate(latitude, longitude)
    except InvalidCoordinate:
        return None


class LegacyGeo:
    """The legacy service's view of addresses and server names."""

    def __init__(self, geoip: GeoIPLookup, caches: CacheSet | None = None, resolve_dns: bool = False) -> None:
        self.geoip = geoip
        self.resolve_dns = resolve_dns
        self._servers: dict[str, tuple[str, Coordinate | None]] = {}
        for cache in caches.caches if caches is not None else ():
            position = cache.coordinate
            for key in (cache.name, cache.host):
                self._servers.setdefault(key.lower(), (cache.ip, position))

    def _located(self, address: str) -> Coordinate | None:
        """MaxMind position of an address literal; None if unknown or without a location."""
        try:
            record = self.geoip.lookup(ipaddress.ip_address(address))
        except ValueError:  # a bad `ip` cell in the caches file: like a name that does not resolve
            return None
        if record is None or record.latitude is None or record.longitude is None:
            return None
        return position_of(record.latitude, record.longitude)

    def addr_location(self, address: str) -> Coordinate | None:
        """`addr_geoinfo`: a client address from a header or the socket."""
        if len(address) > MAX_NAME_CHARS or not NAME_PATTERN.search(address):
            return None
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise LegacyCrash(f"{address!r} does not appear to be an IPv4 or IPv6 address") from None
        try:
            record = self.geoip.lookup(parsed)
        except DamagedRecord:  # the legacy reader may crash here; ours has no answer
            return None
        if record is None:
            return None
        if record.latitude is None or record.longitude is None:
            raise LegacyCrash(f"KeyError: 'location' (the record of {address} has no location)")
        return position_of(record.latitude, record.longitude)

    def name_location(self, name: str) -> Coordinate | None:
        """`name_geoinfo`: a caller or server name; IPv4 tried before IPv6 when DNS is used."""
        if len(name) > MAX_NAME_CHARS or not NAME_PATTERN.search(name):
            return None
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return self._located(name)
        known = self._servers.get(name.lower())
        if known is not None:
            address, position = known
            return self._located(address) if address else position
        if self.resolve_dns:
            return self._resolve(name)
        return None

    def _resolve(self, name: str) -> Coordinate | None:
        try:
            infos = socket.getaddrinfo(name, 80, 0, 0, socket.IPPROTO_TCP)
        except OSError:
            return None
        for family in (socket.AF_INET, socket.AF_INET6):
            for info in infos:
                if info[0] == family:
                    return self._located(str(info[4][0]))
        return None

    def client_location(self, caller: str, environ: Mapping[str, str]) -> Coordinate | None:
        """The client's position by the service's precedence (see the module docstring)."""
        position = None
        if caller.find("."):  # sic: true unless the name starts with '.', so nearly always tried
            position = self.name_location(caller)
        if position is None and "HTTP_CF_CONNECTING_IP" in environ:
            position = self.addr_location(environ["HTTP_CF_CONNECTING_IP"])
        if position is None and "HTTP_X_FORWARDED_FOR" in environ:
            forwarded = environ["HTTP_X_FORWARDED_FOR"]
            start = forwarded.rfind(" ") + 1
            if start == 0:
                start = forwarded.rfind(",") + 1
            position = self.addr_location(forwarded[start:])
        if position is None and "REMOTE_ADDR" in environ:
            position = self.addr_location(environ["REMOTE_ADDR"])
        return position

    def server_positions(self, servers: Sequence[str], try_cdn: bool = False) -> list[Coordinate | None]:
        """Each server's position; behind Cloudflare `ip.<name>` is tried first, as the service does."""
        positions = []
        for server in servers:
            position = self.name_location("ip." + server) if try_cdn else None
            positions.append(position if position is not None else self.name_location(server))
        return positions


def legacy_order_many(
    client_lat: FloatArray, client_lon: FloatArray, servers: Sequence[Coordinate | None]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Order servers for many clients at once: (order (clients, servers), crashed (clients,)).

    `distance_on_unit_sphere`: 0 for identical points, else acos of the law-of-cosines sum, which the
    service computes with math.acos; a sum just outside [-1, 1] raises there, so those clients crash.
    """
    lat2 = np.array([np.nan if p is None else p.latitude for p in servers])[np.newaxis, :]
    lon2 = np.array([np.nan if p is None else p.longitude for p in servers])[np.newaxis, :]
    lat1 = np.asarray(client_lat, dtype=np.float64)[:, np.newaxis]
    lon1 = np.asarray(client_lon, dtype=np.float64)[:, np.newaxis]
    d2r = np.pi / 180.0
    phi1, phi2 = (90.0 - lat1) * d2r, (90.0 - lat2) * d2r
    theta1, theta2 = lon1 * d2r, lon2 * d2r
    cos = np.sin(phi1) * np.sin(phi2) * np.cos(theta1 - theta2) + np.cos(phi1) * np.cos(phi2)
    identical = (lat1 == lat2) & (lon1 == lon2)
    known = ~np.isnan(lat2) & ~np.isnan(lon2)
    crashed = ((np.abs(cos) > 1.0) & known & ~identical).any(axis=1)
    with np.errstate(invalid="ignore"):
        arc = np.where(identical, 0.0, np.arccos(np.clip(cos, -1.0, 1.0)))
    arc = np.where(known, arc, np.inf)  # bisect insertion: inf goes after everything, in request order
    return np.argsort(arc, axis=1, kind="stable"), crashed


def legacy_api(path_info: str, environ: Mapping[str, str], geo: LegacyGeo) -> WireAnswer:
    """One request to the service: `path_info` is `/<repo>/v<version>/geo/<caller>/<s1>,<s2>,...`."""
    parsed = parse(path_info)
    if isinstance(parsed, WireAnswer):
        return parsed
    caller, servers = parsed
    try:
        client = geo.client_location(caller, environ)
        if client is None:
            return bad_request("remote addr not found in database")
        try_cdn = "HTTP_CF_CONNECTING_IP" in environ

        def sort(origin: Coordinate, names: Sequence[str], proxies: bool) -> tuple[bool, list[int]]:
            positions = geo.server_positions(names, try_cdn and not proxies)  # backup proxies: not behind a CDN
            order, crashed = legacy_order_many(np.array([origin.latitude]), np.array([origin.longitude]), positions)
            if crashed[0]:
                raise LegacyCrash("ValueError: math domain error (acos)")
            return any(position is not None for position in positions), [int(i) for i in order[0]]

        return ordered(client, servers, sort, geo.name_location)
    except LegacyCrash as crash:
        return WireAnswer(500, f"Internal Server Error (the legacy service crashes here: {crash})\n", "")


class FetchError(Exception):
    """A GET that gave no answer to use: one line for a record's error field (timeout, DNS, HTTP status)."""


def _resolution_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def fetch(url: str, headers: Mapping[str, str], timeout_s: float) -> str:
    """The text of a 200 answer, or FetchError saying why not, in words an operator can act on."""
    try:
        response = httpx.get(url, headers=dict(headers), timeout=timeout_s)
    except httpx.TimeoutException:
        raise FetchError("timeout") from None
    except (httpx.HTTPError, OSError) as exc:
        raise FetchError(f"{'DNS' if _resolution_failed(exc) else 'unreachable'}: {exc}") from None
    if response.status_code >= 400:
        raise FetchError(f"HTTP {response.status_code}: {response.text.strip()[:200]}")
    return response.text


class LegacyServiceError(Exception):
    """A live legacy service did not give an order; the message says why (for the record's error field)."""


class LegacyClient:
    """Asks a live service (`<base>/api/v1.0/geo/<caller>/<list>`) as stashcp did: it sees our address."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def order(
        self, servers: Sequence[str], caller: str = "stashcp", headers: Mapping[str, str] | None = None
    ) -> list[int]:
        """The 0-based order, or LegacyServiceError (timeouts, HTTP errors, DNS failures, bad answers)."""
        url = f"{self.base_url}/api/v1.0/geo/{urllib.parse.quote(caller)}/{','.join(servers)}"
        try:
            body = fetch(url, headers or {}, self.timeout_s)
        except FetchError as exc:
            raise LegacyServiceError(str(exc)) from None
        answer = WireAnswer(200, body, "")
        try:
            order = answer.order or []
        except ValueError:
            raise LegacyServiceError(f"unexpected answer {body[:200]!r}") from None
        if sorted(order) != list(range(len(servers))):
            raise LegacyServiceError(f"answer {body.strip()!r} is not a permutation of {len(servers)} servers")
        return order


def open_legacy_geoip(path: Path | None = None) -> GeoIPDatabase:
    """The legacy emulation's database: `path`, or the GeoLite2 2018 one the legacy service used in 2022."""
    path = path or embedded_path(LEGACY_GEOIP)
    try:
        if path is None:
            raise GeoIPError(f"the embedded database {LEGACY_GEOIP} is not installed")
        return GeoIPDatabase(path)
    except GeoIPError as exc:
        raise HarnessError(f"the legacy emulation needs its GeoIP database: {exc}") from None
