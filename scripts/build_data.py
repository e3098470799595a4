"""Rebuild the data files under data/ from the public extracts in ../shared/data (maintainers only).

    python -m scripts.build_data [--shared ../shared/data]

The service never reads ../shared: it serves the files this script writes, which are committed.
Sources and licences are listed in the README ("Data and licences").
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
from pathlib import Path

from locator.sources.caches_file import CACHE_COLUMNS
from locator.sources.files import write_csv
from locator.sources.ourairports import build_airports_csv

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
K8S = ROOT / "deploy" / "k8s"
SOURCES = DATA / "sources"  # copies of the extracts that tests and the airports build read: no ../shared needed

# Topology states no port for Pelican caches; Pelican's default web port (Server.WebPort) is 8443, https.
PELICAN_PORT = 8443


def served_namespaces(shared: Path) -> dict[str, list[str]]:
    """Cache -> the namespaces OSG Topology's own rule lets it serve (AllowedVOs x AllowedCaches)."""
    served: dict[str, list[str]] = {}
    with (shared / "osdf_namespace_caches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            served.setdefault(row["cache"], []).append(row["namespace"])
    return served


def namespaces_cell(allowed_vos: str, namespaces: list[str]) -> str:
    """The caches file's `namespaces` cell: the listed namespaces a cache serves, plus `public` when it is open
    to public data outside them (AllowedVOs ANY or ANY_PUBLIC); `none` when it serves nothing."""
    vos = set(allowed_vos.split(";"))
    items = sorted(set(namespaces)) + (["public"] if vos & {"ANY", "ANY_PUBLIC"} else [])
    return ";".join(items) or "none"


def topology_caches(shared: Path, production: bool) -> list[dict[str, str]]:
    """Active, enabled OSDF caches from OSG Topology (2026-08-21): production ones, or the ITB ones."""
    served = served_namespaces(shared)
    rows = []
    with (shared / "caches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (row["active"], row["disable"], row["production"] == "true") != ("true", "false", production):
                continue
            down = row["downtime_at_snapshot"] == "true"
            rows.append(
                {
                    "name": row["name"],
                    "endpoint": f"https://{row['fqdn']}:{PELICAN_PORT}",
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                    "status": "up",
                    "downtime": "true" if down else "false",
                    "weight": "1",
                    "namespaces": namespaces_cell(row["allowed_vos"], served.get(row["name"], [])),
                    "site": row["site"],
                    "city": row["city"],
                    "country": row["country"],
                    "ip": "",
                    "note": "Outage downtime in OSG Topology at the 2026-08-21 snapshot" if down else "",
                }
            )
    return rows


def namespaces(shared: Path) -> list[dict[str, str]]:
    """The namespaces OSG Topology lists (/osdf/namespaces), with whether reading needs a token."""
    listing = json.loads((shared / "osdf_namespaces.json").read_text(encoding="utf-8"))
    vo: dict[str, str] = {}
    with (shared / "osdf_namespace_caches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            vo[row["namespace"]] = row["namespace_vo"]
    return [
        {
            "path": entry["path"],
            "require_token": "true" if entry["usetokenonread"] else "false",
            "vo": vo.get(entry["path"], ""),
        }
        for entry in sorted(listing["namespaces"], key=lambda entry: entry["path"])
    ]


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
                    "downtime": "false",
                    "weight": "1",
                    "namespaces": "public",
                    "site": row["topology_site_2022"],
                    "city": "",
                    "country": "United States",
                    "ip": "",
                    "note": "djw8605/cache-locator index.js (2022-01-20), worker order and coordinates",
                }
            )
    return rows


def site_row(row: dict[str, str]) -> dict[str, str]:
    """A Topology extract's site as the evaluation's sites files hold it."""
    keys = {"site": "site", "latitude": "latitude", "longitude": "longitude", "city": "city", "country": "country_norm"}
    return {ours: row[theirs] for ours, theirs in keys.items()}


def sites_2022(shared: Path) -> list[dict[str, str]]:
    """OSG Topology sites with compute resources (2022-01-19), every name a job may report, OSPool flag."""
    names: dict[str, set[str]] = {}
    with (shared / "compute_resources_2022-01-19.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            names.setdefault(row["site"], set()).update({row["name"], row["resource_group"]})
    ospool: set[str] = set()
    with (shared / "ospool_factory_entries_2022-01-19.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["topology_site"]:
                names.setdefault(row["topology_site"], set()).add(row["glidein_resource_name"])
                if row["likely_ospool_entry"] == "true":
                    ospool.add(row["topology_site"])
    rows = []
    with (shared / "sites_2022-01-19.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if not row["latitude"] or not row["longitude"]:
                continue
            other = sorted(n for n in names.get(row["site"], set()) if n and n != row["site"])
            rows.append(
                {
                    **site_row(row),
                    "ospool_2022": "true" if row["site"] in ospool else "false",
                    "names": ";".join(other),
                }
            )
    return rows


def observations_2022(shared: Path) -> list[dict[str, str]]:
    """The study's three named observations in the record schema (the blog gives no client addresses)."""
    edge = {  # what the blog says the edge reported
        "UColorado_HEP": ("", "", "", "DFW", "colo"),
        "ASU-DELL_M420": ("37.751", "-97.822", "", "LAX", "colo"),  # Cloudflare's default point, no city
        "SIUE-CC-production": ("", "", "", "", "geoip (presumed; the blog does not say)"),
    }
    rows = []
    with (shared / "evaluation_2022_blog_sites.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            site = row["glidein_resource_name"]
            if site not in edge:
                continue
            lat, lon, city, colo, method = edge[site]
            rows.append(
                {
                    "site": site,
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                    "client_ip": "",
                    "edge_latitude": lat,
                    "edge_longitude": lon,
                    "edge_city": city,
                    "edge_country": "US" if lat else "",
                    "colo": colo,
                    "legacy_pick": row["legacy_geoip_pick"],
                    "worker_pick": row["cloudflare_pick"],
                    "worker_method": method,
                    "synthetic": "false",
                    "time": "2022-01-21T00:00:00+00:00",
                    "note": row["note"],
                }
            )
    return rows


def cloudflare_colos_2022(shared: Path) -> list[dict[str, str]]:
    with (shared / "cloudflare_colos_2022-05-16.csv").open(newline="", encoding="utf-8") as handle:
        return [
            {
                "iata": r["iata"],
                "city": r["city"],
                "country": r["cca2"],
                "latitude": r["latitude"],
                "longitude": r["longitude"],
                "flag": r["flag"],
            }
            for r in csv.DictReader(handle)
        ]


# Topology rows whose position contradicts their city, left out of the synthetic model's sites.
MISPLACED_SITES = {
    "shenma high performance computing at IPP CAS": "its coordinates (37.40, -116.87) are in Nevada, its city Hefei",
}


def international_sites(shared: Path) -> list[dict[str, str]]:
    """Topology's sites outside the US with an active compute resource, for the synthetic model's
    international sites (its per-region rates: evaluation/synthetic.py)."""
    rows = []
    with (shared / "sites.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["country_norm"] == "United States" or row["any_active"] != "true":
                continue
            if row["site"] in MISPLACED_SITES:
                print(f"left out {row['site']}: {MISPLACED_SITES[row['site']]}")
                continue
            rows.append(site_row(row))
    return sorted(rows, key=lambda row: row["site"])


def compute_sites(shared: Path) -> list[dict[str, str]]:
    """Topology's sites with an active production compute resource and their size (how many active compute
    resources they have), for the load simulation's arrival rates (evaluation/loadsim.py)."""
    rows = []
    with (shared / "sites.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["any_production_active"] != "true" or not row["latitude"] or row["site"] in MISPLACED_SITES:
                continue
            rows.append(
                {
                    "site": row["site"],
                    "latitude": row["latitude"],
                    "longitude": row["longitude"],
                    "country": row["country_norm"],
                    "active_resources": row["n_active_compute_resources"],
                }
            )
    return sorted(rows, key=lambda row: row["site"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    shared = parser.parse_args().shared
    production = topology_caches(shared, production=True)
    n = write_csv(DATA / "caches.csv", CACHE_COLUMNS, production)
    shutil.copyfile(DATA / "caches.csv", K8S / "base" / "caches.csv")
    print(f"data/caches.csv (and its copy in deploy/k8s/base): {n} caches")
    n = write_csv(K8S / "overlays" / "large" / "caches.csv", CACHE_COLUMNS, production + topology_caches(shared, False))
    print(f"deploy/k8s/overlays/large/caches.csv: {n} caches (production and ITB)")
    n = write_csv(DATA / "namespaces.csv", ("path", "require_token", "vo"), namespaces(shared))
    shutil.copyfile(DATA / "namespaces.csv", K8S / "base" / "namespaces.csv")
    print(f"data/namespaces.csv (and its copy in deploy/k8s/base): {n} namespaces")
    n = write_csv(DATA / "evaluation" / "2022" / "caches.csv", CACHE_COLUMNS, worker_2022_caches(shared))
    print(f"data/evaluation/2022/caches.csv: {n} caches")
    study = DATA / "evaluation" / "2022"
    n = write_csv(
        study / "sites.csv",
        ("site", "latitude", "longitude", "city", "country", "ospool_2022", "names"),
        sites_2022(shared),
    )
    print(f"data/evaluation/2022/sites.csv: {n} sites")
    records = observations_2022(shared)
    n = write_csv(study / "observations.csv", list(records[0]), records)
    print(f"data/evaluation/2022/observations.csv: {n} observations")
    shutil.copyfile(shared / "evaluation_2022_blog_sites.csv", study / "blog_sites.csv")
    n = write_csv(
        study / "cloudflare_colos.csv",
        ("iata", "city", "country", "latitude", "longitude", "flag"),
        cloudflare_colos_2022(shared),
    )
    print(f"data/evaluation/2022/cloudflare_colos.csv: {n} colos")
    n = write_csv(
        DATA / "evaluation" / "synthetic" / "international_sites.csv",
        ("site", "latitude", "longitude", "city", "country"),
        international_sites(shared),
    )
    print(f"data/evaluation/synthetic/international_sites.csv: {n} sites outside the US")
    n = write_csv(
        DATA / "evaluation" / "loadsim" / "sites.csv",
        ("site", "latitude", "longitude", "country", "active_resources"),
        compute_sites(shared),
    )
    print(f"data/evaluation/loadsim/sites.csv: {n} compute sites with their sizes")
    for name in ("cloudflare_colos.csv", "osdf_namespace_caches.csv", "osdf_namespaces.json"):
        shutil.copyfile(shared / name, SOURCES / name)
    with (
        (shared / "airports_ourairports.csv").open("rb") as plain,
        (SOURCES / "airports_ourairports.csv.gz").open("wb") as packed,
    ):
        # mtime 0 and no file name: the same extract always gives the same bytes, so git sees no change.
        with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as out:
            shutil.copyfileobj(plain, out)
    print("data/sources: the OurAirports extract, the Cloudflare colos, Topology's namespaces and its pair table")
    from_source, added = build_airports_csv(
        SOURCES / "airports_ourairports.csv.gz", DATA / "airports.csv", DATA / "airports_supplement.csv"
    )
    print(f"data/airports.csv: {from_source} codes from OurAirports + {added} from the supplement")


if __name__ == "__main__":
    main()
