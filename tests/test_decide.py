"""One decision (locate, then rank on demand), and the service's one memo of rendered answers, bounded in bytes."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from locator.decide import decide
from locator.edge import EdgeContext
from locator.geo import Coordinate
from locator.resources import load_federation
from locator.settings import Settings
from tests.conftest import ClientFactory

CHICAGO = Coordinate(41.9, -87.6)


def test_equal_ranking_keys_mean_equal_places(settings: Settings) -> None:
    federation = load_federation(settings)
    one = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=10.0)
    assert "ranking" not in one.__dict__  # nothing ranked until asked
    two = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=99_999.0)  # a located client: time is no input
    assert one.ranking_key == two.ranking_key and one.ranking.places == two.ranking.places
    assert decide(federation, EdgeContext(), CHICAGO, n=4).ranking_key != one.ranking_key
    lost = decide(federation, EdgeContext(), None, now_s=1_000.0)
    assert lost.ranking_key[-2] is not None  # an unlocated client's window is part of its key
    assert decide(federation, EdgeContext(), None, now_s=1_001.0).ranking_key == lost.ranking_key


def test_the_memo_answers_repeats_and_stays_within_its_bytes(make_client: ClientFactory) -> None:
    client = make_client(memo_mb="0.02")  # 20,000 bytes
    memo = client.app.state.locator.memo  # type: ignore[attr-defined]
    first = client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"})
    entries, size = len(memo), memo.currsize
    assert entries == 1 and size > len(first.json()["caches"]) * 100  # the rendered caches, and their key
    again = client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"})
    assert again.content == first.content and (len(memo), memo.currsize) == (entries, size)  # a hit
    for lat in range(60):
        assert client.get("/nearest", params={"lat": str(lat), "lon": "-87.6"}).status_code == 200
    assert memo.currsize <= memo.maxsize == 20_000
    assert 0 < len(memo) < 60  # the oldest made room


def test_a_new_snapshot_starts_an_empty_memo(make_client: ClientFactory) -> None:
    client = make_client()
    locator = client.app.state.locator  # type: ignore[attr-defined]
    client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"})
    assert len(locator.memo) == 1
    locator.store.update(lambda federation: federation)  # any swap: a reload, a health round
    client.get("/nearest", params={"lat": "40", "lon": "-87.6"})
    assert len(locator.memo) == 1 and locator.memo_version == locator.store.current.version


def test_no_memo_when_turned_off(make_client: ClientFactory) -> None:
    client = make_client(memo_mb="0")
    assert client.app.state.locator.memo is None  # type: ignore[attr-defined]
    assert client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"}).json()["caches"][0]["name"] == "Chicago"


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
    }
    fallback = client.get("/nearest").json()
    assert fallback["method"] == "fallback" and all(c["distance_km"] is None for c in fallback["caches"])
    assert {c["reason"] for c in fallback["caches"]} == {"unlocated"}
