"""Synthetic observations from a documented, seeded model; every record says `synthetic=true`.

The model (parameters in SyntheticModel, defaults below) draws jobs at the January 2022 OSPool sites:
1. Each site has 1-3 egress addresses (NAT), real GeoLite2 addresses from data/evaluation/synthetic/
   ip_pool.csv. Each address is, with these probabilities, known to MaxMind:
   - at country level only, at the US centroid in Kansas   p_maxmind_country     0.10
   - with a city, but far (>800 km) from the site          p_maxmind_misplaced   0.04
   - with no location at all                               p_maxmind_no_location 0.005
   - otherwise with a city: the pool address nearest the site.
2. The CDN edge reports, per address (a GeoIP lookup gives every job behind an address the same answer):
   the misplaced position (with a city) when MaxMind's registry data is wrong and the edge shares it
   (p_edge_follows_misplaced 0.5); no city with probability p_edge_fails 0.06 (half of those keep
   Cloudflare's default point, half send no coordinates); otherwise the site's position with a Gaussian
   error of edge_jitter_km 10 km, and a city. Each job goes out through one of its site's addresses.
3. The request lands at the nearest Cloudflare colo of May 2022 (0.80), the 2nd (0.12) or 3rd nearest
   (0.05), or any colo within 2,000 km (0.03): anycast does not always pick the nearest. Colos whose
   listed position is more than 50 km from their airport are left out (listing errors).
4. Each job reads from one namespace (`path`): OSPool users' data, public and in no listed namespace
   (0.85), LIGO's public /gwdata (0.08), LIGO's token-protected /igwn/ligo (0.05), GlueX's /gluex (0.02).
   No published figure gives this mix for OSPool jobs: it is an assumption that makes every site ask for
   data some caches refuse, in shares small enough to leave public data the common case.
5. Outside North America (`international=True` adds the active compute sites outside the US in OSG Topology
   of 2026, data/evaluation/synthetic/international_sites.csv), the rates above are replaced per region
   (REGIONS). A GeoIP failure (`p_geoip_fails`) is, for the local database and the edge alike, half the time
   no usable answer and half the time a city more than 800 km away; the edge shares a misplaced answer as
   above. Sources: "Lost in the Prefix" (arXiv 2605.21937, 2026) measured failure rates of 9-20% in Europe,
   53-61% in Asia and 66-72% in Africa (the midpoints are used); nobody publishes South America's or
   Oceania's, so 30% is assumed, between Europe and Asia. Anycast carries clients farther outside North
   America and Europe (Li et al., SIGCOMM 2018: "many by over 5000 km"; an Auckland client served from
   Sydney, 2,150 km): there the nearest colo receives 60%, the 2nd 15%, the 3rd 10%, and any colo within
   5,000 km 15% (assumed). Europe keeps North America's colo weights within 2,000 km.
Times are one second apart from 2026-01-01, so sticky fallback orders change as they would.
The true site position is the OSG Topology one. The numbers are assumptions, not measurements: the
model exercises every branch of every strategy at realistic rates; it does not predict real accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from evaluation.defaults import SYNTHETIC_SEED
from evaluation.paths import STUDY_2022_DIR, SYNTHETIC_DIR
from evaluation.records import normalise
from locator.core.geo import EARTH_RADIUS_KM, distance_matrix_km

CENTROID = ("37.751", "-97.822")
INTERNATIONAL_SITES = SYNTHETIC_DIR / "international_sites.csv"
INTERNATIONAL_POOL = SYNTHETIC_DIR / "ip_pool_international.csv"


@dataclass(frozen=True)
class RegionRates:
    """How GeoIP and anycast behave for clients of one region (see the module docstring for the sources)."""

    p_geoip_fails: float
    colo_weights: tuple[float, float, float, float]
    far_colo_km: float


FAR_ANYCAST = (0.60, 0.15, 0.10, 0.15)
REGIONS: dict[str, RegionRates | None] = {  # None: the model's own (North American) parameters
    "North America": None,
    "Europe": RegionRates(0.15, (0.80, 0.12, 0.05, 0.03), 2000.0),
    "South America": RegionRates(0.30, FAR_ANYCAST, 5000.0),
    "Asia": RegionRates(0.57, FAR_ANYCAST, 5000.0),
    "Africa": RegionRates(0.69, FAR_ANYCAST, 5000.0),
    "Oceania": RegionRates(0.30, FAR_ANYCAST, 5000.0),
}
REGION_OF_COUNTRY = {
    "United States": "North America",
    "Canada": "North America",
    "Mexico": "North America",
    "Puerto Rico": "North America",
    "Brazil": "South America",
    "United Kingdom": "Europe",
    "Germany": "Europe",
    "Czechia": "Europe",
    "Latvia": "Europe",
    "Denmark": "Europe",
    "Russia": "Europe",
    "India": "Asia",
    "China": "Asia",
    "Taiwan": "Asia",
    "South Korea": "Asia",
    "Lebanon": "Asia",
    "South Africa": "Africa",
    "Australia": "Oceania",
}


@dataclass(frozen=True)
class SiteRates:
    """What one site's addresses and jobs are drawn with."""

    p_kinds: list[float]  # country-level, misplaced, no location, city
    p_edge_fails: float
    colo_cdf: np.ndarray
    far_colo_km: float


@dataclass(frozen=True)
class SyntheticModel:
    seed: int = SYNTHETIC_SEED
    p_maxmind_country: float = 0.10
    p_maxmind_misplaced: float = 0.04
    p_maxmind_no_location: float = 0.005
    p_edge_follows_misplaced: float = 0.5
    p_edge_fails: float = 0.06
    edge_jitter_km: float = 10.0
    colo_weights: tuple[float, float, float, float] = (0.80, 0.12, 0.05, 0.03)
    far_colo_km: float = 2000.0
    max_egress: int = 3
    international: bool = False  # add the sites outside the US, with per-region rates
    namespaces: tuple[tuple[str, float], ...] = (
        ("/ospool/ap20/data", 0.85),
        ("/gwdata/O3", 0.08),
        ("/igwn/ligo/frames", 0.05),
        ("/gluex/data", 0.02),
    )


def site_regions(international: bool = True) -> dict[str, str]:
    sites, _, _ = load_inputs(international)
    return dict(zip(sites["site"], sites["region"], strict=True))


def region(country: str) -> str:
    return REGION_OF_COUNTRY.get(country, "North America" if not country else "unknown")


def load_inputs(international: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sites = pd.read_csv(STUDY_2022_DIR / "sites.csv", keep_default_na=False)
    sites = sites[sites["ospool_2022"].astype(str).str.lower() == "true"].reset_index(drop=True)
    if international:
        more = pd.read_csv(INTERNATIONAL_SITES, keep_default_na=False)
        sites = pd.concat([sites, more[~more["site"].isin(sites["site"])]], ignore_index=True)
    sites["region"] = [region(country) for country in sites["country"]]
    pool = pd.read_csv(SYNTHETIC_DIR / "ip_pool.csv", keep_default_na=False)
    if international:
        pool = pd.concat([pool, pd.read_csv(INTERNATIONAL_POOL, keep_default_na=False)], ignore_index=True)
    colos = pd.read_csv(STUDY_2022_DIR / "cloudflare_colos.csv", keep_default_na=False)
    # Flagged rows have positions far from their airport (MDL placed in New Jersey, BTS with latitude and
    # longitude swapped): the data centre is really at the airport its code names, so leave them out.
    colos = colos[colos["flag"] == ""].reset_index(drop=True)
    return sites, pool, colos


def site_rates(model: SyntheticModel, site_region: str) -> SiteRates:
    rates = REGIONS.get(site_region)
    if rates is None:
        p = [model.p_maxmind_country, model.p_maxmind_misplaced, model.p_maxmind_no_location]
        weights, far, edge_fails = model.colo_weights, model.far_colo_km, model.p_edge_fails
    else:
        half = rates.p_geoip_fails / 2
        p, weights, far, edge_fails = [0.0, half, half], rates.colo_weights, rates.far_colo_km, half
    cdf = np.cumsum(weights)
    return SiteRates([*p, 1.0 - sum(p)], edge_fails, cdf / cdf[-1], far)


def _edge_report(
    rng: np.random.Generator, model: SyntheticModel, site: pd.Series, p_fails: float
) -> tuple[str, str, str]:
    """(latitude, longitude, city) as the edge reports one address of `site`."""
    if rng.random() < p_fails:
        return CENTROID + ("",) if rng.random() < 0.5 else ("", "", "")
    north, east = rng.normal(0.0, model.edge_jitter_km, 2) / EARTH_RADIUS_KM * (180 / np.pi)
    lat = float(np.clip(site["latitude"] + north, -90, 90))
    lon = site["longitude"] + east / max(np.cos(np.radians(site["latitude"])), 0.05)
    return f"{lat:.4f}", f"{lon:.4f}", str(site["city"] or site["site"])


def generate(count: int, model: SyntheticModel = SyntheticModel()) -> pd.DataFrame:
    """`count` synthetic observation records (see the module docstring for the model)."""
    rng = np.random.default_rng(model.seed)
    sites, pool, colos = load_inputs(model.international)
    rates = [site_rates(model, name) for name in sites["region"]]
    site_lat, site_lon = sites["latitude"].to_numpy(float), sites["longitude"].to_numpy(float)
    cities = pool[pool["kind"] == "city"].reset_index(drop=True)
    to_city = distance_matrix_km(
        site_lat, site_lon, cities["latitude"].to_numpy(float), cities["longitude"].to_numpy(float)
    )
    country_ips = pool.loc[pool["kind"] == "country", "ip"].to_numpy()
    missing_ips = pool.loc[pool["kind"] == "no_location", "ip"].to_numpy()

    # 1. egress addresses per site, and what MaxMind and the CDN edge say about each: both are lookups
    #    of the address, so they are the same for every job behind it.
    egress: list[list[tuple[str, tuple[str, str, str]]]] = []  # per site: (address, edge report)
    kinds = ["country", "misplaced", "no_location", "city"]
    for s in range(len(sites)):
        addresses = []
        for _ in range(rng.integers(1, model.max_egress + 1)):
            kind = rng.choice(kinds, p=rates[s].p_kinds)
            edge = _edge_report(rng, model, sites.iloc[s], rates[s].p_edge_fails)
            if kind == "country":
                address = str(rng.choice(country_ips))
            elif kind == "no_location":
                address = str(rng.choice(missing_ips))
            elif kind == "misplaced":
                row = cities.iloc[int(rng.choice(np.flatnonzero(to_city[s] > 800.0)))]
                address = str(row["ip"])
                if rng.random() < model.p_edge_follows_misplaced:
                    edge = (
                        f"{float(row['latitude']):.4f}",
                        f"{float(row['longitude']):.4f}",
                        str(row["city"]),
                    )
            else:
                address = str(cities.iloc[int(np.argmin(to_city[s]))]["ip"])
            addresses.append((address, edge))
        egress.append(addresses)

    # 2. per job: the site and which of its addresses the job went out through
    site = rng.integers(0, len(sites), count)
    pick = rng.random(count)
    chosen = [egress[s][int(u * len(egress[s]))] for s, u in zip(site.tolist(), pick.tolist(), strict=True)]
    ip = np.array([address for address, _ in chosen], dtype=object)
    lat_text = np.array([edge[0] for _, edge in chosen], dtype=object)
    lon_text = np.array([edge[1] for _, edge in chosen], dtype=object)
    city = np.array([edge[2] for _, edge in chosen], dtype=object)
    us = (sites["country"].to_numpy(object) == "United States")[site]

    # 3. the receiving colo
    to_colo = distance_matrix_km(
        site_lat, site_lon, colos["latitude"].to_numpy(float), colos["longitude"].to_numpy(float)
    )
    ranked = np.argsort(to_colo, axis=1, kind="stable")
    draw = rng.random(count)  # as rng.choice(4, p=weights) draws, with each site's own weights
    route = np.array([int(rates[s].colo_cdf.searchsorted(u, side="right")) for s, u in zip(site, draw, strict=True)])
    colo_index = ranked[site, np.minimum(route, 2)]
    for row in np.flatnonzero(route == 3):
        near = np.flatnonzero(to_colo[site[row]] <= rates[site[row]].far_colo_km)
        colo_index[row] = rng.choice(near) if len(near) else ranked[site[row], 0]

    # 4. the namespace each job reads from
    prefixes = [prefix for prefix, _ in model.namespaces]
    chosen_prefix = rng.choice(len(prefixes), size=count, p=[share for _, share in model.namespaces])
    paths = [f"{prefixes[k]}/file{i % 1000:03d}.dat" for i, k in enumerate(chosen_prefix.tolist())]

    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    times = pd.to_datetime(start + np.arange(count), unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return normalise(
        pd.DataFrame(
            {
                "site": sites["site"].to_numpy(object)[site],
                "latitude": site_lat[site],
                "longitude": site_lon[site],
                "client_ip": ip,
                "edge_latitude": lat_text,
                "edge_longitude": lon_text,
                "edge_city": city,
                "edge_country": np.where(us & (city != ""), "US", ""),
                "colo": colos["iata"].to_numpy(object)[colo_index],
                "path": paths,
                "synthetic": True,
                "time": times,
                "note": f"synthetic model seed={model.seed}",
            }
        )
    )
