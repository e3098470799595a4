"""One decision: locate, then rank on demand; how long an unlocated client's answer holds."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from locator.core.decide import decide
from locator.core.edge import EdgeContext
from locator.core.geo import Coordinate
from locator.core.rank import sticky_window
from locator.resources import load_federation
from locator.settings import Settings

CHICAGO = Coordinate(41.9, -87.6)


def test_a_decision_ranks_only_when_asked_and_time_matters_only_unlocated(settings: Settings) -> None:
    federation = load_federation(settings)
    one = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=10.0)
    assert "ranking" not in one.__dict__  # nothing ranked until asked
    later = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=99_999.0)
    assert one.ranking.places == later.ranking.places  # a located client: time is no input
    lost = [decide(federation, EdgeContext(), None, now_s=t).ranking.places for t in (1_000.0, 1_001.0)]
    assert lost[0] == lost[1]  # the same window


def test_an_unlocated_answer_holds_until_its_sticky_window_ends(settings: Settings) -> None:
    federation = load_federation(settings)
    located = decide(federation, EdgeContext(), CHICAGO, now_s=10.0)
    assert located.expires_s is None  # its order does not depend on time
    lost = decide(federation, EdgeContext(), None, now_s=1_000.0)
    period = federation.spread.sticky_s
    assert lost.expires_s is not None and 1_000.0 < lost.expires_s <= 1_000.0 + period
    window = sticky_window(lost.network, 1_000.0, period)
    assert sticky_window(lost.network, lost.expires_s - 1e-6, period) == window
    assert sticky_window(lost.network, lost.expires_s, period) == window + 1


def test_rendered_answer_is_valid_json_with_nulls_for_unknowns(client: TestClient) -> None:
    body = json.loads(client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"}).content)
    assert body["caches"][0]["name"] == "Chicago" and body["caches"][-1] == {
        "name": "Mystery",
        "endpoint": "http://mystery.example.org:8000",
        "latitude": None,
        "longitude": None,
        "distance_km": None,
        "weight": 1.0,
        "health": "unknown",
        "reason": "no_position",
        "load": None,
    }
    fallback = client.get("/nearest").json()
    assert fallback["method"] == "fallback" and all(c["distance_km"] is None for c in fallback["caches"])
    assert {c["reason"] for c in fallback["caches"]} == {"unlocated"}
