"""The edge context: who the client is and what the CDN edge in front of us said about it.

Trust rule: forwarded client addresses (CF-Connecting-IP, CloudFront-Viewer-Address, X-Forwarded-For)
and edge location headers count only when the socket peer is a trusted proxy. Anyone can send those
headers; only our own edge or ingress may be believed.

A position the client declares of itself (`X-Pelican-Coordinate: lat=43.0739,long=-89.3848`, what Pelican's
clients with a configured location send) is honoured from any peer, as `?lat=&lon=` is: it is the client's
own word about itself, and a client can always ask for another answer anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

import msgspec

from locator.core.addresses import IPAddress, IPNetwork, in_networks, parse_ip
from locator.core.geo import Coordinate, InvalidCoordinate

MAX_FORWARDED_HOPS = 32  # a longer X-Forwarded-For chain is garbage or an attack, not a route
MAX_TEXT_CHARS = 256  # for city, country, region and postal code values

# Unknown and Tor: Cloudflare's CF-IPCountry pseudo-codes; `XX`/`A1`/`A2` also come from MaxMind-era feeds.
NO_COUNTRY = frozenset({"", "XX", "T1", "A1", "A2", "EU", "AP"})


# Judged later by the cascade; and the /nearest body's `edge` as it is (its docstring is that schema's text).
class EdgeReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a trusted CDN edge reported (text as received), used or not."""

    provider: Literal["cloudflare", "cloudfront", "generic"]
    latitude: str | None
    longitude: str | None
    city: str | None
    country: str | None
    region: str | None
    postal_code: str | None


# provider -> header names for latitude, longitude, city, country, region, postal code.
EDGE_HEADERS: dict[str, tuple[str, str, str, str, str | None, str | None]] = {
    "cloudflare": (
        "cf-iplatitude",
        "cf-iplongitude",
        "cf-ipcity",
        "cf-ipcountry",
        "cf-region",
        "cf-postal-code",
    ),
    "cloudfront": (
        "cloudfront-viewer-latitude",
        "cloudfront-viewer-longitude",
        "cloudfront-viewer-city",
        "cloudfront-viewer-country",
        "cloudfront-viewer-country-region-name",
        "cloudfront-viewer-postal-code",
    ),
    "generic": ("x-edge-latitude", "x-edge-longitude", "x-edge-city", "x-edge-country", None, None),
}


class EdgeContext(NamedTuple):
    """Client address, edge report and receiving colo, each with the reason it is missing when it is.

    A NamedTuple: every request builds one, and it costs less than a frozen dataclass.
    """

    client_ip: IPAddress | None = None
    # peer | cf-connecting-ip | cloudfront-viewer-address | x-forwarded-for | query; or why missing:
    # absent | malformed_<header>
    client_ip_source: str = "absent"
    edge: EdgeReport | None = None
    edge_missing: str = "absent"  # absent | untrusted_peer | ip_override | caching_string (the geo API)
    colo: str | None = None
    # cf-ray | x-edge-colo | query, or why missing: absent | untrusted_peer | malformed_colo | ip_override |
    # caching_string
    colo_source: str = "absent"
    declared: Coordinate | None = None  # X-Pelican-Coordinate
    declared_missing: str = "absent"  # absent | malformed_x-pelican-coordinate | out_of_range | ... (as the edge)

    def as_client(self, ip: IPAddress, source: str) -> EdgeContext:
        """Locate another address than the caller's: the edge's report, its colo and the caller's declared
        position describe the caller, not that address, so none is kept. `source` says why (also why they are
        missing)."""
        context = self._replace(
            client_ip=ip,
            client_ip_source=source,
            edge=None,
            edge_missing=source,
            declared=None,
            declared_missing=source if self.declared is not None else self.declared_missing,
        )
        if context.colo_source in ("cf-ray", "x-edge-colo"):
            context = context._replace(colo=None, colo_source=source)
        return context

    def with_query(self, ip: IPAddress | None, colo: str | None) -> EdgeContext:
        """Apply `?ip=` and `?colo=`: pretend to be that client, without the caller's edge."""
        context = self if ip is None else self.as_client(ip, "ip_override")._replace(client_ip_source="query")
        if colo is not None:
            context = context._replace(colo=colo, colo_source="query")
        return context


def clean_text(value: str | None) -> str | None:
    """Header text for display: None if empty or oversized; UTF-8 sent as raw bytes is decoded."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_TEXT_CHARS:
        return None
    if not value.isascii():
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return value if value.isprintable() else None


def clean_country(value: str | None) -> str | None:
    country = clean_text(value)
    if country is None or country.upper() in NO_COUNTRY:
        return None
    return country.upper()


def parse_colo(value: str | None) -> str | None:
    """A three-letter IATA code, upper-cased; None if it is anything else."""
    if value is None:
        return None
    code = value.strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def colo_from_ray(ray: str) -> str | None:
    """`CF-Ray: 230b030023ae2822-SJC` -> `SJC`."""
    _, sep, suffix = ray.strip().rpartition("-")
    return parse_colo(suffix) if sep else None


def forwarded_client(chain: str, trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The client in an X-Forwarded-For chain: the rightmost hop that is not one of our trusted proxies.

    Hops left of it were written by the client itself and prove nothing. A malformed hop in the part we
    must read breaks the chain: the client is then unknown, rather than a guess.
    """
    hops = chain.split(",")
    if len(hops) > MAX_FORWARDED_HOPS:
        return None
    address: IPAddress | None = None
    for hop in reversed(hops):
        address = parse_ip(hop)
        if address is None:
            return None
        if not in_networks(address, trusted):
            return address
    return address  # every hop is a trusted proxy: the leftmost is the origin


def read_report(headers: Mapping[str, str]) -> EdgeReport | None:
    """The first provider whose location headers are present (Cloudflare, CloudFront, generic)."""
    for provider, (lat, lon, city, country, region, postal) in EDGE_HEADERS.items():
        if lat in headers or lon in headers or city in headers or country in headers:
            return EdgeReport(
                provider=provider,  # type: ignore[arg-type]  # a key of EDGE_HEADERS
                latitude=headers.get(lat),
                longitude=headers.get(lon),
                city=clean_text(headers.get(city)),
                country=clean_country(headers.get(country)),
                region=clean_text(headers.get(region)) if region else None,
                postal_code=clean_text(headers.get(postal)) if postal else None,
            )
    return None


COORDINATE_HEADER = "x-pelican-coordinate"
# Go's strconv.ParseFloat syntax (Pelican's clients write `%g`: `lat=5e-05` occurs): decimal, hexadecimal with a
# binary exponent, or inf/infinity/nan (then out of range).
_GO_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_GO_WORDS = frozenset({"inf", "infinity", "nan"})


def go_float(text: str) -> float | None:
    """A number as Go's strconv.ParseFloat reads it, or None if it would refuse it."""
    if _GO_DECIMAL.fullmatch(text):
        return float(text)
    if _GO_HEX.fullmatch(text):
        return float.fromhex(text)
    return float(text) if text.lower().lstrip("+-") in _GO_WORDS else None


def read_declared(value: str | None) -> tuple[Coordinate | None, str]:
    """`X-Pelican-Coordinate: lat=<float>,long=<float>` as Pelican's director reads it (keys `lat` and `long`,
    spaces ignored, Go float syntax): (position, "x-pelican-coordinate") or (None, why not)."""
    if value is None:
        return None, "absent"
    fields: dict[str, float | None] = {}
    for part in "".join(value.split()).split(","):
        key, equals, number = part.partition("=")
        if equals and key in ("lat", "long"):
            fields[key] = go_float(number)
    latitude, longitude = fields.get("lat"), fields.get("long")
    if latitude is None or longitude is None:
        return None, f"malformed_{COORDINATE_HEADER}"
    try:
        return Coordinate(latitude, longitude), COORDINATE_HEADER
    except InvalidCoordinate as exc:
        return None, f"{exc.reason}_{COORDINATE_HEADER}"


# Where a trusted proxy names the client, in order of preference.
CLIENT_IP_HEADERS = ("cf-connecting-ip", "cloudfront-viewer-address", "x-forwarded-for")
# Where a trusted edge names the data centre that received the request, and how to read it.
COLO_HEADERS = {"cf-ray": colo_from_ray, "x-edge-colo": parse_colo}


# Every header the edge context reads, as ASGI servers name them (lower-case bytes).
READ_HEADERS = frozenset(
    name.encode()
    for name in (
        *(name for names in EDGE_HEADERS.values() for name in names if name),
        *CLIENT_IP_HEADERS,
        *COLO_HEADERS,
        COORDINATE_HEADER,
    )
)


def edge_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers `read_edge` reads, by lower-case name; repeated ones are joined with commas (RFC 9110).

    Joining matters for X-Forwarded-For: a client's own header line must not hide the one our proxy added.
    Only these are decoded: cookies, user agents and the rest are none of the locator's business.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        lowered = raw_name.lower()
        if lowered in READ_HEADERS:
            name, value = lowered.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def read_colo(headers: Mapping[str, str]) -> tuple[str | None, str]:
    for name, parse in COLO_HEADERS.items():
        value = headers.get(name)
        if value is not None:
            colo = parse(value)
            return (colo, name) if colo else (None, "malformed_colo")
    return None, "absent"


def read_client_ip(
    headers: Mapping[str, str], peer: IPAddress | None, trusted: bool, proxies: Sequence[IPNetwork]
) -> tuple[IPAddress | None, str]:
    """(address, where it came from), or (None, why not)."""
    if trusted:
        for name in CLIENT_IP_HEADERS:
            if name in headers:
                if name == "x-forwarded-for":
                    address = forwarded_client(headers[name], proxies)
                else:
                    address = parse_ip(headers[name])
                return (address, name) if address is not None else (None, f"malformed_{name}")
    return (peer, "peer") if peer is not None else (None, "absent")


def read_edge(headers: Mapping[str, str], peer_host: str | None, proxies: Sequence[IPNetwork]) -> EdgeContext:
    """Build the context of one request. `headers` must answer lower-case names (Starlette's Headers do)."""
    peer = parse_ip(peer_host)
    trusted = in_networks(peer, proxies)
    client_ip, client_ip_source = read_client_ip(headers, peer, trusted, proxies)
    report = read_report(headers)
    colo, colo_source = read_colo(headers)
    if not trusted:
        edge_missing = "untrusted_peer" if report is not None else "absent"
        report = None
        if colo_source != "absent":
            colo, colo_source = None, "untrusted_peer"
    else:
        edge_missing = "absent"
    declared, declared_source = read_declared(headers.get(COORDINATE_HEADER))
    return EdgeContext(
        client_ip=client_ip,
        client_ip_source=client_ip_source,
        edge=report,
        edge_missing=edge_missing,
        colo=colo,
        colo_source=colo_source,
        declared=declared,
        declared_missing="absent" if declared is not None else declared_source,
    )
