"""Assembling an evaluation: the locator's own resources for the chosen cache list, the three strategies,
scoring and summary."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.defaults import LEGACY_GEOIP, TOLERANCE_KM
from evaluation.errors import HarnessError
from evaluation.legacy import LegacyGeo, open_legacy_geoip
from evaluation.score import score, summarize
from evaluation.strategies import LegacyStrategy, LocatorStrategy, Strategy, WorkerStrategy, picks
from locator.core.federation import Federation
from locator.core.lookups import GeoIPLookup
from locator.embedded import embedded_path
from locator.resources import close, load_federation
from locator.settings import Settings


@dataclass
class Harness:
    federation: Federation
    strategies: list[Strategy]
    legacy_geoip: GeoIPLookup
    settings: Settings

    def inputs(self) -> dict[str, Any]:
        """What decided the computed picks, written beside every score and report."""
        federation, settings = self.federation, self.settings
        geoip, airports = federation.sources.geoip, federation.sources.airports
        return {
            "caches_file": str(settings.caches_file),
            "caches": len(federation.caches.caches),
            "namespaces_file": None if settings.namespaces_file is None else str(settings.namespaces_file),
            "geoip": None if geoip is None else dataclasses.asdict(geoip.info),
            "legacy_geoip": dataclasses.asdict(self.legacy_geoip.info),
            "airports_csv": str(settings.airports_csv),
            "airports": 0 if airports is None else len(airports),
            "overrides": len(federation.sources.overrides),
            "far_from_colo_km": settings.far_from_colo_km,
            "far_from_colo_elsewhere_km": settings.far_from_colo_elsewhere_km,
            "max_accuracy_km": settings.max_accuracy_km,
        }

    @property
    def names(self) -> list[str]:
        return [strategy.name for strategy in self.strategies]

    def evaluate(
        self, records: pd.DataFrame, tolerance_km: float = TOLERANCE_KM
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Pick (observed or computed), score and summarise."""
        federation = self.federation
        chosen = picks(records, self.strategies, federation)
        listed = [namespace.path for namespace in federation.namespaces if namespace.path is not None]
        scored = score(records, chosen, federation.caches, listed, self.names, tolerance_km)
        return scored, summarize(scored, self.names, tolerance_km)

    def close(self) -> None:
        close(self.federation)
        if self.legacy_geoip is not self.federation.sources.geoip:
            self.legacy_geoip.close()


def far_from_colo_sweep(
    records: pd.DataFrame,
    caches_file: Path,
    distances_km: Sequence[float | None],
    tolerance_km: float = TOLERANCE_KM,
    groups: pd.Series | None = None,
    environ: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The locator's accuracy and regret for each cross-check distance, whatever the colo's continent (0 = no
    cross-check; None = the settings as configured, each continent its own), per population, and per value
    of `groups` (a label per record, e.g. its region) when given; other settings from `environ` (default: the
    process's)."""
    rows = []
    base = build_harness(caches_file, environ)  # its databases, opened and checked once for every distance
    try:
        for distance in distances_km:
            settings = dict(os.environ if environ is None else environ)
            if distance is not None:
                far = str(distance)
                settings |= {"LOCATOR_FAR_FROM_COLO_KM": far, "LOCATOR_FAR_FROM_COLO_ELSEWHERE_KM": far}
            harness = build_harness(caches_file, settings, opened=base)
            scored, _ = harness.evaluate(records, tolerance_km)
            parts = [(None, scored)] if groups is None else list(scored.groupby(groups, sort=True))
            for label, part in parts:
                for population, entry in summarize(part, harness.names, tolerance_km)["populations"].items():
                    stats = entry["strategies"]["locator"]
                    group = {} if groups is None else {str(groups.name): label}
                    rows.append(
                        {
                            "far_from_colo_km": "settings" if distance is None else distance,
                            "population": population,
                            **group,
                            "correct": stats["correct"],
                            "total": stats["total"],
                            "accuracy": stats["accuracy"],
                            "mean_regret_km": stats["mean_regret_km"],
                            "max_regret_km": stats["max_regret_km"],
                            "colo_decisions": stats["methods"].get("colo", 0),
                        }
                    )
    finally:
        base.close()
    return pd.DataFrame(rows)


def build_harness(
    caches_file: Path,
    environ: Mapping[str, str] | None = None,
    seed: int = 2022,
    legacy_geoip: Path | None = None,
    opened: Harness | None = None,
) -> Harness:
    """The strategies over `caches_file`, with the locator's settings (GeoIP database, airports, policy). The
    legacy emulation reads `legacy_geoip`, by default the GeoLite2 2018 database the legacy service used in the
    2022 study, whatever database the locator is given. With `opened`, a harness of the same databases whose
    other settings differ: its databases are shared (checked once), and closing `opened` closes them."""
    settings = Settings.from_env(os.environ if environ is None else environ, caches_file=str(caches_file))
    if opened is not None:
        federation = load_federation(settings, opened.federation.sources.geoip)  # type: ignore[arg-type]
        strategies: list[Strategy] = [
            LegacyStrategy(LegacyGeo(opened.legacy_geoip, federation.caches), federation),
            WorkerStrategy(federation, federation.sources.airports, seed),
            LocatorStrategy(federation),
        ]
        return Harness(federation, strategies, opened.legacy_geoip, settings)
    federation = load_federation(settings)
    sources = federation.sources
    missing = []
    if sources.geoip is None:
        missing.append("a GeoIP database (LOCATOR_GEOIP_DB)")
    if sources.airports is None:
        missing.append("the airports table (LOCATOR_AIRPORTS_CSV)")
    if missing:
        close(federation)
        raise HarnessError(f"the evaluation needs {' and '.join(missing)}: {'; '.join(federation.degraded)}")
    locator_geoip = sources.geoip
    if locator_geoip is not None and Path(locator_geoip.info.path) == (legacy_geoip or embedded_path(LEGACY_GEOIP)):
        legacy = locator_geoip  # the same file (the 2022 reproduction): opened and checked once
    else:
        try:
            legacy = open_legacy_geoip(legacy_geoip)
        except HarnessError:
            close(federation)
            raise
    strategies = [
        LegacyStrategy(LegacyGeo(legacy, federation.caches), federation),
        WorkerStrategy(federation, sources.airports, seed),
        LocatorStrategy(federation),
    ]
    return Harness(federation, strategies, legacy, settings)
