"""The airport table: IATA code -> position, kept in a KV namespace built from data/airports.csv.

The colo fallback looks up the data centre that received a request by its IATA code, as the 2022 worker
did with its `AirportCodes` KV namespace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from locator.core.edge import parse_colo
from locator.core.geo import Coordinate, InvalidCoordinate
from locator.core.lookups import CONTINENTS, Airport
from locator.sources.files import parse_rows, read_table
from locator.sources.kv import KVError, KVNamespace

log = logging.getLogger(__name__)

COLUMNS = ("iata", "name", "city", "country", "continent", "latitude", "longitude")
NAMESPACE = "airports"
NAME_CHARS = 128  # a stored name is cut to this: the store is a file anyone with access could have changed


class AirportDataError(ValueError):
    """The airports CSV or store cannot be used; the message names the file."""


def stored(airport: Airport) -> str:
    """An airport as its store value (JSON)."""
    return json.dumps(
        {
            "name": airport.name,
            "city": airport.city,
            "country": airport.country,
            "continent": airport.continent,
            "latitude": airport.coordinate.latitude,
            "longitude": airport.coordinate.longitude,
        },
        separators=(",", ":"),
    )


def from_stored(iata: str, text: str) -> Airport | None:
    """Parse a stored value; None for anything unusable (bad JSON, however deeply nested; fields of the
    wrong type; a bad or 0,0 position)."""
    try:
        value = json.loads(text)
        coordinate = Coordinate.parse(value["latitude"], value["longitude"])
        names = [value.get(field, "") for field in ("name", "city", "country", "continent")]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, InvalidCoordinate):
        return None
    if coordinate.is_null_island or not all(isinstance(name, str) for name in names):
        return None
    name, city, country, continent = (name[:NAME_CHARS] for name in names)
    return Airport(iata, name, city, country, continent if continent in CONTINENTS else "", coordinate)


def is_iata(code: str) -> bool:
    """A code as the table keeps it: three letters, upper-case (the edge's check, core.edge.parse_colo)."""
    return parse_colo(code) == code


def parse_airports(lines: Iterable[str], source: str) -> list[Airport]:
    seen: set[str] = set()

    def airport(row: dict[str, str]) -> Airport:
        iata = parse_colo(row["iata"])
        if iata is None:
            raise ValueError(f"{row['iata']!r} is not an IATA code")
        if iata in seen:
            raise ValueError(f"duplicate code {iata}")
        seen.add(iata)
        coordinate = Coordinate.parse(row["latitude"], row["longitude"])
        if row["continent"] not in CONTINENTS:
            raise ValueError(f"continent {row['continent']!r} is not one of " + ", ".join(CONTINENTS))
        return Airport(iata, row["name"], row["city"], row["country"], row["continent"], coordinate)

    airports = parse_rows(lines, COLUMNS, source, AirportDataError, airport)
    return [a for a in airports if not a.coordinate.is_null_island]


def read_airports_csv(path: Path) -> list[Airport]:
    """Read and validate the airports CSV; rows at 0,0 are dropped (never served)."""
    return read_table(path, parse_airports, AirportDataError, "airports CSV (LOCATOR_AIRPORTS_CSV)")


def store_is_current(csv_path: Path, store_path: Path) -> bool:
    """The store exists, is no older than the CSV, and opens."""
    if not store_path.is_file():
        return False
    if csv_path.is_file() and store_path.stat().st_mtime < csv_path.stat().st_mtime:
        return False
    try:
        with KVNamespace(store_path, NAMESPACE, readonly=True) as store:
            return len(store) > 0
    except KVError:
        return False


def build_store(csv_path: Path, store_path: Path) -> int:
    """(Re)load the KV store from the CSV, atomically; returns the number of codes."""
    airports = read_airports_csv(csv_path)
    return KVNamespace.build(store_path, ((a.iata, stored(a)) for a in airports), NAMESPACE)


def ensure_store(csv_path: Path, store_path: Path) -> bool:
    """Build the store when it is missing, older than the CSV or unreadable; True if it was (re)built."""
    if store_is_current(csv_path, store_path):
        return False
    if not csv_path.is_file() and store_path.is_file():
        raise AirportDataError(f"{store_path}: store unreadable and {csv_path} missing to rebuild it")
    count = build_store(csv_path, store_path)
    log.info("loaded %d airport codes from %s into %s", count, csv_path, store_path)
    return True


class AirportTable:
    """Lookups by IATA code from a snapshot of the store taken when it is opened.

    The table does not change while serving, so reading it once (9,159 codes, about 2 MB) keeps SQLite off
    the request path and leaves nothing open to close.
    """

    def __init__(self, airports: dict[str, Airport]) -> None:
        self._airports = airports

    @classmethod
    def open(cls, store_path: Path) -> AirportTable:
        try:
            with KVNamespace(store_path, NAMESPACE, readonly=True) as store:
                pairs = store.items()
        except KVError as exc:
            raise AirportDataError(str(exc)) from None
        parsed = ((code, from_stored(code, text)) for code, text in pairs if is_iata(code))
        airports = {code: airport for code, airport in parsed if airport is not None}
        if not airports:
            raise AirportDataError(f"{store_path}: no usable airport among its {len(pairs)} entries")
        return cls(airports)

    def __len__(self) -> int:
        return len(self._airports)

    def lookup(self, iata: str) -> Airport | None:
        """The airport for a code, or None when unknown or stored at 0,0."""
        return self._airports.get(iata.upper())
