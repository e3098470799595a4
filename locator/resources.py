"""Loading the federation from the settings, with clear errors and documented degraded modes.

- caches file: required; a missing or invalid file stops start-up with one message.
- namespaces and overrides files: optional; missing means none, an invalid one stops start-up.
- GeoIP database: missing or unreadable -> serve without local GeoIP (edge, colo and fallback still work).
- airports: the store is (re)built from the CSV when needed; if neither works -> serve without the colo step.
Each degradation is logged once and listed by /readyz.
"""

from __future__ import annotations

import contextlib
import logging

from locator.core.federation import Federation
from locator.core.health import HealthView
from locator.core.locate import Policy, Sources
from locator.settings import Settings
from locator.sources.airports import AirportDataError, AirportTable, ensure_store
from locator.sources.caches_file import load_caches
from locator.sources.geoip import GeoIPDatabase, GeoIPError
from locator.sources.namespaces_file import load_namespaces
from locator.sources.overrides_file import load_overrides

log = logging.getLogger(__name__)


def open_geoip(settings: Settings, degraded: list[str]) -> GeoIPDatabase | None:
    if settings.geoip_db is None:
        degraded.append("geoip: disabled (LOCATOR_GEOIP_DB is empty)")
        return None
    try:
        return GeoIPDatabase(settings.geoip_db)
    except GeoIPError as exc:
        degraded.append(f"geoip: {exc}; serving without local GeoIP")
        return None


def open_airports(settings: Settings, degraded: list[str]) -> AirportTable | None:
    try:
        ensure_store(settings.airports_csv, settings.airports_store)
        return AirportTable.open(settings.airports_store)
    except (AirportDataError, OSError) as exc:
        degraded.append(f"airports: {exc}; serving without the colo step")
        return None


def load_federation(settings: Settings, geoip: GeoIPDatabase | None = None) -> Federation:
    """Load every data file into one snapshot; raises CacheFileError, NamespaceFileError, OverridesError or
    FederationError for the fatal problems (each message names the file).

    `geoip`: the database LOCATOR_GEOIP_DB names, already open and checked (the check takes a child process and
    a walk of the whole file; the test suite opens it once for all its apps)."""
    caches = load_caches(settings.caches_file, settings.allow_private_endpoints)
    namespaces = load_namespaces(settings.namespaces_file)
    overrides = load_overrides(settings.overrides_file)
    degraded: list[str] = []
    sources = Sources(
        overrides=overrides,
        geoip=open_geoip(settings, degraded) if geoip is None else geoip,
        airports=open_airports(settings, degraded),
    )
    for note in degraded:
        log.warning("degraded: %s", note)
    return Federation(
        caches,
        namespaces,
        health=HealthView(probing=settings.health_interval_s > 0),
        sources=sources,
        policy=Policy(
            settings.max_accuracy_km,
            settings.far_from_colo_km,
            settings.default_colo,
            settings.far_from_colo_elsewhere_km,
        ),
        spread=settings.spread,
        degraded=tuple(degraded),
    )


def check_files(settings: Settings) -> None:
    """Before a server starts its workers: what would stop each of them (the data files and their agreement),
    raised once with its message, and the airports store built once rather than by every worker. The parts
    that only degrade (GeoIP, airports) are left to the workers, which log them once."""
    Federation(
        load_caches(settings.caches_file, settings.allow_private_endpoints), load_namespaces(settings.namespaces_file)
    )
    load_overrides(settings.overrides_file)
    with contextlib.suppress(AirportDataError, OSError):  # a worker says so, degraded
        ensure_store(settings.airports_csv, settings.airports_store)


def close(federation: Federation) -> None:
    """Release the GeoIP database (for commands that are done; a server keeps its snapshot to the end)."""
    if isinstance(federation.sources.geoip, GeoIPDatabase):
        federation.sources.geoip.close()
