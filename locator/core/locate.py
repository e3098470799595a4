"""THE location cascade: where is the client? The only place this logic lives.

Sources are tried in order; the first usable one wins and every earlier one records why it was skipped:
1. declared  `?lat=&lon=` sent by the client (a job that knows where it is, or an operator testing), else
             `X-Pelican-Coordinate` (Pelican's clients with a configured location).
2. override  the operator's CIDR table, longest prefix first; matches private addresses too.
3. edge      latitude/longitude from the CDN edge (Cloudflare, CloudFront or generic headers).
4. geoip     the client address in the local MaxMind City database.
5. colo      the IATA code of the edge data centre that received the request, in the airport table
             (or the deployment's default colo).
6. fallback  no position: the caller orders caches in a sticky random order.

A position is unusable when it is missing, not a number, out of range, exactly 0,0, or has no city
(MaxMind and Cloudflare put country-only answers at the country centroid: 37.751,-97.822 for the US);
a GeoIP record also when it has no location or its accuracy radius is at least `max_accuracy_km`.

Cross-check: an edge or GeoIP position farther than `far_from_colo_km` from the colo that received the
request is suspect (anycast rarely carries a North American or European client more than ~1,500 km; a GeoIP
record placing a Boulder client in Virginia does), so it is skipped as `far_from_colo` and the colo decides.
For colos on other continents the distance is `far_from_colo_elsewhere_km` (5,000 km): anycast carries
clients there much farther (`python -m evaluation regions` measures the trade, README "Outside North
America").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from locator.core.addresses import is_public
from locator.core.edge import EdgeContext, EdgeReport
from locator.core.geo import Coordinate, InvalidCoordinate, great_circle_km
from locator.core.lookups import Airport, AirportLookup, DamagedRecord, GeoIPLookup, OverrideTable


class Method(StrEnum):
    DECLARED = "declared"
    OVERRIDE = "override"
    EDGE = "edge"
    GEOIP = "geoip"
    COLO = "colo"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class Policy:
    """The cascade's tunables (from Settings)."""

    max_accuracy_km: float = 900.0
    far_from_colo_km: float = 1500.0  # colos in North America and Europe; 0 disables the cross-check
    default_colo: str | None = None
    far_from_colo_elsewhere_km: float = 5000.0  # colos elsewhere, or of unknown continent

    def far_km(self, colo: Airport) -> float:
        return self.far_from_colo_km if colo.continent in ("NA", "EU") else self.far_from_colo_elsewhere_km


@dataclass(frozen=True)
class Sources:
    """The lookups the cascade may use; any may be absent (a degraded but working service)."""

    overrides: OverrideTable = field(default_factory=OverrideTable)
    geoip: GeoIPLookup | None = None
    airports: AirportLookup | None = None


class Location(NamedTuple):
    """The cascade's answer: the method used, the position (None for fallback) and what was skipped why.

    A NamedTuple rather than a frozen dataclass: one is built for every request, and this is cheaper.
    """

    method: Method
    coordinate: Coordinate | None
    skipped: dict[str, str]
    client_ip: str | None = None
    city: str | None = None
    country: str | None = None
    region: str | None = None
    postal_code: str | None = None
    colo: str | None = None
    accuracy_km: float | None = None
    edge: EdgeReport | None = None  # what a trusted edge reported, used or not


class _Skip(Exception):
    """A source is unusable; `reason` is the machine-readable code shown in `skipped`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _checked(coordinate: Coordinate | None, city: str | None, colo: Airport | None, policy: Policy) -> Coordinate:
    """Apply the rules every GeoIP-derived position must pass (edge and local GeoIP alike)."""
    if coordinate is None:
        raise _Skip("missing_coordinates")
    if coordinate.is_null_island:
        raise _Skip("null_island")
    if not city:
        raise _Skip("no_city")
    if colo is not None:
        far_km = policy.far_km(colo)
        if far_km > 0 and great_circle_km(coordinate, colo.coordinate) > far_km:
            raise _Skip("far_from_colo")
    return coordinate


def _parse(latitude: str | float | None, longitude: str | float | None) -> Coordinate:
    try:
        return Coordinate.parse(latitude, longitude)
    except InvalidCoordinate as exc:
        raise _Skip(exc.reason) from None


def locate(declared: Coordinate | None, context: EdgeContext, sources: Sources, policy: Policy = Policy()) -> Location:
    """Run the cascade for one request (see the module docstring for the order and the rules)."""
    skipped: dict[str, str] = {}
    ip = context.client_ip

    # The colo is resolved first: the cross-check of steps 3 and 4 needs it.
    colo_code = context.colo or policy.default_colo
    colo: Airport | None = None
    if colo_code is not None and sources.airports is not None:
        colo = sources.airports.lookup(colo_code)

    edge = context.edge
    unlocated = Location(
        Method.FALLBACK,
        None,
        skipped,
        client_ip=None if ip is None else str(ip),
        colo=colo_code,
        country=None if edge is None else edge.country,
        edge=edge,
    )

    # 1. declared
    if declared is None:
        declared = context.declared
    if declared is None:
        skipped["declared"] = context.declared_missing
    elif declared.is_null_island:
        skipped["declared"] = "null_island"
    else:
        return unlocated._replace(method=Method.DECLARED, coordinate=declared)

    # 2. override
    if ip is None:
        skipped["override"] = "no_client_ip"
    elif not len(sources.overrides):
        skipped["override"] = "no_overrides"
    elif (override := sources.overrides.lookup(ip)) is None:
        skipped["override"] = "no_match"
    else:
        return unlocated._replace(method=Method.OVERRIDE, coordinate=override.coordinate)

    # 3. edge
    if edge is None:
        skipped["edge"] = context.edge_missing
    else:
        try:
            position = _checked(_parse(edge.latitude, edge.longitude), edge.city, colo, policy)
        except _Skip as skip:
            skipped["edge"] = skip.reason
        else:
            return unlocated._replace(
                method=Method.EDGE,
                coordinate=position,
                city=edge.city,
                region=edge.region,
                postal_code=edge.postal_code,
            )

    # 4. geoip
    try:
        if sources.geoip is None:
            raise _Skip("no_database")
        if ip is None:
            raise _Skip("no_client_ip")
        if not is_public(ip):
            raise _Skip("not_public")
        try:
            record = sources.geoip.lookup(ip)
        except DamagedRecord:
            raise _Skip("damaged_record") from None
        if record is None:
            raise _Skip("not_found")
        if record.latitude is None or record.longitude is None:
            raise _Skip("no_location")
        position = _parse(record.latitude, record.longitude)
        if record.accuracy_km is not None and record.accuracy_km >= policy.max_accuracy_km:
            raise _Skip("low_accuracy")
        position = _checked(position, record.city, colo, policy)
    except _Skip as skip:
        skipped["geoip"] = skip.reason
    else:
        return unlocated._replace(
            method=Method.GEOIP,
            coordinate=position,
            city=record.city,
            country=record.country,
            accuracy_km=None if record.accuracy_km is None else float(record.accuracy_km),
        )

    # 5. colo
    if colo_code is None:
        skipped["colo"] = context.colo_source
    elif sources.airports is None:
        skipped["colo"] = "no_airport_table"
    elif colo is None:
        skipped["colo"] = "unknown_colo"
    else:
        return unlocated._replace(method=Method.COLO, coordinate=colo.coordinate)

    # 6. fallback
    return unlocated
