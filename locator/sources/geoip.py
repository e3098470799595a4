"""Local GeoIP: what a MaxMind-format City database says about an address, unjudged.

Whether the answer is usable (city known, accuracy good enough, not 0,0) is decided by the cascade in
locate.py; the legacy emulation reads the same records and ignores those checks, as the legacy service did.
A database is checked before use (`geoipcheck`), and read with the pure-Python reader, so that a damaged
record is an error (counted, answered as unknown), never a crash of the server.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
from pathlib import Path
from typing import Any

import maxminddb

from locator.core.addresses import IPAddress
from locator.core.lookups import DamagedRecord, GeoIPInfo, GeoIPRecord
from locator.embedded import EMBEDDED
from locator.settings import geoip_passes_dir
from locator.sources.files import signature
from locator.sources.geoipcheck import GeoIPCheckFailed, check

log = logging.getLogger(__name__)

MEMO_SIZE = 16384  # recent addresses: one asking for several paths misses the answer memo, not this one
NAME_CHARS = 64  # a city name is cut to this, so that a memo entry's size is bounded whatever the file holds
MEMO_ENTRY_BYTES = 1024  # the most one memo entry holds (an IPv6 key, 64 four-byte characters; tests measure it)


# MaxMind changed GeoLite2's terms from CC BY-SA 4.0 to its own licence for builds from 2019-12-30 on.
GEOLITE2_EULA_FROM = datetime.date(2019, 12, 30)


def licence(database_type: str, built: datetime.date) -> str:
    """The terms a database of this type and build date comes under (for /readyz and the README's attribution)."""
    if database_type == "DBIP-City-Lite":
        return EMBEDDED["dbip-2023"].licence
    if database_type == "GeoLite2-City":
        if built < GEOLITE2_EULA_FROM:
            return EMBEDDED["geolite2-2018"].licence
        return "GeoLite2 End User License Agreement; data created by MaxMind (https://www.maxmind.com)"
    if database_type.startswith("GeoIP2-"):
        return "MaxMind commercial licence"
    return "not known to the locator: see where the file came from"


class GeoIPError(ValueError):
    """The database file is missing, unreadable, damaged or not a City database."""


FUTURE_SLACK_S = 86_400  # a build "tomorrow" is a clock or a time zone; later is a wrong or forged date


def build_date(epoch: int, now_s: float) -> datetime.date:
    """The day a database says it was built; GeoIPError for a date that cannot be one. A date far in the future
    would block every genuine update as "older than the one in service"."""
    try:
        built = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise GeoIPError(f"its build date (build_epoch {epoch}) is impossible") from None
    if epoch <= 0 or epoch > now_s + FUTURE_SLACK_S:
        raise GeoIPError(f"its build date ({built.date().isoformat()}) is impossible or in the future")
    return built.date()


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
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{value!r} where a name belongs")
    return value[:limit]


def part(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key, {})
    if not isinstance(value, dict):
        raise TypeError(f"{value!r} where a map belongs")
    return value


def record_of(raw: object) -> GeoIPRecord:
    """Read a record in either layout City databases use: GeoIP2's nested one (MaxMind, DB-IP's own files)
    or the flat one of ip-location-db's builds (DB-IP and GeoLite2 republished monthly, with no accuracy
    radius). Raises TypeError for a record that is neither."""
    if not isinstance(raw, dict):
        raise TypeError(f"a record that is a {type(raw).__name__}")
    if any(isinstance(raw.get(key), dict) for key in ("location", "city", "country")):
        location = part(raw, "location")
        return GeoIPRecord(
            latitude=real(location.get("latitude")),
            longitude=real(location.get("longitude")),
            accuracy_km=whole(location.get("accuracy_radius")),
            city=text(part(part(raw, "city"), "names").get("en"), NAME_CHARS),
            country=text(part(raw, "country").get("iso_code"), 3),
        )
    return GeoIPRecord(
        latitude=real(raw.get("latitude")),
        longitude=real(raw.get("longitude")),
        accuracy_km=None,
        city=text(raw.get("city"), NAME_CHARS),
        country=text(raw.get("country_code"), 3),
    )


class GeoIPDatabase:
    """A City database, checked, then opened with maxminddb's pure-Python reader (memory-mapped), with a
    memo of recent answers (a damaged record is not remembered)."""

    def __init__(self, path: Path) -> None:
        try:
            before = signature(path)
            self._reader = maxminddb.open_database(str(path), mode=maxminddb.MODE_MMAP)
        except FileNotFoundError:
            raise GeoIPError(f"{path}: GeoIP database not found (set LOCATOR_GEOIP_DB)") from None
        except (OSError, ValueError, TypeError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(f"{path}: not a readable MaxMind database: {exc}") from None
        try:
            metadata = self._reader.metadata()
            if (
                not isinstance(metadata.database_type, str)
                or metadata.ip_version not in (4, 6)
                or not isinstance(metadata.build_epoch, int)
            ):
                raise GeoIPError(f"{path}: not a readable MaxMind database: damaged metadata")
            if "city" not in metadata.database_type.lower():
                raise GeoIPError(f"{path}: is a {metadata.database_type} database; a City database is needed")
            try:
                built = build_date(metadata.build_epoch, time.time())
            except GeoIPError as exc:
                raise GeoIPError(f"{path}: {exc}") from None
            check(path, geoip_passes_dir())
            if signature(path) != before:
                raise GeoIPError(f"{path}: changed while being checked (replace it by renaming a complete file)")
        except (GeoIPCheckFailed, OSError) as exc:
            self._reader.close()
            raise GeoIPError(f"{path}: {exc}") from None
        except GeoIPError:
            self._reader.close()
            raise
        self.path = path
        self.info = GeoIPInfo(
            str(path),
            metadata.database_type,
            built.isoformat(),
            metadata.ip_version,
            licence(metadata.database_type, built),
        )
        self._damaged_seen = False
        self.lookup = functools.lru_cache(maxsize=MEMO_SIZE)(self._lookup)

    def _lookup(self, address: IPAddress) -> GeoIPRecord | None:
        if address.version > self.info.ip_version:
            return None  # an IPv6 address in an IPv4-only database
        try:
            raw = self._reader.get(address)
            return None if raw is None else record_of(raw)
        except Exception as exc:  # a damaged record: whatever the decoder raises, the database has no answer
            if not self._damaged_seen:  # once: each one is counted as a skip, damaged_record
                self._damaged_seen = True
                log.error("GeoIP database %s has a damaged record (%s: %s)", self.path, type(exc).__name__, exc)
            raise DamagedRecord(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._reader.close()
