"""One decision (locate, then rank on demand), and the service's one memo of rendered answers, bounded in bytes."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc

from starlette.testclient import TestClient

from locator.core.decide import decide
from locator.core.edge import EdgeContext
from locator.core.geo import Coordinate
from locator.resources import load_federation
from locator.settings import Settings
from tests.conftest import ClientFactory

CHICAGO = Coordinate(41.9, -87.6)


def test_a_decision_ranks_only_when_asked_and_time_matters_only_unlocated(settings: Settings) -> None:
    federation = load_federation(settings)
    one = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=10.0)
    assert "ranking" not in one.__dict__  # nothing ranked until asked
    later = decide(federation, EdgeContext(), CHICAGO, n=3, now_s=99_999.0)
    assert one.ranking.places == later.ranking.places  # a located client: time is no input
    lost = [decide(federation, EdgeContext(), None, now_s=t).ranking.places for t in (1_000.0, 1_001.0)]
    assert lost[0] == lost[1]  # the same window


def test_the_memo_keys_by_what_the_answer_depends_on(make_client: ClientFactory) -> None:
    client = make_client()
    memo = client.app.state.locator.memo  # type: ignore[attr-defined]
    edge = {"cf-iplatitude": "41.9", "cf-iplongitude": "-87.6", "cf-ipcity": "Chicago", "x-unrelated": "1"}
    first = client.get("/nearest", headers=edge)
    assert len(memo) == 1
    assert client.get("/nearest", headers={**edge, "x-unrelated": "2"}).content == first.content
    assert len(memo) == 1  # a header the locator does not read is no part of the key
    client.get("/nearest", headers={**edge, "cf-ipcity": "Elsewhere"})
    client.get("/nearest", headers=edge, params={"n": "2"})
    client.get("/nearest", headers=edge, params={"format": "text"})
    assert len(memo) == 4


def test_an_unlocated_clients_entry_lasts_its_sticky_window(make_client: ClientFactory) -> None:
    client = make_client(fallback_sticky_s="1")
    memo = client.app.state.locator.memo  # type: ignore[attr-defined]
    client.get("/nearest")
    (entry,) = memo.values()
    assert entry.location.coordinate is None and entry.window is not None
    time.sleep(1.05)  # into a later window (not a speed check: the window must pass; a loaded machine may
    client.get("/nearest")  # take longer, and land a window or two later)
    (again,) = memo.values()
    assert again.window is not None and again.window > entry.window


def test_the_memo_answers_repeats_and_stays_within_its_bytes(make_client: ClientFactory) -> None:
    client = make_client(memo_mb="0.02")  # 20,000 bytes
    memo = client.app.state.locator.memo  # type: ignore[attr-defined]
    first = client.get("/nearest", params={"lat": "41.9", "lon": "-87.6"})
    entries, size = len(memo), memo.currsize
    rendered = len(json.dumps(first.json()["caches"], separators=(",", ":")))
    assert entries == 1 and rendered < size < rendered + 4096  # the rendered caches, and their key
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


def test_an_entry_holds_no_more_memory_than_the_memo_counts_for_it(make_client: ClientFactory) -> None:
    """Traced allocations of 300 requests that each make a new entry (distinct edge positions), with the memo and
    without it: the difference is what the entries hold, and it stays below the bytes the memo counts for them.
    So the bound in bytes holds for real memory, not just for the rendered bodies."""

    def growth(client: TestClient) -> int:
        def ask(i: int) -> None:
            edge = {"cf-iplatitude": f"{30 + i / 1000:.4f}", "cf-iplongitude": "-90.0", "cf-ipcity": "Somewhere"}
            assert client.get("/nearest", headers=edge).status_code == 200

        for i in range(50):  # warm: imports, the parsers' caches, the metrics' children
            ask(i)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000, 1300):
            ask(i)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return grown

    without = growth(make_client(memo_mb="0", access_log="false"))
    client = make_client(memo_mb="50", access_log="false")
    memo = client.app.state.locator.memo  # type: ignore[attr-defined]
    held = growth(client) - without
    assert len(memo) == 350
    accounted = memo.currsize * 300 / 350
    assert 0.5 * accounted < held < accounted, (held, accounted)  # counted generously, but not wildly
