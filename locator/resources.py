"""Loading everything the service needs from the settings, with clear errors and documented degraded modes.

- caches file: required; a missing or invalid file stops start-up with one message.
- overrides file: optional; missing means none, an invalid one stops start-up.
- GeoIP database: missing or unreadable -> serve without local GeoIP (edge, colo and fallback still work).
- airports: the store is (re)built from the CSV when needed; if neither works -> serve without the colo step.
Each degradation is logged once and listed by /readyz.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

from locator.airports import AirportDataError, AirportTable, ensure_store
from locator.caches import CacheSet, load_caches
from locator.geoip import GeoIPDatabase, GeoIPError
from locator.locate import Policy, Sources
from locator.memo import Memos
from locator.overrides import OverrideTable, load_overrides
from locator.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """The loaded data and the policy: what a request's decision depends on besides the request."""

    caches: CacheSet
    sources: Sources
    policy: Policy
    sticky_s: int
    degraded: list[str] = field(default_factory=list)
    loaded_at: float = field(default_factory=time.time)
    memos: Memos | None = None

    def with_data(self, caches: CacheSet, overrides: OverrideTable, loaded_at: float) -> Resources:
        """New resources for new data files: same GeoIP, airports and policy; fresh memos."""
        return dataclasses.replace(
            self,
            caches=caches,
            sources=dataclasses.replace(self.sources, overrides=overrides),
            loaded_at=loaded_at,
            memos=None if self.memos is None else Memos.of(self.memos.size),
        )

    def close(self) -> None:
        """Release the GeoIP database (for commands that are done; a server keeps its resources to the end)."""
        if isinstance(self.sources.geoip, GeoIPDatabase):
            self.sources.geoip.close()


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


def load_resources(settings: Settings) -> Resources:
    """Load caches, overrides, GeoIP and airports; raises CacheFileError/OverridesError for fatal problems."""
    caches = load_caches(settings.caches_file)
    overrides = load_overrides(settings.overrides_file)
    degraded: list[str] = []
    sources = Sources(
        overrides=overrides, geoip=open_geoip(settings, degraded), airports=open_airports(settings, degraded)
    )
    for note in degraded:
        log.warning("degraded: %s", note)
    policy = Policy(
        max_accuracy_km=settings.max_accuracy_km,
        far_from_colo_km=settings.far_from_colo_km,
        default_colo=settings.default_colo,
    )
    memos = Memos.of(settings.memo_size) if settings.memo_size else None
    return Resources(caches, sources, policy, settings.fallback_sticky_s, degraded, memos=memos)
