"""Rebuild the data files under data/ from the public extracts in ../shared/data (maintainers only).

    python scripts/build_data.py [--shared ../shared/data]

The service never reads ../shared: it serves the files this script writes, which are committed.
Sources and licences are listed in the README ("Data and licences").
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from locator.files import write_csv
from locator.ourairports import build_airports_csv

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

CACHE_COLUMNS = (
    "name",
    "endpoint",
    "latitude",
    "longitude",
    "status",
    "site",
    "city",
    "country",
    "ip",
    "note",
)
# Topology states no port for Pelican caches; Pelican's default web port (Server.WebPort) is 8443, https.
PELICAN_PORT = 8443


def current_caches(shared: Path) -> list[dict[str, str]]:
    """Active, enabled, production OSDF caches from OSG Topology (2026-08-21)."""
    rows = []
    with (shared / "caches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (row["active"], row["disable"], row["production"]) != ("true", "false", "true"):
                continue
            down = row["downtime_at_snapshot"] == "true"
            rows.append(
                {
                    "name": row["name"],
                    "endpoint": f"https://{row['fqdn']}:{PELICAN_PORT}",
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                    "status": "down" if down else "up",
                    "site": row["site"],
                    "city": row["city"],
                    "country": row["country"],
                    "ip": "",
                    "note": "Outage downtime in OSG Topology at the 2026-08-21 snapshot" if down else "",
                }
            )
    return rows


def worker_2022_caches(shared: Path) -> list[dict[str, str]]:
    """The 9 caches hard-coded in the 2022 Cloudflare Worker, in its order, with its coordinates."""
    rows = []
    with (shared / "cache_locator_2022_caches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    "name": row["topology_resource_2022"],
                    "endpoint": f"http://{row['endpoint']}",
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                    "status": "up",
                    "site": row["topology_site_2022"],
                    "city": "",
                    "country": "United States",
                    "ip": "",
                    "note": "djw8605/cache-locator index.js (2022-01-20), worker order and coordinates",
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    shared = parser.parse_args().shared
    n = write_csv(DATA / "caches.csv", CACHE_COLUMNS, current_caches(shared))
    print(f"data/caches.csv: {n} caches")
    n = write_csv(DATA / "evaluation" / "2022" / "caches.csv", CACHE_COLUMNS, worker_2022_caches(shared))
    print(f"data/evaluation/2022/caches.csv: {n} caches")
    from_source, added = build_airports_csv(
        shared / "airports_ourairports.csv", DATA / "airports.csv", DATA / "airports_supplement.csv"
    )
    print(f"data/airports.csv: {from_source} codes from OurAirports + {added} from the supplement")


if __name__ == "__main__":
    main()
