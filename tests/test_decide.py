"""One decision: the memo of recent rankings, and the rendered answer equal to its parts."""

from __future__ import annotations

import json

from locator.decide import decide
from locator.edge import EdgeContext
from locator.geo import Coordinate
from locator.resources import load_resources
from locator.settings import Settings
from locator.views import nearest_body, render_nearest

CHICAGO = Coordinate(41.9, -87.6)


def test_memo_answers_repeated_origins_and_only_them(settings: Settings) -> None:
    resources = load_resources(settings)
    assert resources.memos is not None and len(resources.memos.rankings) == 0
    first = decide(resources, EdgeContext(), CHICAGO, n=3)
    again = decide(resources, EdgeContext(), CHICAGO, n=3)
    assert len(resources.memos.rankings) == 1 and len(resources.memos.locations) == 1
    assert [c.cache.name for c in again.caches] == [c.cache.name for c in first.caches]
    assert again.order is first.order and again.location is first.location  # served from the memos
    decide(resources, EdgeContext(), CHICAGO)  # another n: another entry
    fallback = decide(resources, EdgeContext(), now_s=1_000.0)  # a sticky order: kept for its window
    assert decide(resources, EdgeContext(), now_s=1_001.0).order is fallback.order
    assert len(resources.memos.rankings) == 3


def test_memo_is_bounded_and_new_data_starts_empty(make_settings) -> None:  # type: ignore[no-untyped-def]
    resources = load_resources(make_settings(memo_size="3"))
    for lat in range(10):
        decide(resources, EdgeContext(), Coordinate(lat, 0))
    assert resources.memos is not None and len(resources.memos.rankings) == len(resources.memos.locations) == 3
    fresh = resources.with_data(resources.caches, resources.sources.overrides, 0.0)
    assert fresh.memos is not None and len(fresh.memos.rankings) == 0 and fresh.memos.size == 3
    assert load_resources(make_settings(memo_size="0")).memos is None


def test_rendered_answer_is_valid_json_with_nulls_for_unknowns(settings: Settings) -> None:
    resources = load_resources(settings)
    body = json.loads(render_nearest(decide(resources, EdgeContext(), CHICAGO)))
    assert body["caches"][0]["name"] == "Chicago" and body["caches"][-1] == {
        "name": "Mystery",
        "endpoint": "http://mystery.example.org:8000",
        "latitude": None,
        "longitude": None,
        "distance_km": None,
    }
    fallback = nearest_body(decide(resources, EdgeContext(), None))
    assert fallback["method"] == "fallback" and all(c["distance_km"] is None for c in fallback["caches"])
