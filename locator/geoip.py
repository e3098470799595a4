"""Local GeoIP: what a MaxMind-format City database says about an address, unjudged.

Whether the answer is usable (city known, accuracy good enough, not 0,0) is decided by the cascade in
locate.py; the legacy emulation reads the same records and ignores those checks, as the legacy service did.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import geoip2.database
import geoip2.errors
import maxminddb

from locator.addresses import IPAddress

MEMO_SIZE = 16384  # recent addresses (the decision memo before it serves repeated clients); answers do not change


class GeoIPError(ValueError):
    """The database file is missing, unreadable or not a City database."""


@dataclass(frozen=True, slots=True)
class GeoIPRecord:
    """One database answer. Any field may be missing: MaxMind omits what it does not know."""

    latitude: float | None
    longitude: float | None
    accuracy_km: int | None
    city: str | None
    country: str | None


class GeoIPLookup(Protocol):
    """Anything that can answer for an address; None means the address is not in the database."""

    def lookup(self, address: IPAddress) -> GeoIPRecord | None: ...


class GeoIPDatabase:
    """A MaxMind City database opened with geoip2 (memory-mapped), with a memo of recent answers."""

    def __init__(self, path: Path) -> None:
        try:
            self._reader = geoip2.database.Reader(str(path))
        except FileNotFoundError:
            raise GeoIPError(f"{path}: GeoIP database not found (set LOCATOR_GEOIP_DB)") from None
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(f"{path}: not a readable MaxMind database: {exc}") from None
        metadata = self._reader.metadata()
        if "City" not in metadata.database_type:
            self._reader.close()
            raise GeoIPError(f"{path}: is a {metadata.database_type} database; a City database is needed")
        self.path = path
        self.database_type: str = metadata.database_type
        self.build_epoch: int = metadata.build_epoch
        self.lookup = functools.lru_cache(maxsize=MEMO_SIZE)(self._lookup)

    def _lookup(self, address: IPAddress) -> GeoIPRecord | None:
        try:
            answer = self._reader.city(address)
        except (geoip2.errors.AddressNotFoundError, ValueError, maxminddb.InvalidDatabaseError):
            # ValueError: an IPv6 address in an IPv4-only database; InvalidDatabaseError: a damaged
            # record. Either way the database has no answer for this address.
            return None
        return GeoIPRecord(
            latitude=answer.location.latitude,
            longitude=answer.location.longitude,
            accuracy_km=answer.location.accuracy_radius,
            city=answer.city.name,
            country=answer.country.iso_code,
        )

    def close(self) -> None:
        self._reader.close()
