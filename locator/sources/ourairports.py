"""Builds data/airports.csv from an OurAirports `airports.csv` (public domain), one row per IATA code.

Rule for a code that several airports carry (mostly a closed field next to the live one): prefer not
closed, then the larger type, then scheduled service, then the lower OurAirports id. Codes that are not
three letters (OurAirports has `0`, `TR7`, `BR-`) and positions at 0,0 are dropped. A supplement file in
the output format may add codes that OurAirports lacks (two Cloudflare colos).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from pathlib import Path

from locator.sources.airports import COLUMNS, is_iata
from locator.sources.files import write_csv

TYPE_RANK = {"large_airport": 3, "medium_airport": 2, "small_airport": 1}


def _preference(row: dict[str, str]) -> tuple[bool, int, bool, int]:
    return (
        row["type"] != "closed",
        TYPE_RANK.get(row["type"], 0),
        row.get("scheduled_service", "") == "yes",
        -int(row["id"]),
    )


def select_airports(rows: Iterable[dict[str, str]]) -> dict[str, dict[str, str]]:
    """OurAirports rows -> {IATA: output row}, applying the duplicate rule."""
    best: dict[str, dict[str, str]] = {}
    for row in rows:
        code = row["iata_code"].strip()
        if not is_iata(code) or (float(row["latitude_deg"]) == 0 and float(row["longitude_deg"]) == 0):
            continue
        if code not in best or _preference(row) > _preference(best[code]):
            best[code] = row
    return {
        code: {
            "iata": code,
            "name": row["name"],
            "city": row["municipality"],
            "country": row["iso_country"],
            "continent": row["continent"],
            "latitude": row["latitude_deg"],
            "longitude": row["longitude_deg"],
        }
        for code, row in best.items()
    }


def build_airports_csv(source: Path, output: Path, supplement: Path | None = None) -> tuple[int, int]:
    """Write the airports CSV atomically; returns (codes from OurAirports, codes from the supplement).

    `source` may be gzipped (`.gz`), as the copy in data/sources is.
    """
    opened = gzip.open(source, "rt", newline="", encoding="utf-8") if source.suffix == ".gz" else None
    with opened or source.open(newline="", encoding="utf-8") as handle:
        table = select_airports(csv.DictReader(handle))
    from_source = len(table)
    added = 0
    if supplement is not None:
        with supplement.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["iata"] not in table:
                    table[row["iata"]] = {col: row[col] for col in COLUMNS}
                    added += 1
    write_csv(output, COLUMNS, (table[code] for code in sorted(table)))
    return from_source, added
