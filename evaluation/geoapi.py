"""The CVMFS geo API, legacy service and locator side by side: per site, the same request to both.

The request is the one stashcp sends through WLCG WPAD: `/api/v1.0/geo/<the job's address>/<the host of every
cache in service for public data>`, arriving through the edge the record describes (its Cloudflare headers).
The legacy answer comes from the emulation (evaluation.legacy), the locator's from the code its endpoint runs
(locator.web.geoapi), both in the wire format. Where the orders differ, the table says where each located the
client, how far that is from the site, and what the locator's cascade skipped why. Distances to the site use
the `haversine` package, not the locator's own code.
"""

from __future__ import annotations

import math

import pandas as pd
from haversine import haversine

from evaluation.databases import campus_records
from evaluation.harness import Harness
from evaluation.legacy import LegacyCrash, LegacyGeo, legacy_api
from evaluation.paths import STUDY_2022_DIR
from evaluation.strategies import RECORD_EDGE_PEER, record_context, record_headers
from evaluation.truth import nearest_eligible
from locator.core.geo import Coordinate, distance_matrix_km
from locator.web.geoapi import GeoAPI, WireAnswer

EDGE_COLUMNS = ["client_ip", "edge_latitude", "edge_longitude", "edge_city", "edge_country", "colo"]
SHOWN = 3  # caches of each order shown in the table


def campus_requests() -> pd.DataFrame:
    """The 2022 OSPool sites, each asking from an address of its institution's registered block
    (evaluation.databases), received at the Cloudflare colo of May 2022 nearest to it (the synthetic model's
    most common case, assumed here) with no edge position (so that only the address and the colo decide)."""
    records = campus_records()
    colos = pd.read_csv(STUDY_2022_DIR / "cloudflare_colos.csv", keep_default_na=False)
    colos = colos[colos["flag"] == ""].reset_index(drop=True)
    km = distance_matrix_km(
        records["latitude"].to_numpy(float),
        records["longitude"].to_numpy(float),
        colos["latitude"].to_numpy(float),
        colos["longitude"].to_numpy(float),
    )
    return records.assign(colo=colos["iata"].to_numpy(object)[km.argmin(axis=1)])


def off_km(position: Coordinate | None, latitude: float, longitude: float) -> float:
    """How far a located client is from its site (NaN: not located)."""
    if position is None:
        return math.nan
    return float(haversine((position.latitude, position.longitude), (latitude, longitude)))


def compare(harness: Harness, records: pd.DataFrame) -> pd.DataFrame:
    """One row per site (its first record with a client address): both answers and why they differ."""
    federation = harness.federation
    legacy = LegacyGeo(harness.legacy_geoip, federation.caches)
    serving = [cache for cache in federation.caches.in_service if cache.serves(None)]  # public data, as stashcp
    hosts = [cache.host for cache in serving]
    path_info = f"//v1.0/geo/{{}}/{','.join(hosts)}"
    rows = []
    asking = records[records["client_ip"] != ""].drop_duplicates("site")
    for record in asking.itertuples(index=False):
        edge = tuple(str(getattr(record, column)) for column in EDGE_COLUMNS)
        headers = record_headers(edge)
        environ = {"HTTP_CF_CONNECTING_IP": headers["cf-connecting-ip"], "REMOTE_ADDR": RECORD_EDGE_PEER}
        old = legacy_api(path_info.format(record.client_ip), environ, legacy)
        new, location = GeoAPI(federation, {}).answer(record.client_ip, hosts, record_context(edge))
        try:
            legacy_at = legacy.client_location(record.client_ip, environ)
        except LegacyCrash:
            legacy_at = None
        nearest, _ = nearest_eligible(federation.caches, record.latitude, record.longitude, None)

        def names(answer: WireAnswer) -> list[str]:
            order = answer.order
            return [] if order is None else [serving[i].name for i in order]

        old_names, new_names = names(old), names(new)
        rows.append(
            {
                "site": record.site,
                "client_ip": record.client_ip,
                "colo": record.colo,
                "nearest": nearest or "",
                "legacy_answer": old.body.strip(),
                "locator_answer": new.body.strip(),
                "legacy_first": old_names[0] if old_names else "",
                "locator_first": new_names[0] if new_names else "",
                "legacy_order": ", ".join(old_names[:SHOWN]),
                "locator_order": ", ".join(new_names[:SHOWN]),
                "same_order": old.body == new.body,
                "legacy_off_km": round(off_km(legacy_at, record.latitude, record.longitude), 1),
                "locator_off_km": round(off_km(location.coordinate, record.latitude, record.longitude), 1),
                "locator_method": location.method.value,
                "locator_skipped": "; ".join(f"{source}:{reason}" for source, reason in location.skipped.items()),
            }
        )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    differ = table[~table["same_order"]]
    closer = differ["locator_off_km"].fillna(math.inf) < differ["legacy_off_km"].fillna(math.inf)
    right = {name: int((table[f"{name}_first"] == table["nearest"]).sum()) for name in ("legacy", "locator")}
    return (
        f"{len(table)} sites asked both services the same geo API request: {int(table['same_order'].sum())} "
        f"same order, {len(differ)} different; where different, the locator placed the client closer to its "
        f"site in {int(closer.sum())} of {len(differ)}. First server the nearest cache: legacy "
        f"{right['legacy']}/{len(table)}, locator {right['locator']}/{len(table)}."
    )
