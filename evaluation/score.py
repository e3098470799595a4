"""Scoring: was each pick the nearest cache that may serve the record's namespace, and what did it cost?

Truth is the nearest *eligible* cache to the site's true position (evaluation.truth: brute force, sharing
no code with the ranking it judges); a record without a path or namespace is public data. A pick within
`tolerance_km` of the nearest distance is correct, and flagged a tie when it is not the nearest itself
(the 2022 study's SIUE case: Chicago 398.9 km, Kansas City 399.5 km). A pick of a cache that may not serve
the namespace is `refused` (the job's transfer would fail there) and wrong; its km are not counted as
regret. A strategy that gave no answer is wrong (`no_answer`); a record whose site position is unknown is
not scored at all. Real and synthetic records are summarised separately, never pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from haversine import haversine

from evaluation.defaults import TOLERANCE_KM
from evaluation.records import object_paths
from evaluation.truth import listed_namespace, may_serve, truth
from locator.core.caches import CacheSet


def score(
    records: pd.DataFrame,
    chosen: pd.DataFrame,
    caches: CacheSet,
    listed: Sequence[str],
    strategies: Sequence[str],
    tolerance_km: float = TOLERANCE_KM,
) -> pd.DataFrame:
    """One row per record: the site, its namespace, the nearest eligible cache, and per strategy its pick,
    km, regret and verdict. `listed` are the namespaces the files list."""
    out = records[["site", "synthetic", "latitude", "longitude", "client_ip", "colo"]].copy()
    out["namespace"] = [listed_namespace(path, set(listed)) or "" for path in object_paths(records)]
    out = pd.concat([out, chosen], axis=1)
    out["scorable"] = records["latitude"].notna() & records["longitude"].notna()
    scorable = out[out["scorable"]]
    nearest = truth(
        caches,
        scorable["latitude"].tolist(),
        scorable["longitude"].tolist(),
        [namespace or None for namespace in scorable["namespace"]],
    )
    out["nearest"] = pd.Series("", index=out.index, dtype=object)
    out["nearest_km"] = pd.Series(np.nan, index=out.index)
    out.loc[out["scorable"], "nearest"] = nearest["nearest"].to_numpy()
    out.loc[out["scorable"], "nearest_km"] = nearest["nearest_km"].to_numpy()

    by_name = {cache.name: cache for cache in caches.caches}
    for s in strategies:
        # Per distinct (pick, namespace, site): a site's jobs make the same few picks.
        columns = [f"{s}_pick", "namespace", "latitude", "longitude"]
        codes = out.groupby(columns, sort=False, dropna=False).ngroup().to_numpy()
        uniques = out[columns].drop_duplicates()
        km = np.full(len(uniques), np.nan)
        refused = np.zeros(len(uniques), dtype=bool)
        for row, (pick, namespace, lat, lon) in enumerate(uniques.itertuples(index=False)):
            cache = by_name.get(pick)
            if cache is None or np.isnan(lat) or np.isnan(lon):
                continue
            refused[row] = not may_serve(cache, namespace or None)
            if cache.coordinate is not None and not refused[row]:
                km[row] = haversine((lat, lon), (cache.coordinate.latitude, cache.coordinate.longitude))
        out[f"{s}_km"] = km[codes]
        out[f"{s}_regret_km"] = out[f"{s}_km"] - out["nearest_km"]
        out[f"{s}_refused"] = refused[codes]
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
                "refused": int(scorable[f"{s}_refused"].sum()),
                "no_answer": int(scorable[f"{s}_no_answer"].sum()),
                "mean_regret_km": round(float(regret.mean()), 1) if len(regret) else None,
                "max_regret_km": round(float(regret.max()), 1) if len(regret) else None,
                "observed": int((scorable[f"{s}_source"] == "observed").sum()),
                "computed": int((scorable[f"{s}_source"] == "computed").sum()),
                "methods": {str(k): int(v) for k, v in scorable[f"{s}_method"].value_counts().items()},
            }
        summary["populations"][population(bool(synthetic))] = entry
    return summary
