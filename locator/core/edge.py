"""The edge context: who the client is and what the CDN edge in front of us said about it.

Trust rule: forwarded client addresses (CF-Connecting-IP, CloudFront-Viewer-Address, X-Forwarded-For)
and edge location headers count only when the socket peer is a trusted proxy. Anyone can send those
headers; only our own edge or ingress may be believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, NamedTuple

import msgspec

from locator.core.addresses import IPAddress, IPNetwork, in_networks, parse_ip

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

    def as_client(self, ip: IPAddress, source: str) -> EdgeContext:
        """Locate another address than the caller's: the edge's report and its colo describe the caller's
        connection, not that address, so neither is kept. `source` says why (also why they are missing)."""
        context = self._replace(client_ip=ip, client_ip_source=source, edge=None, edge_missing=source)
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
    return EdgeContext(
        client_ip=client_ip,
        client_ip_source=client_ip_source,
        edge=report,
        edge_missing=edge_missing,
        colo=colo,
        colo_source=colo_source,
    )
