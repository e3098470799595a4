"""Which GeoIP database: each candidate measured on the project's own evaluation data, by the numbers that
decide the locator's picks.

Two sets of addresses, each with the true position of the site behind it:
- campus: the 2022 OSPool sites with an address from their institution's registered block
  (data/evaluation/2022/campus_addresses.csv). Real addresses at real sites: this set chooses.
- synthetic: the egress addresses of the synthetic model's records. The model picked them from GeoLite2 2018's
  own placements (the pool address GeoLite2 put nearest each site), so on this set another database is measured
  for agreement with GeoLite2 2018, not for accuracy: it shows how much the synthetic results depend on it.

Per database and set: addresses with a city, the median and 90th-percentile distance from the database's
position to the site (over those with a city), and the locator's correct picks on the same records with that
database (the evaluation harness, nothing else located: no edge, no colo, so the database alone decides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.harness import Harness, build_harness
from evaluation.paths import STUDY_2022_DIR
from evaluation.records import normalise, read_sites
from evaluation.synthetic import generate
from locator.core.addresses import parse_ip_literal
from locator.core.geo import Coordinate, great_circle_km
from locator.core.lookups import GeoIPLookup, GeoIPRecord

CAMPUS_FILE = STUDY_2022_DIR / "campus_addresses.csv"


def campus_addresses() -> dict[str, str]:
    """Site name (and each of its other names, lower case) -> the campus address."""
    campus = pd.read_csv(CAMPUS_FILE, dtype=str, keep_default_na=False)
    sites = read_sites(STUDY_2022_DIR / "sites.csv").set_index("site")
    addresses: dict[str, str] = {}
    for row in campus.itertuples(index=False):
        names = [row.site, *str(sites.at[row.site, "names"]).split(";")]
        for name in names:
            if name.strip():
                addresses[name.strip().lower()] = str(row.address)
    return addresses


def campus_records() -> pd.DataFrame:
    """One record per campus site: its true position and its address, nothing from an edge."""
    campus = pd.read_csv(CAMPUS_FILE, dtype=str, keep_default_na=False)
    sites = read_sites(STUDY_2022_DIR / "sites.csv").set_index("site")
    frame = pd.DataFrame(
        {
            "site": campus["site"],
            "latitude": [float(sites.at[site, "latitude"]) for site in campus["site"]],
            "longitude": [float(sites.at[site, "longitude"]) for site in campus["site"]],
            "client_ip": campus["address"],
        }
    )
    return normalise(frame)


def synthetic_records(count: int) -> pd.DataFrame:
    """The synthetic model's records with only their address kept: the database alone decides."""
    records = generate(count)
    blank = ["edge_latitude", "edge_longitude", "edge_city", "edge_country", "colo", "path", "namespace"]
    return records.assign(**{name: "" for name in blank})


@dataclass(frozen=True)
class Measured:
    addresses: int
    with_city: int
    median_km: float
    p90_km: float
    locator_correct: int
    records: int


def placements(database: GeoIPLookup, records: pd.DataFrame) -> tuple[int, np.ndarray]:
    """(distinct addresses, km from the site for each one the database gives a city)."""
    pairs = records.drop_duplicates(["client_ip", "site"])
    km: list[float] = []
    for row in pairs.itertuples(index=False):
        address = parse_ip_literal(row.client_ip)
        record: GeoIPRecord | None = None if address is None else database.lookup(address)
        if record is not None and record.city and record.latitude is not None and record.longitude is not None:
            site = Coordinate(row.latitude, row.longitude)
            km.append(great_circle_km(site, Coordinate(record.latitude, record.longitude)))
    return len(pairs), np.array(km)


def measure(harness: Harness, records: pd.DataFrame) -> Measured:
    """The database's placements and the locator's picks on `records`, with the harness's database."""
    database = harness.federation.sources.geoip
    assert database is not None  # build_harness refuses to run without one
    addresses, km = placements(database, records)
    _, summary = harness.evaluate(records)
    (population,) = summary["populations"].values()  # the records are all real or all synthetic
    stats = population["strategies"]["locator"]
    return Measured(
        addresses=addresses,
        with_city=len(km),
        median_km=float(np.median(km)) if len(km) else float("nan"),
        p90_km=float(np.percentile(km, 90)) if len(km) else float("nan"),
        locator_correct=int(stats["correct"]),
        records=int(stats["total"]),
    )


def compare(
    databases: Mapping[str, Path],
    caches_file: Path,
    environ: Mapping[str, str],
    synthetic_count: int,
    progress: Callable[[str], None] = lambda _: None,
) -> pd.DataFrame:
    """One row per (database, set), in the README's table layout; one harness (one check) per database."""
    sets: Sequence[tuple[str, pd.DataFrame]] = (
        ("campus 2022", campus_records()),
        (f"synthetic ({synthetic_count:,} jobs)", synthetic_records(synthetic_count)),
    )
    rows = []
    for name, path in databases.items():
        harness = build_harness(caches_file, {**environ, "LOCATOR_GEOIP_DB": str(path)})
        try:
            info = harness.inputs()["geoip"]
            for label, records in sets:
                progress(f"{name}: {label}")
                found = measure(harness, records)
                rows.append(
                    {
                        "database": f"{name} ({info['database_type']}, built {info['built']})",
                        "set": label,
                        "city found": f"{found.with_city}/{found.addresses}",
                        "median km": round(found.median_km, 1),
                        "p90 km": round(found.p90_km, 1),
                        "locator correct": f"{found.locator_correct}/{found.records}",
                    }
                )
        finally:
            harness.close()
    return pd.DataFrame(rows)
