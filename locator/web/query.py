"""What a request asks: its query parameters validated into one typed object (400 on anything bad), and with
the namespace of its path and the edge headers as received, the `Ask` a decision is made for."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from locator.core.addresses import IPAddress, IPNetwork, parse_ip_literal
from locator.core.edge import READ_HEADERS, parse_colo
from locator.core.federation import Federation
from locator.core.geo import Coordinate, InvalidCoordinate
from locator.core.namespaces import Namespace, clean_request_path, has_control
from locator.settings import Settings
from locator.web.errors import BadRequest, Forbidden, NotFound

PARAMETERS = ("lat", "lon", "ip", "colo", "n", "format", "path")
FORMATS = ("json", "text", "metalink")
MAX_N = 100_000
N_PATTERN = "^([1-9][0-9]{0,4}|100000)$"  # `n`: digits for 1 to MAX_N, nothing else (no sign, 0 first or point)
MAX_VALUE_CHARS = 64
MAX_PATH_CHARS = 1024  # `path`: an object's path in the federation
MAX_MEMO_QUERY_BYTES = 512  # short query strings only: a path makes a query string unlike any other
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """A query parameter as /openapi.json describes it (`allowEmptyValue`: `?lat=&lon=` is no lat and lon, as
    unset shell variables give)."""
    return {"name": name, "in": "query", "description": description, "schema": schema, "allowEmptyValue": True}


PARAMETER_SPECS: list[dict[str, Any]] = [
    _parameter(
        "lat", "Declared latitude in degrees; give lat and lon together.", type="number", minimum=-90, maximum=90
    ),
    _parameter(
        "lon", "Declared longitude in degrees; give lat and lon together.", type="number", minimum=-180, maximum=180
    ),
    _parameter(
        "ip",
        "Locate this IPv4 or IPv6 address instead of the caller.",
        type="string",
        anyOf=[{"format": "ipv4"}, {"format": "ipv6"}],
        maxLength=MAX_VALUE_CHARS,
    ),
    _parameter("colo", "IATA code of the receiving data centre.", type="string", pattern="^[A-Za-z]{3}$"),
    _parameter(
        "n",
        f"At most this many caches, a whole number from 1 to {MAX_N} in digits; default all.",
        type="string",
        pattern=N_PATTERN,
    ),
    _parameter(
        "format",
        "json (default), text (one endpoint per line) or metalink (needs `path`).",
        type="string",
        enum=list(FORMATS),
    ),
    _parameter(
        "path",
        "The object's path: only caches that serve its namespace are ranked. Without it, the answer is for public "
        "data (the caches open to any VO).",
        type="string",
        pattern="^/[^\\x00-\\x1f\\x7f]*$",
        maxLength=MAX_PATH_CHARS,
    ),
]


# The position a Pelican client declares of itself; `?lat=&lon=` win over it.
COORDINATE_SPEC: dict[str, Any] = {
    "name": "X-Pelican-Coordinate",
    "in": "header",
    "description": "`lat=<float>,long=<float>` (Go float syntax, spaces ignored): the client's declared position, "
    "honoured from any peer; anything else (malformed, out of range): ignored, the reason in `skipped`.",
    "schema": {"type": "string"},
}


@dataclass(frozen=True)
class NearestQuery:
    declared: Coordinate | None = None
    ip: IPAddress | None = None
    colo: str | None = None
    n: int | None = None
    format: str | None = None  # json when not given (or a Metalink, when the Accept header asks for one)
    path: str | None = None


def parse_query(items: Iterable[tuple[str, str]]) -> NearestQuery:
    """Validate the known parameters; unknown ones (cache busters and the like) are ignored.

    An empty value counts as absent, so `?lat=$LAT&lon=$LON` with unset variables falls back cleanly.
    Anything else must be exactly well-formed (no spaces, no `nan`): what /openapi.json promises.
    """
    values: dict[str, str] = {}
    for key, value in items:
        if key not in PARAMETERS:
            continue
        if key in values:
            raise BadRequest(f"parameter {key!r} given more than once", "duplicate_parameter")
        limit = MAX_PATH_CHARS if key == "path" else MAX_VALUE_CHARS
        if len(value) > limit:
            raise BadRequest(f"parameter {key!r} is longer than {limit} characters", "value_too_long")
        values[key] = value
    values = {key: value for key, value in values.items() if value}

    declared = None
    if "lat" in values or "lon" in values:
        for key in ("lat", "lon"):
            if key in values and not DECIMAL.fullmatch(values[key]):
                raise BadRequest(f"{key} {values[key]!r} is not a decimal number", "invalid_coordinate")
        try:
            declared = Coordinate.parse(values.get("lat"), values.get("lon"))
        except InvalidCoordinate as exc:
            raise BadRequest(f"lat/lon: {exc}", "invalid_coordinate") from None

    ip = None
    if "ip" in values:
        ip = parse_ip_literal(values["ip"])
        if ip is None:
            raise BadRequest(f"ip {values['ip']!r} is not an IPv4 or IPv6 address", "invalid_ip")

    colo = None
    if "colo" in values:
        colo = parse_colo(values["colo"])
        if colo is None:
            raise BadRequest(f"colo {values['colo']!r} is not a three-letter IATA code", "invalid_colo")

    n = None
    if "n" in values:
        text = values["n"]
        if not re.fullmatch(N_PATTERN, text):
            raise BadRequest(f"n {text!r} is not a whole number from 1 to {MAX_N}", "invalid_n")
        n = int(text)

    output = values.get("format")
    if output is not None and output not in FORMATS:
        raise BadRequest(f"format {values['format']!r} is not one of {', '.join(FORMATS)}", "invalid_format")

    path = values.get("path")
    if path is not None and (not path.startswith("/") or has_control(path)):
        raise BadRequest(f"path {path!r} is not an absolute path without control characters", "invalid_path")
    if output == "metalink" and path is None:
        raise BadRequest("format=metalink describes one object: give its path=", "missing_path")

    return NearestQuery(declared=declared, ip=ip, colo=colo, n=n, format=output, path=path)


def parse_query_string(raw: bytes) -> NearestQuery:
    """`parse_query` of a raw query string, decoded as Starlette decodes it.

    Memoised: job scripts send the same few query strings (`?n=6`, their site's lat/lon) again and again,
    and parsing one cost more than the whole decision. A bad one is not kept (it raises every time), nor
    is an oversized one (1,024 of those would hold memory for nothing).
    """
    return _parse_short(raw) if len(raw) <= MAX_MEMO_QUERY_BYTES else _parse_raw(raw)


def _parse_raw(raw: bytes) -> NearestQuery:
    return parse_query(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


_parse_short = functools.lru_cache(maxsize=1024)(_parse_raw)


NO_QUERY = NearestQuery()


class Ask(NamedTuple):
    """One request's question, as it brought it: the peer, the edge headers a decision reads (as received:
    the memo keys on them), whom to believe, the query, the namespace of the path asked about and the path an
    origin exports that covers it."""

    peer: str | None
    edge: tuple[tuple[bytes, bytes], ...]
    trusted: tuple[IPNetwork, ...]
    query: NearestQuery
    namespace: Namespace | None
    export: str | None = None


def read_ask(
    scope: Any, federation: Federation, settings: Settings, query: NearestQuery | None = None, path: str | None = None
) -> Ask:
    """The ask of a request: its `query` (by default, its query string's, and the `path` it names) about `path`
    (None: no object, public data). 403 for `?ip=` where it is turned off, 404 for a path in no listed namespace
    where those are refused (LOCATOR_UNLISTED_PATHS=refuse)."""
    if query is None:
        query = parse_query_string(scope["query_string"])
        path = query.path
    if query.ip is not None and not settings.allow_ip_override:
        raise Forbidden("the ip= test override is disabled here (LOCATOR_ALLOW_IP_OVERRIDE)", "ip_override_disabled")
    namespace = export = None
    if path is not None:
        cleaned = clean_request_path(path)
        namespace = federation.namespaces.resolve(cleaned)
        if not namespace.listed and settings.unlisted_paths == "refuse":
            raise NotFound(f"{path} is in no listed namespace (LOCATOR_UNLISTED_PATHS=refuse)", "no_namespace")
        export = federation.exporting(cleaned)
    peer = scope.get("client")
    edge = tuple((name, value) for name, value in scope["headers"] if name in READ_HEADERS)
    return Ask(peer[0] if peer else None, edge, settings.trusted_proxies, query, namespace, export)
