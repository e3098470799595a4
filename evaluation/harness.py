"""Assembling an evaluation: the locator's own resources for the chosen cache list, the three strategies,
scoring and summary."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.legacy import LegacyGeo
from evaluation.score import DEFAULT_TOLERANCE_KM, score, summarize
from evaluation.strategies import LegacyStrategy, LocatorStrategy, Strategy, WorkerStrategy, picks
from locator.federation import Federation
from locator.resources import close, load_federation
from locator.settings import Settings


class HarnessError(ValueError):
    """The evaluation cannot run as configured; the message says what is missing."""


@dataclass
class Harness:
    federation: Federation
    strategies: list[Strategy]

    @property
    def names(self) -> list[str]:
        return [strategy.name for strategy in self.strategies]

    def evaluate(
        self, records: pd.DataFrame, tolerance_km: float = DEFAULT_TOLERANCE_KM
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Pick (observed or computed), score and summarise."""
        federation = self.federation
        chosen = picks(records, self.strategies, federation)
        listed = [namespace.path for namespace in federation.namespaces if namespace.path is not None]
        scored = score(records, chosen, federation.caches, listed, self.names, tolerance_km)
        return scored, summarize(scored, self.names, tolerance_km)

    def close(self) -> None:
        close(self.federation)


def far_from_colo_sweep(
    records: pd.DataFrame, caches_file: Path, distances_km: Sequence[float], tolerance_km: float = DEFAULT_TOLERANCE_KM
) -> pd.DataFrame:
    """The locator's accuracy and regret for each LOCATOR_FAR_FROM_COLO_KM (0 = no cross-check)."""
    rows = []
    for distance in distances_km:
        harness = build_harness(caches_file, {**os.environ, "LOCATOR_FAR_FROM_COLO_KM": str(distance)})
        try:
            _, summary = harness.evaluate(records, tolerance_km)
        finally:
            harness.close()
        for population, entry in summary["populations"].items():
            stats = entry["strategies"]["locator"]
            rows.append(
                {
                    "far_from_colo_km": distance,
                    "population": population,
                    "correct": stats["correct"],
                    "total": stats["total"],
                    "accuracy": stats["accuracy"],
                    "mean_regret_km": stats["mean_regret_km"],
                    "max_regret_km": stats["max_regret_km"],
                    "colo_decisions": stats["methods"].get("colo", 0),
                }
            )
    return pd.DataFrame(rows)


def build_harness(caches_file: Path, environ: Mapping[str, str] | None = None, seed: int = 2022) -> Harness:
    """The strategies over `caches_file`, with the locator's settings (GeoIP database, airports, policy)."""
    settings = Settings.from_env(os.environ if environ is None else environ, caches_file=str(caches_file))
    federation = load_federation(settings)
    geoip = federation.sources.geoip
    if geoip is None:
        close(federation)
        raise HarnessError("the legacy emulation needs a GeoIP database (LOCATOR_GEOIP_DB)")
    strategies: list[Strategy] = [
        LegacyStrategy(LegacyGeo(geoip, federation.caches), federation),
        WorkerStrategy(federation, federation.sources.airports, seed),
        LocatorStrategy(federation),
    ]
    return Harness(federation, strategies)
