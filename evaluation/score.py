"""Scoring: was each pick the cache nearest to the site's true position, and how many km did it cost?

Truth is THE ranking (locator.rank) from the site's position: the nearest cache in service. A pick within
`tolerance_km` of the nearest distance is correct, and flagged a tie when it is not the nearest itself
(the 2022 study's SIUE case: Chicago 398.9 km, Kansas City 399.5 km). A strategy that gave no answer is
counted wrong (`no_answer`); a record whose site position is unknown is not scored at all. Real and
synthetic records are summarised separately, never pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from locator.caches import CacheSet
from locator.geo import distance_matrix_km
from locator.rank import rank_many

DEFAULT_TOLERANCE_KM = 1.0


def score(
    records: pd.DataFrame,
    chosen: pd.DataFrame,
    caches: CacheSet,
    strategies: Sequence[str],
    tolerance_km: float = DEFAULT_TOLERANCE_KM,
) -> pd.DataFrame:
    """One row per record: the site, the nearest cache, and per strategy its pick, km, regret, verdict."""
    out = records[["site", "synthetic", "latitude", "longitude", "client_ip", "colo"]].copy()
    out = pd.concat([out, chosen], axis=1)
    out["scorable"] = records["latitude"].notna() & records["longitude"].notna()

    positions = records.loc[out["scorable"], ["latitude", "longitude"]]
    site_codes, _ = pd.factorize(pd.util.hash_pandas_object(positions, index=False))
    _, first = np.unique(site_codes, return_index=True)
    unique = positions.to_numpy(dtype=float)[first]
    if not np.array_equal(unique[site_codes], positions.to_numpy(dtype=float)):  # a hash collision: be exact
        unique, site_codes = np.unique(positions.to_numpy(dtype=float), axis=0, return_inverse=True)
        site_codes = site_codes.reshape(-1)
    everyone = caches.caches
    all_lat = np.array([np.nan if c.coordinate is None else c.coordinate.latitude for c in everyone])
    all_lon = np.array([np.nan if c.coordinate is None else c.coordinate.longitude for c in everyone])
    matrix = distance_matrix_km(unique[:, 0], unique[:, 1], all_lat, all_lon) if len(unique) else np.empty((0, 0))
    column = {cache.name: i for i, cache in enumerate(everyone)}

    nearest = pd.Series("", index=out.index, dtype=object)
    nearest_km = pd.Series(np.nan, index=out.index)
    if len(unique):
        order, distances = rank_many(caches, unique[:, 0], unique[:, 1], 1)
        nearest.loc[out["scorable"]] = [caches.in_service[i].name for i in order[site_codes, 0]]
        nearest_km.loc[out["scorable"]] = distances[site_codes, 0]
    out["nearest"] = nearest
    out["nearest_km"] = nearest_km

    for s in strategies:
        km = pd.Series(np.nan, index=out.index)
        scorable_picks = out.loc[out["scorable"], f"{s}_pick"]
        if len(unique):
            columns = np.array([column.get(name, -1) for name in scorable_picks])
            values = matrix[site_codes, np.maximum(columns, 0)]
            km.loc[out["scorable"]] = np.where(columns >= 0, values, np.nan)
        out[f"{s}_km"] = km
        out[f"{s}_regret_km"] = km - out["nearest_km"]
        out[f"{s}_correct"] = (out[f"{s}_regret_km"] <= tolerance_km).fillna(False).astype(bool)
        out[f"{s}_tie"] = out[f"{s}_correct"] & (out[f"{s}_pick"] != out["nearest"])
        out[f"{s}_no_answer"] = out[f"{s}_pick"] == ""
    return out


def population(synthetic: bool) -> str:
    return "synthetic" if synthetic else "real"


def summarize(scored: pd.DataFrame, strategies: Sequence[str], tolerance_km: float) -> dict[str, Any]:
    """Per population (real, synthetic) and strategy: correct/total, accuracy, ties, no answer, regret."""
    summary: dict[str, Any] = {"tolerance_km": tolerance_km, "populations": {}}
    for synthetic, group in scored.groupby("synthetic", sort=True):
        scorable = group[group["scorable"]]
        entry: dict[str, Any] = {
            "records": len(group),
            "scored": len(scorable),
            "unscorable": len(group) - len(scorable),
            "sites": int(scorable["site"].nunique()),
            "strategies": {},
        }
        for s in strategies:
            regret = scorable[f"{s}_regret_km"].dropna()
            correct = int(scorable[f"{s}_correct"].sum())
            total = len(scorable)
            entry["strategies"][s] = {
                "correct": correct,
                "total": total,
                "accuracy": round(correct / total, 4) if total else None,
                "ties": int(scorable[f"{s}_tie"].sum()),
                "no_answer": int(scorable[f"{s}_no_answer"].sum()),
                "mean_regret_km": round(float(regret.mean()), 1) if len(regret) else None,
                "max_regret_km": round(float(regret.max()), 1) if len(regret) else None,
                "observed": int((scorable[f"{s}_source"] == "observed").sum()),
                "computed": int((scorable[f"{s}_source"] == "computed").sum()),
                "methods": {str(k): int(v) for k, v in scorable[f"{s}_method"].value_counts().items()},
            }
        summary["populations"][population(bool(synthetic))] = entry
    return summary
