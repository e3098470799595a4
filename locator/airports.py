"""The airport table: IATA code -> position, kept in a KV namespace built from data/airports.csv.

The colo fallback looks up the data centre that received a request by its IATA code, as the 2022 worker
did with its `AirportCodes` KV namespace.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from locator.files import table_reader
from locator.geo import Coordinate, InvalidCoordinate
from locator.kv import KVError, KVNamespace

log = logging.getLogger(__name__)

COLUMNS = ("iata", "name", "city", "country", "latitude", "longitude")
NAMESPACE = "airports"


class AirportDataError(ValueError):
    """The airports CSV or store cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class Airport:
    iata: str
    name: str
    city: str
    country: str
    coordinate: Coordinate

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "city": self.city,
                "country": self.country,
                "latitude": self.coordinate.latitude,
                "longitude": self.coordinate.longitude,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, iata: str, text: str) -> Airport | None:
        """Parse a stored value; None for anything unusable (bad JSON, bad or 0,0 position)."""
        try:
            value = json.loads(text)
            coordinate = Coordinate.parse(value["latitude"], value["longitude"])
        except (ValueError, KeyError, TypeError, InvalidCoordinate):
            return None
        if coordinate.is_null_island:
            return None
        return cls(
            iata,
            str(value.get("name", "")),
            str(value.get("city", "")),
            str(value.get("country", "")),
            coordinate,
        )


def is_iata(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def read_airports_csv(path: Path) -> list[Airport]:
    """Read and validate the airports CSV; rows at 0,0 are dropped (never served)."""
    airports: list[Airport] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            try:
                reader = table_reader(handle, COLUMNS)
            except ValueError as exc:
                raise AirportDataError(f"{path}: {exc}") from None
            seen: set[str] = set()
            for row in reader:
                iata = row["iata"].strip().upper()
                if not is_iata(iata):
                    raise AirportDataError(f"{path}, line {reader.line_num}: {row['iata']!r} is not an IATA code")
                if iata in seen:
                    raise AirportDataError(f"{path}, line {reader.line_num}: duplicate code {iata}")
                seen.add(iata)
                try:
                    coordinate = Coordinate.parse(row["latitude"], row["longitude"])
                except InvalidCoordinate as exc:
                    raise AirportDataError(f"{path}, line {reader.line_num}: {exc}") from None
                if not coordinate.is_null_island:
                    airports.append(Airport(iata, row["name"], row["city"], row["country"], coordinate))
    except FileNotFoundError:
        raise AirportDataError(f"{path}: airports CSV not found (set LOCATOR_AIRPORTS_CSV)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AirportDataError(f"{path}: cannot read airports CSV: {exc}") from None
    return airports


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
    return KVNamespace.build(store_path, ((a.iata, a.to_json()) for a in airports), NAMESPACE)


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
        parsed = ((code, Airport.from_json(code, text)) for code, text in pairs if is_iata(code))
        return cls({code: airport for code, airport in parsed if airport is not None})

    def __len__(self) -> int:
        return len(self._airports)

    def lookup(self, iata: str) -> Airport | None:
        """The airport for a code, or None when unknown or stored at 0,0."""
        return self._airports.get(iata.upper())
