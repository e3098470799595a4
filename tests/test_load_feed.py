"""The load feed (LOCATOR_LOAD_URL) against a stand-in Pelican director on 127.0.0.1 whose `ioLoad` values the
tests change: what the service answers, repeatably, within the detour, back when load falls; stale and hostile
feeds leave the answers as they would be without load."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient
from werkzeug import Request, Response

from locator.core.federation import SnapshotStore
from locator.resources import load_federation
from locator.settings import Settings
from locator.sources.load_feed import LoadFeed, endpoint_key, servers_url
from locator.sources.sync import SERVERS
from tests.conftest import ClientFactory, Handler

OMAHA = {"lat": "41.26", "lon": "-95.93"}  # Kansas City nearest (about 270 km), Chicago within the 500 km detour


def director(loads: dict[str, Any], status: int = 200) -> Callable[[Request], Response]:
    """Answers the server list with the loads given now (a dict the test changes), by path."""

    def answer(request: Request) -> Response:
        if request.path != SERVERS:
            return Response(b"not here", status=404)
        servers = [
            {"name": "ORIGIN", "type": "Origin", "url": "https://origin.example:8443", "ioLoad": 9999},
            {
                "name": "kansas-cache",
                "type": "Cache",
                "url": "https://kansas.example.org:8443",
                "ioLoad": loads["kansas"],
            },
            {"name": "Chicago", "type": "Cache", "url": "https://elsewhere.example:1", "ioLoad": loads["chicago"]},
            {"name": "UNKNOWN", "type": "Cache", "url": "https://nowhere.example:8443", "ioLoad": 5000},
        ]
        return Response(json.dumps(servers), status=status, content_type="application/json")

    return answer


def wait_for(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the load feed did not get there in time"
        time.sleep(0.05)


def firsts(client: TestClient, networks: int = 400) -> list[str]:
    return [
        client.get("/nearest", params={**OMAHA, "ip": f"10.{i // 256}.{i % 256}.9", "n": "3"}).json()["caches"][0][
            "name"
        ]
        for i in range(networks)
    ]


def test_the_service_sheds_a_loaded_caches_clients_and_takes_them_back(
    local_http: Callable[[Handler], str], make_client: ClientFactory
) -> None:
    loads: dict[str, Any] = {"kansas": 10.0, "chicago": 10.0}
    client = make_client(load_url=local_http(director(loads)), load_interval_s="1")
    wait_for(lambda: client.get("/nearest", params=OMAHA).json()["caches"][0]["load"] == 10.0)
    before = firsts(client)
    assert set(before) == {"Kansas"}
    loads["kansas"] = 1000.0
    wait_for(
        lambda: (
            client.get("/nearest", params=OMAHA).json()["caches"][0]["load"] in (1000.0, 10.0)
            and any(c["load"] == 1000.0 for c in client.get("/nearest", params=OMAHA).json()["caches"])
        )
    )
    during = firsts(client)
    assert during == firsts(client)  # repeatable
    kept = during.count("Kansas") / len(during)
    assert kept <= 0.10 and set(during) == {"Kansas", "Chicago"}  # the next-nearest, within the detour
    moved = client.get("/nearest", params={**OMAHA, "ip": f"10.0.{during.index('Chicago')}.9"}).json()
    assert [c["reason"] for c in moved["caches"] if c["name"] == "Kansas"] == ["load"]
    assert "locator_answers_moved_by_load_total" in client.get("/metrics").text
    loads["kansas"] = 10.0
    wait_for(lambda: all(c["load"] != 1000.0 for c in client.get("/nearest", params=OMAHA).json()["caches"]))
    assert firsts(client) == before  # load gone: every answer as it was


def test_a_feed_that_fails_keeps_the_last_report_then_goes_stale(
    local_http: Callable[[Handler], str], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    loads: dict[str, Any] = {"kansas": 3000.0, "chicago": 10.0}
    failing = {"now": False}
    good = director(loads)

    def flaky(request: Request) -> Response:
        return Response(b"<html>oops", status=500) if failing["now"] else good(request)

    store = SnapshotStore(load_federation(settings))
    feed = LoadFeed(store, local_http(flaky), interval_s=1.0, max_bytes=1_000_000)
    asyncio.run(feed.poll())
    assert store.current.load.of("Kansas") is not None and store.current.places.kept is not None
    assert store.current.load.of("ORIGIN") is None and store.current.load.of("UNKNOWN") is None
    failing["now"] = True
    with caplog.at_level(logging.WARNING):
        asyncio.run(feed.poll())
        asyncio.run(feed.poll())
    assert not store.current.load.stale  # a fresh report stays in use
    assert len([r for r in caplog.records if "load feed" in r.getMessage()]) == 1  # one line a streak
    feed.last_ok = time.time() - 10  # older than three intervals
    asyncio.run(feed.poll())
    assert store.current.load.stale and store.current.places.kept is None  # ignored: distance alone


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"not": "a list"}',
        json.dumps([{"type": "Cache", "ioLoad": "high"}]).encode(),
        b"x" * 3_000_000,
    ],
)
def test_a_hostile_feed_changes_nothing(local_http: Callable[[Handler], str], settings: Settings, body: bytes) -> None:
    store = SnapshotStore(load_federation(settings))
    before = store.current
    feed = LoadFeed(store, local_http(lambda request: Response(body)), interval_s=1.0, max_bytes=1_000_000)
    asyncio.run(feed.poll())  # one line, no exception
    assert store.current.places.kept is None and store.current.load.of("Kansas") is None
    assert store.current.caches is before.caches


def test_unreachable_feed(settings: Settings) -> None:
    store = SnapshotStore(load_federation(settings))
    feed = LoadFeed(store, "http://127.0.0.1:9", interval_s=1.0, max_bytes=1_000_000)
    asyncio.run(feed.poll())
    assert store.current.load.stale and store.current.places.kept is None


def test_urls_and_endpoints() -> None:
    assert servers_url("https://director.example/") == "https://director.example" + SERVERS
    assert servers_url("https://director.example" + SERVERS) == "https://director.example" + SERVERS
    assert (
        endpoint_key("https://Cache.Example")
        == endpoint_key("https://cache.example:443/")
        == "https://cache.example:443"
    )
    assert endpoint_key("http://[::1") is None
