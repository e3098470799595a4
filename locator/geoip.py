"""Local GeoIP: what a MaxMind-format City database says about an address, unjudged.

Whether the answer is usable (city known, accuracy good enough, not 0,0) is decided by the cascade in
locate.py; the legacy emulation reads the same records and ignores those checks, as the legacy service did.
A database is checked before use (`geoipcheck`), and read with the pure-Python reader, so that a damaged
record is an error (counted, answered as unknown), never a crash of the server.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import geoip2.database
import geoip2.errors
import maxminddb

from locator.addresses import IPAddress
from locator.geoipcheck import GeoIPCheckFailed, check

log = logging.getLogger(__name__)

MEMO_SIZE = 16384  # recent addresses: one asking for several paths misses the answer memo, not this one
NAME_CHARS = 64  # a city name is cut to this, so that a memo entry's size is bounded whatever the file holds
MEMO_ENTRY_BYTES = 1024  # the most one memo entry holds (an IPv6 key, 64 four-byte characters; tests measure it)


class GeoIPError(ValueError):
    """The database file is missing, unreadable, damaged or not a City database."""


class DamagedRecord(GeoIPError):
    """The record for an address does not decode: the database has no answer for it."""


@dataclass(frozen=True, slots=True)
class GeoIPRecord:
    """One database answer. Any field may be missing: MaxMind omits what it does not know."""

    latitude: float | None
    longitude: float | None
    accuracy_km: int | None
    city: str | None
    country: str | None


class GeoIPLookup(Protocol):
    """Anything that can answer for an address; None means the address is not in the database, DamagedRecord
    that its record is unreadable."""

    def lookup(self, address: IPAddress) -> GeoIPRecord | None: ...


def signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def real(value: object) -> float | None:
    """A record's number, or TypeError: a damaged record can hold anything where a number belongs."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} where a number belongs")
    return float(value)


def whole(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} where a whole number belongs")
    return value


def text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{value!r} where a name belongs")
    return value[:limit]


class GeoIPDatabase:
    """A MaxMind City database, checked, then opened with geoip2's pure-Python reader (memory-mapped), with a
    memo of recent answers (a damaged record is not remembered)."""

    def __init__(self, path: Path) -> None:
        try:
            before = signature(path)
            self._reader = geoip2.database.Reader(str(path), mode=maxminddb.MODE_MMAP)
        except FileNotFoundError:
            raise GeoIPError(f"{path}: GeoIP database not found (set LOCATOR_GEOIP_DB)") from None
        except (OSError, ValueError, TypeError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(f"{path}: not a readable MaxMind database: {exc}") from None
        try:
            metadata = self._reader.metadata()
            if not isinstance(metadata.database_type, str) or metadata.ip_version not in (4, 6):
                raise GeoIPError(f"{path}: not a readable MaxMind database: damaged metadata")
            if "City" not in metadata.database_type:
                raise GeoIPError(f"{path}: is a {metadata.database_type} database; a City database is needed")
            check(path)
            if signature(path) != before:
                raise GeoIPError(f"{path}: changed while being checked (replace it by renaming a complete file)")
        except (GeoIPCheckFailed, OSError) as exc:
            self._reader.close()
            raise GeoIPError(f"{path}: {exc}") from None
        except GeoIPError:
            self._reader.close()
            raise
        self.path = path
        self.database_type: str = metadata.database_type
        self.build_epoch: int = metadata.build_epoch
        self._ip_version: int = metadata.ip_version
        self._damaged_seen = False
        self.lookup = functools.lru_cache(maxsize=MEMO_SIZE)(self._lookup)

    def _lookup(self, address: IPAddress) -> GeoIPRecord | None:
        if address.version > self._ip_version:
            return None  # an IPv6 address in an IPv4-only database
        try:
            answer = self._reader.city(address)
            return GeoIPRecord(
                latitude=real(answer.location.latitude),
                longitude=real(answer.location.longitude),
                accuracy_km=whole(answer.location.accuracy_radius),
                city=text(answer.city.name, NAME_CHARS),
                country=text(answer.country.iso_code, 3),
            )
        except geoip2.errors.AddressNotFoundError:
            return None
        except Exception as exc:  # a damaged record: whatever the decoder raises, the database has no answer
            if not self._damaged_seen:  # once: each one is counted as a skip, damaged_record
                self._damaged_seen = True
                log.error("GeoIP database %s has a damaged record (%s: %s)", self.path, type(exc).__name__, exc)
            raise DamagedRecord(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._reader.close()
