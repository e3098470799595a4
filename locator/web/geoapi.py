"""The CVMFS geo API (`/cvmfs/<repo>/api/v1.0/geo/<caching>/<s1>,<s2>,...` and WLCG WPAD's `/api/v1.0/geo/...`):
the legacy service's wire format, and this locator's answer in it.

CVMFS clients, site proxies and stashcp (through WLCG WPAD) ask this API to order a list of servers. The wire
format is the legacy service's (../shared/legacy-geo-api.md): 1-based indices, text/plain, its error answers and
cache lifetimes, and the `+PXYSEP+` rule (the proxies after the separator are ordered first; the servers before
it are then ordered from the nearest proxy, and the separator's own index ends the answer). The legacy emulation
(evaluation.legacy) speaks it through this module too; only where the client and the servers are differs:

- the client: the caching string when it is, or resolves to, an address (site proxies keep these answers under
  that name, so they must not depend on who asked through the proxy); the edge's report and colo count only
  when that address is the one the edge saw. Otherwise the request itself. Located by this project's cascade
  (edge headers, local GeoIP with the Kansas-default and accuracy rules, the colo cross-check), where the legacy
  service read MaxMind's latitude and longitude alone. The caching string names an address to locate, so it
  is read only where `?ip=` is allowed (LOCATOR_ALLOW_IP_OVERRIDE); elsewhere the request locates the client.
- the servers: a configured cache by its configured position (by host or name); any other by its address's
  GeoIP, with the same rules. A name that does not resolve goes last, in request order, as before.

How long an answer may be kept (`Cache-Control`) says how much it can be trusted: the legacy service's hour
(`max-age=3600`) only for an answer that anyone asking the same URL gets; `private, max-age=300` for one that
depends on who asked (the client was located from the request, or from the caching string's address with the
edge's help), so that no shared cache hands it to someone else; `max-age=60` (private too where it applies) for
one that names a server, or a caching string, whose name did not resolve in time (locator.sources.resolver).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.responses import Response
from starlette.types import Scope

from locator.core.addresses import IPAddress, parse_ip_literal
from locator.core.caches import Cache
from locator.core.edge import EdgeContext, edge_headers, read_edge
from locator.core.federation import Federation
from locator.core.geo import Coordinate
from locator.core.locate import Location, Method, locate
from locator.core.rank import listed, order
from locator.web.bodies import TEXT, Raw
from locator.web.observe import DECISION
from locator.web.openapi import TEXT as TEXT_SPEC
from locator.web.openapi import Documented, ref
from locator.web.state import Shared

API_PATH = re.compile(r"^/([^/]*)/(v[^/]*)/([^/]*)/(.*)$")  # /<repo>/v<version>/<function>/<path_info>
PROXY_SEPARATOR = "+PXYSEP+"
OK_CACHE_CONTROL = "max-age=3600"  # the legacy service's lifetimes: site proxies keep answers this long
BAD_CACHE_CONTROL = "max-age=300"
NAMES_HOLD_S = 300.0  # a shared answer is kept in the memo no longer than the names in it are (the resolver's)
ASKER_MAX_AGE = 300  # an answer that depends on who asked (private)
LATE_MAX_AGE = 60  # an answer naming a name that did not resolve in time
MAX_NAME_CHARS = 256
NAME_PATTERN = re.compile(r"^[0-9a-zA-Z.:-]*$")  # host names and address literals only (the legacy rule)
MAX_SERVERS = 64  # names per request: each may cost a DNS lookup (CVMFS lists a handful of Stratum-1s)

# (origin, names, whether they are the proxies after the separator) -> (one was located, their order)
Sort = Callable[[Coordinate, Sequence[str], bool], tuple[bool, list[int]]]


@dataclass(frozen=True)
class WireAnswer:
    """What the service sends: status, text body and its Cache-control header."""

    status: int
    body: str
    cache_control: str

    @property
    def order(self) -> list[int] | None:
        """The 0-based order of a 200 answer, None otherwise."""
        if self.status != 200:
            return None
        return [int(part) - 1 for part in self.body.strip().split(",")]


def cache_control(status: int, shared: bool, late: bool) -> str:
    """The lifetime of one of this locator's answers (see the module docstring)."""
    max_age = LATE_MAX_AGE if late else 3600 if status == 200 and shared else ASKER_MAX_AGE
    return f"max-age={max_age}" if shared else f"private, max-age={max_age}"


def bad_request(reason: str) -> WireAnswer:
    return WireAnswer(400, f"Bad Request: {reason}\n", BAD_CACHE_CONTROL)


def parse(path_info: str) -> tuple[str, list[str]] | WireAnswer:
    """(caching string, server names) of `/<repo>/v<version>/geo/<caching>/<s1>,<s2>,...`, or the 400."""
    match = API_PATH.search(path_info)
    if not match:
        return bad_request(f"malformed api URL: {path_info}")
    _repo, _version, function, geo_path = match.groups()
    if function != "geo":
        return bad_request("unrecognized api function")
    slash = geo_path.find("/")
    if slash == -1:
        return bad_request("no slash in geo path")
    return geo_path[:slash], geo_path[slash + 1 :].split(",")


def usable_name(name: str) -> bool:
    return len(name) <= MAX_NAME_CHARS and NAME_PATTERN.search(name) is not None


def ordered(
    origin: Coordinate, servers: Sequence[str], sort: Sort, place: Callable[[str], Coordinate | None]
) -> WireAnswer:
    """The answer for a located client: the servers sorted by `sort`, with the `+PXYSEP+` rule."""
    if PROXY_SEPARATOR in servers:
        separator = servers.index(PROXY_SEPARATOR)
        proxies = servers[separator + 1 :]
        one_proxy, proxy_order = sort(origin, proxies, True)
        if one_proxy:
            origin = place(proxies[proxy_order[0]]) or origin
        one, host_order = sort(origin, servers[:separator], False)
        order = [*host_order, *(separator + 1 + i for i in proxy_order), separator]
    else:
        one, order = sort(origin, servers, False)
    if not one:  # a bad request only if every server name was bad
        return bad_request("no server addr found in database")
    return WireAnswer(200, ",".join(str(i + 1) for i in order) + "\n", OK_CACHE_CONTROL)


class GeoAPI:
    """This locator's answers in the legacy wire format, for one snapshot. `addresses` holds what the names
    of the request resolved to (None: they did not), `late` those that did not resolve in time; address
    literals need no entry. `caching_string`: whether the caching string may locate the client."""

    def __init__(
        self,
        federation: Federation,
        addresses: Mapping[str, IPAddress | None],
        late: Collection[str] = (),
        caching_string: bool = True,
    ) -> None:
        self.federation = federation
        self.addresses = addresses
        self.late = late
        self.caching_string = caching_string
        self._placed: dict[str, Coordinate | None] = {}  # this request's names that are no cache's, placed once

    def address(self, name: str) -> IPAddress | None:
        if not usable_name(name):
            return None
        written = literal(name)
        return written if written is not None else self.addresses.get(name)

    def located(self, address: IPAddress) -> Coordinate | None:
        """An address's position by the cascade's rules for GeoIP (and the operator's overrides), or None."""
        federation = self.federation
        location = locate(None, EdgeContext(address, "dns"), federation.sources, federation.policy)
        return location.coordinate if location.method in (Method.OVERRIDE, Method.GEOIP) else None

    def place(self, name: str, cache: Cache | None = None) -> Coordinate | None:
        """A server: a configured cache where it is (`cache`, when the caller looked it up), any other host
        where its address is."""
        cache = cache or self.federation.caches.named(name)
        if cache is not None:
            return cache.coordinate
        if name not in self._placed:
            address = self.address(name)
            self._placed[name] = None if address is None else self.located(address)
        return self._placed[name]

    def sort(self, origin: Coordinate, servers: Sequence[str], proxies: bool = False) -> tuple[bool, list[int]]:
        """The servers by THE ranking (locator.core.rank.order), as places of their own: no weights and no
        spread, so that equal distances keep the request's order, and unknown positions go last."""
        caches = self.federation.caches.named_each(servers)
        positions = [
            self.place(server) if cache is None else cache.coordinate
            for cache, server in zip(caches, servers, strict=True)
        ]
        ranking = order(listed(positions), np.arange(len(positions)), origin, "")
        return any(position is not None for position in positions), ranking.indices.tolist()

    def client(self, caching: str, context: EdgeContext) -> tuple[Location, bool]:
        """Where the client is: the caching string's address if it has one (and may be read), else the
        request's (see above); and whether that is so for anyone who asks (only an address located by itself,
        through the operator's overrides or GeoIP, is)."""
        federation = self.federation
        address = self.address(caching) if self.caching_string else None
        if address is not None and address != context.client_ip:
            context = context.as_client(address, "caching_string")
        location = locate(None, context, federation.sources, federation.policy)
        return location, address is not None and location.method in (Method.OVERRIDE, Method.GEOIP)

    def answer(self, caching: str, servers: Sequence[str], context: EdgeContext) -> tuple[WireAnswer, Location]:
        location, shared = self.client(caching, context)
        late = any(name in self.late for name in (caching, *servers))
        if location.coordinate is None:
            answer = bad_request("remote addr not found in database")
        else:
            answer = ordered(location.coordinate, servers, self.sort, self.place)
        return dataclasses.replace(answer, cache_control=cache_control(answer.status, shared, late)), location


def names_to_resolve(caching: str | None, servers: Sequence[str], federation: Federation) -> list[str]:
    """The names of a request that only DNS can place (not address literals, not configured caches), the
    caching string first: the resolver looks up only the first few it does not know."""
    names = list(dict.fromkeys(servers if caching is None else (caching, *servers)))
    caches = federation.caches.named_each(names)
    return [
        name
        for name, cache in zip(names, caches, strict=True)
        if cache is None and name and name != PROXY_SEPARATOR and usable_name(name) and literal(name) is None
    ]


def literal(name: str) -> IPAddress | None:
    """The address a name is written as, if it is one. Only names of digits and dots, or with a colon, are tried:
    parsing a host name as an address costs more than the rest of the answer."""
    return parse_ip_literal(name) if ":" in name or name.replace(".", "").isdigit() else None


def wire_response(answer: WireAnswer) -> Response:
    return Raw(answer.body.encode(), TEXT, (b"cache-control", answer.cache_control.encode()), status=answer.status)


async def answer(scope: Scope, path_info: str) -> Response:
    """Parse the legacy URL, resolve the names only DNS can place, order from the client, answer on the wire."""
    shared: Shared = scope["app"].state.shared
    federation = shared.store.current
    parsed = parse(path_info)
    if isinstance(parsed, WireAnswer):
        return wire_response(parsed)
    caching, servers = parsed
    if len(servers) > MAX_SERVERS:
        return wire_response(bad_request(f"more than {MAX_SERVERS} servers"))
    key = ("geo", caching, ",".join(servers))
    kept = shared.memo.recall(key, federation.version)
    if kept is not None:  # an answer anyone asking gets, while its names' addresses hold
        wire, location = kept  # type: ignore[misc]
    else:
        readable = shared.settings.allow_ip_override  # the caching string names an address, as ?ip= does
        resolved = await shared.resolver.resolve(names_to_resolve(caching if readable else None, servers, federation))
        peer = scope.get("client")
        context = read_edge(edge_headers(scope["headers"]), peer[0] if peer else None, shared.settings.trusted_proxies)
        geo = GeoAPI(federation, resolved.addresses, resolved.late, readable)
        wire, location = geo.answer(caching, servers, context)
        if wire.cache_control == OK_CACHE_CONTROL:  # never one that depends on the asker or on a late name
            shared.memo.keep(key, (wire, location), len(key[2]) + len(wire.body), shared.memo.clock() + NAMES_HOLD_S)
    facts = scope.get("locator")
    if facts is not None:
        facts.update({DECISION: location, "method": location.method.value})
    return wire_response(wire)


async def stratum_one(scope: Scope) -> Response:
    params = scope["path_params"]
    return await answer(scope, f"/{params['repo']}/{params['rest']}")


async def wpad(scope: Scope) -> Response:
    return await answer(scope, "//" + scope["path_params"]["rest"])


REST: dict[str, Any] = {
    "name": "rest",
    "in": "path",
    "required": True,
    "description": "`v<version>/geo/<caching string>/<server1>,<server2>,...` (`/` inside: as the legacy service "
    "reads PATH_INFO). The caching string locates the client when it is, or resolves to, an address; "
    "`+PXYSEP+` in the list separates the servers from proxies.",
    "schema": {"type": "string"},
}
RESPONSES: dict[str, Any] = {
    "200": {
        "description": "1-based indices of the servers, nearest first, comma separated, a newline at the end. "
        "`Cache-Control`: `max-age=3600` for an answer anyone asking the URL gets, `private, max-age=300` for one "
        "that depends on who asked, `max-age=60` for one naming a name that did not resolve in time.",
        "content": TEXT_SPEC,
    },
    "400": {
        "description": "`Bad Request: <reason>` (`Cache-Control: max-age=300`): malformed api URL, unrecognized "
        "api function, no slash in geo path, remote addr not found in database, no server addr found in "
        "database, more than 64 servers. A path with control characters gets the JSON error (invalid_path), "
        "as on every route.",
        "content": {**TEXT_SPEC, "application/json": {"schema": ref("Error")}},
    },
}
ROUTES = [
    Documented(
        "/cvmfs/{repo}/api/{rest:path}",
        stratum_one,
        {
            "operationId": "geo_cvmfs",
            "summary": "The CVMFS geo API, as a Stratum-1 serves it: v1.0/geo/<caching>/<server1>,<server2>,...",
            "parameters": [{"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}}, REST],
            "responses": RESPONSES,
        },
    ),
    Documented(
        "/api/{rest:path}",
        wpad,
        {
            "operationId": "geo_wpad",
            "summary": "The CVMFS geo API, as WLCG WPAD serves it: v1.0/geo/<caching>/<server1>,<server2>,...",
            "parameters": [REST],
            "responses": RESPONSES,
        },
    ),
]
