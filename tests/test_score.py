"""Scoring: ties, unknown positions, no answers, observed vs computed, populations kept apart."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evaluation.records import from_rows
from evaluation.score import score, summarize
from locator.core.caches import Cache, CacheSet
from locator.core.geo import Coordinate

SIUE_POINT = Coordinate(38.80, -90.0)
CACHES = CacheSet(
    (
        Cache("Chicago", "https://chicago.example", Coordinate(41.8882, -87.6164)),
        Cache("Kansas", "https://kansas.example", Coordinate(39.1024, -94.5986)),
        Cache("HoustonA", "https://houston-a.example", Coordinate(29.8131, -95.3098)),
        Cache("HoustonB", "https://houston-b.example", Coordinate(29.8131, -95.3098)),
        Cache("Nowhere", "https://nowhere.example", None),
        Cache("Down", "https://down.example", Coordinate(38.79, -90.0), status="down"),
        # LIGO-only, right beside SIUE: nearest for /igwn/ligo, refused for anything else
        Cache("LigoOnly", "https://ligo.example", SIUE_POINT, namespaces=frozenset({"/igwn/ligo"}), public=False),
    )
)
LISTED = ["/igwn/ligo"]
SIUE = (38.7931, -89.9961)  # Chicago 398.9 km, Kansas 399.5 km
STRATEGIES = ["legacy"]


def scored_for(rows: list[dict[str, object]], tolerance_km: float = 1.0) -> pd.DataFrame:
    records = from_rows(rows)
    chosen = pd.DataFrame(
        {
            "legacy_pick": records["legacy_pick"],
            "legacy_source": "observed",
            "legacy_method": "observed",
            "legacy_error": records["legacy_error"],
        }
    )
    return score(records, chosen, CACHES, LISTED, STRATEGIES, tolerance_km)


def test_a_near_tie_is_correct_within_the_tolerance_and_flagged() -> None:
    row = {"site": "SIUE", "latitude": SIUE[0], "longitude": SIUE[1], "legacy_pick": "Kansas"}
    tie = scored_for([row]).iloc[0]
    assert tie["nearest"] == "Chicago"
    assert tie["nearest_km"] == pytest.approx(398.86, abs=0.01)
    assert tie["legacy_regret_km"] == pytest.approx(0.5955, abs=0.001)
    assert tie["legacy_correct"] and tie["legacy_tie"]
    strict = scored_for([row], tolerance_km=0.0).iloc[0]
    assert not strict["legacy_correct"] and not strict["legacy_tie"]


def test_exact_tie_at_the_same_position() -> None:
    rows = [{"site": "Houston", "latitude": 29.76, "longitude": -95.37, "legacy_pick": "HoustonB"}]
    result = scored_for(rows, tolerance_km=0.0).iloc[0]
    assert result["nearest"] == "HoustonA"  # the first of equals, in file order
    assert result["legacy_correct"] and result["legacy_tie"] and result["legacy_regret_km"] == 0


def test_unknown_site_position_is_not_scored() -> None:
    scored = scored_for(
        [
            {"site": "?", "legacy_pick": "Kansas"},
            {"site": "ok", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "Chicago"},
        ]
    )
    assert scored["scorable"].tolist() == [False, True]
    entry = summarize(scored, STRATEGIES, 1.0)["populations"]["real"]
    assert (entry["records"], entry["scored"], entry["unscorable"]) == (2, 1, 1)
    assert entry["strategies"]["legacy"]["correct"] == 1 and entry["strategies"]["legacy"]["total"] == 1


def test_pick_with_unknown_position_and_down_caches() -> None:
    scored = scored_for(
        [
            {"site": "a", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "Nowhere"},
            {"site": "b", "latitude": 38.79, "longitude": -90.0, "legacy_pick": "Down"},
        ]
    )
    nowhere, down = scored.iloc[0], scored.iloc[1]
    assert math.isnan(nowhere["legacy_regret_km"]) and not nowhere["legacy_correct"]
    assert down["nearest"] != "Down"  # a cache out of service is never the truth
    assert down["legacy_km"] == pytest.approx(0.0) and down["legacy_correct"]  # but an observed pick may name it


def test_no_answer_counts_wrong_and_is_reported() -> None:
    scored = scored_for(
        [
            {"site": "a", "latitude": 41.9, "longitude": -87.6, "legacy_error": "HTTP 400"},
            {"site": "b", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "Chicago"},
        ]
    )
    stats = summarize(scored, STRATEGIES, 1.0)["populations"]["real"]["strategies"]["legacy"]
    assert (stats["correct"], stats["total"], stats["no_answer"], stats["accuracy"]) == (1, 2, 1, 0.5)
    assert stats["mean_regret_km"] == 0.0 and stats["max_regret_km"] == 0.0


def test_real_and_synthetic_are_never_pooled() -> None:
    scored = scored_for(
        [
            {"site": "a", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "Chicago"},
            {"site": "b", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "HoustonA", "synthetic": True},
            {
                "site": "c",
                "latitude": 41.9,
                "longitude": -87.6,
                "legacy_pick": "HoustonA",
                "synthetic": "true",
            },
        ]
    )
    summary = summarize(scored, STRATEGIES, 1.0)
    assert set(summary["populations"]) == {"real", "synthetic"}
    assert summary["populations"]["real"]["strategies"]["legacy"]["accuracy"] == 1.0
    assert summary["populations"]["synthetic"]["strategies"]["legacy"]["correct"] == 0
    assert summary["populations"]["synthetic"]["strategies"]["legacy"]["total"] == 2
    assert summary["populations"]["synthetic"]["strategies"]["legacy"]["max_regret_km"] > 1000


def test_summary_has_the_documented_fields() -> None:
    scored = scored_for([{"site": "a", "latitude": 41.9, "longitude": -87.6, "legacy_pick": "Kansas"}])
    stats = summarize(scored, STRATEGIES, 1.0)["populations"]["real"]["strategies"]["legacy"]
    assert {"correct", "total", "accuracy", "mean_regret_km", "max_regret_km"} <= set(stats)


def test_truth_is_the_nearest_cache_the_namespace_allows_and_blind_picks_are_refused() -> None:
    siue = {"site": "SIUE", "latitude": SIUE[0], "longitude": SIUE[1]}
    rows = [
        {**siue, "legacy_pick": "LigoOnly"},  # public data (no path): the LIGO-only cache refuses it
        {**siue, "legacy_pick": "LigoOnly", "path": "/igwn/ligo/O4/frame.gwf"},  # LIGO data: right
        {**siue, "legacy_pick": "Chicago", "namespace": "/igwn/ligo"},  # a prefix only; Chicago serves no LIGO
        {**siue, "legacy_pick": "LigoOnly", "path": "/igwn/ligo-other/x"},  # whole segments: public data
    ]
    result = scored_for(rows)
    assert list(result["namespace"]) == ["", "/igwn/ligo", "/igwn/ligo", ""]
    assert list(result["nearest"]) == ["Chicago", "LigoOnly", "LigoOnly", "Chicago"]
    assert list(result["legacy_refused"]) == [True, False, True, True]
    assert list(result["legacy_correct"]) == [False, True, False, False]
    assert math.isnan(result["legacy_regret_km"][0])  # a refused pick's km is not regret
    summary = summarize(result, STRATEGIES, 1.0)["populations"]["real"]["strategies"]["legacy"]
    assert (summary["refused"], summary["correct"]) == (3, 1)
