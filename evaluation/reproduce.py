"""Reproducing the 2022 study's verdicts for the sites the blog names, and what the locator would pick.

The blog records each site's legacy and worker picks and how the worker decided, but not the jobs'
addresses, so the locator is shown three ways: with only what the study recorded, and under each of the
two explanations the blog leaves open for the legacy answers: MaxMind knew the campus network (an address
from the institution's own block, assumed here) or knew only the country (an address at the US centroid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from evaluation.databases import campus_addresses
from evaluation.defaults import LEGACY_GEOIP
from evaluation.harness import Harness, build_harness
from evaluation.paths import STUDY_2022_DIR
from evaluation.records import read_records
from evaluation.report import markdown_table

COUNTRY_ONLY_ADDRESS = "8.8.8.8"  # GeoLite2 2018: US centroid, no city, accuracy 1000 km


@dataclass(frozen=True)
class Reproduction:
    table: pd.DataFrame
    agrees_with_blog: bool
    notes: list[str]

    def markdown(self) -> str:
        return "\n".join([markdown_table(self.table), "", *[f"- {note}" for note in self.notes], ""])


def verdict(row: pd.Series, strategy: str) -> str:
    if row[f"{strategy}_pick"] == "":
        return f"no answer ({row[f'{strategy}_error']})"
    regret = row[f"{strategy}_regret_km"]
    if row[f"{strategy}_tie"]:
        return f"tie (+{regret:.1f} km)"
    return "right" if row[f"{strategy}_correct"] else f"wrong (+{regret:.0f} km)"


def describe(row: pd.Series, strategy: str) -> str:
    return f"{row[f'{strategy}_pick'] or '-'} [{row[f'{strategy}_method']}]: {verdict(row, strategy)}"


def study_harness(environ: Mapping[str, str]) -> Harness:
    """The 2022 worker's caches, and the 2022 database for the locator too (the legacy emulation always
    reads it): the locator as it would have decided at the time of the study."""
    return build_harness(STUDY_2022_DIR / "caches.csv", {**environ, "LOCATOR_GEOIP_DB": LEGACY_GEOIP})


def reproduce_2022(harness: Harness) -> Reproduction:
    """`harness` from `study_harness`."""
    records = read_records([STUDY_2022_DIR / "observations.csv"])
    blog = pd.read_csv(STUDY_2022_DIR / "blog_sites.csv", keep_default_na=False, dtype=str)
    scored, _ = harness.evaluate(records, tolerance_km=1.0)
    addresses = campus_addresses()
    campus = records.assign(client_ip=[addresses.get(site.lower(), "") for site in records["site"]])
    country = records.assign(client_ip=COUNTRY_ONLY_ADDRESS)
    with_campus, _ = harness.evaluate(campus, tolerance_km=1.0)
    with_country, _ = harness.evaluate(country, tolerance_km=1.0)

    rows = []
    agrees = True
    for i, row in scored.iterrows():
        said = blog[blog["glidein_resource_name"] == row["site"]].iloc[0]
        blog_legacy = "right" if said["legacy_correct"] == "true" else "wrong"
        blog_worker = "right" if said["cloudflare_correct"] == "true" else "wrong"
        ours_legacy = "right" if row["legacy_correct"] and not row["legacy_tie"] else "wrong"
        ours_worker = "right" if row["worker_correct"] and not row["worker_tie"] else "wrong"
        agrees &= (ours_legacy, ours_worker) == (blog_legacy, blog_worker)
        rows.append(
            {
                "site": row["site"],
                "nearest (km)": f"{row['nearest']} ({row['nearest_km']:.1f})",
                "legacy": f"{describe(row, 'legacy')}; blog: {blog_legacy}",
                "worker 2022": f"{describe(row, 'worker')}; blog: {blog_worker}",
                "locator, as recorded": describe(row, "locator"),
                "locator, MaxMind knows the campus": describe(with_campus.loc[i], "locator"),
                "locator, MaxMind knows only the country": describe(with_country.loc[i], "locator"),
            }
        )
    blocked = blog[blog["latitude"] == ""]
    notes = [
        "Verdicts: right = the nearest cache by the site's OSG Topology position; tie = within 1 km of it, which "
        "the blog counted as wrong (SIUE: Chicago 398.9 km, Kansas City 399.5 km).",
        "Observed picks are the blog's; the locator's are computed by its cascade and ranking (locator.core) from the "
        "record: as recorded (no client address), or with an assumed client address (see evaluation/reproduce.py).",
        *[f"{r['institution']}: {r['note'].removeprefix('Blog: ')}" for _, r in blocked.iterrows()],
    ]
    return Reproduction(pd.DataFrame(rows), agrees, notes)
