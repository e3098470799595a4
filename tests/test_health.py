"""Cache health: the smoothing rules, and the prober against real local HTTP servers standing in for caches
(healthy, answering 403, failing, slow, flapping, refusing connections), through the service's HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from werkzeug import Response

from locator.core.caches import Cache, CacheSet
from locator.core.federation import Federation, SnapshotStore
from locator.core.health import CacheHealth, State
from locator.sources.prober import Prober, probe_all
from tests.conftest import ClientFactory, Handler


def states(answers: str) -> list[str]:
    """The state after each probe, from healthy: `+` answered, `-` failed."""
    health, seen = CacheHealth(State.OK), []
    for mark in answers:
        health = health.observe(mark == "+", "", 0.0)
        seen.append(health.state.value[0])  # o(k), d(egraded), f(ailed)
    return seen


def test_smoothing_as_documented() -> None:
    assert states("--") == ["o", "d"]  # two failures in a row demote
    assert states("-----") == ["o", "d", "d", "d", "f"]  # five remove
    assert states("--------++++") == [*"odddffff", "d", "d", "d", "o"]  # back with one answer, healthy after four
    assert states("-+" * 10)[-4:] == ["d", "d", "d", "d"]  # a flapping cache settles degraded
    assert states("-+-+") == ["o", "o", "o", "o"]  # a single miss now and then is no fault
    assert CacheHealth().state is State.UNKNOWN


# --- real local servers -----------------------------------------------------------------------------------


def behaviour(kind: str) -> Handler:
    """How a cache stand-in of a kind answers: ok, forbidden (403), failing (503), slow (2 s), flapping."""
    flips = itertools.cycle([200, 500])
    statuses: dict[str, Callable[[], int]] = {
        "ok": lambda: 200,
        "forbidden": lambda: 403,
        "failing": lambda: 503,
        "flapping": lambda: next(flips),
        "slow": lambda: time.sleep(2.0) or 200,
    }
    return lambda request: Response(b"", status=statuses[kind]())


@pytest.fixture
def servers(local_http: Callable[[Handler], str]) -> Callable[[str], str]:
    """Start a local cache stand-in of a kind (see `behaviour`; `refused` is a port nobody listens on);
    returns its endpoint URL."""

    def start(kind: str) -> str:
        if kind == "refused":
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                return f"http://127.0.0.1:{sock.getsockname()[1]}"
        return local_http(behaviour(kind))

    return start


KINDS = ("ok", "forbidden", "failing", "slow", "flapping", "refused")


def test_prober_rounds_against_real_servers(servers: Callable[[str], str]) -> None:
    caches = CacheSet(tuple(Cache(kind, servers(kind), None) for kind in KINDS))
    store = SnapshotStore(Federation(caches))
    prober = Prober(store, "/", timeout_s=0.5, concurrency=3, interval_s=1.5)
    for _ in range(6):
        federation = asyncio.run(prober.round())
    view = federation.health
    assert {kind: view.of(kind).state.value for kind in KINDS} == {
        "ok": "ok",
        "forbidden": "ok",  # an answer below 500: the cache's server is up
        "failing": "failed",
        "slow": "failed",
        "flapping": "degraded",
        "refused": "failed",
    }
    assert view.of("slow").last == "timeout after 0.5 s"
    assert view.of("forbidden").last.startswith("HTTP 403 in ")
    assert view.of("refused").last.startswith("unreachable: ConnectError")
    assert view.of("ok").probes == 6
    assert view.distrusted  # 4 of 6 unhealthy: more than half, the prober is blamed


def test_a_round_ends_in_time_whatever_the_caches_do(servers: Callable[[str], str]) -> None:
    """A probe still waiting when the round's time is up (a name slow to fail to resolve, a cache that never
    answers) counts as failed, and the round ends: probing 10,000 caches can never take an hour."""
    caches = CacheSet(tuple(Cache(f"slow{i}", servers("slow"), None) for i in range(4)))
    prober = Prober(SnapshotStore(Federation(caches)), "/", timeout_s=3.0, concurrency=1, interval_s=0.5)
    started = time.monotonic()
    view = asyncio.run(prober.round()).health  # one at a time, 2 s each: the round's 3 s end it after the first
    outcomes = sorted(re.sub(r"\d+ ms", "N ms", view.of(f"slow{i}").last) for i in range(4))
    assert outcomes == ["HTTP 200 in N ms"] + ["no answer within the round (3 s)"] * 3
    assert time.monotonic() - started < 8.0  # it did not wait for all four (4 x 2 s)


def test_a_round_cancelled_midway_leaves_no_probe_behind(servers: Callable[[str], str]) -> None:
    """A shutdown cancels a round while probes wait: every probe ends with it (once, they ran on against the
    closed client and died with "Task exception was never retrieved")."""
    caches = [Cache(f"slow{i}", servers("slow"), None) for i in range(4)]

    async def cancelled_round() -> set[asyncio.Task[object]]:
        before = asyncio.all_tasks()
        round_ = asyncio.create_task(probe_all(caches, "/", timeout_s=5.0, concurrency=2, deadline_s=10.0))
        await asyncio.sleep(0.5)  # two probes waiting on their slow caches, two on the gate
        round_.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await round_
        return asyncio.all_tasks() - before - {asyncio.current_task()}  # type: ignore[operator]

    assert asyncio.run(cancelled_round()) == set()


def write_caches(path: Path, endpoints: dict[str, str], positions: dict[str, tuple[float, float]]) -> None:
    lines = ["name,endpoint,latitude,longitude"]
    lines += [f"{name},{url},{positions[name][0]},{positions[name][1]}" for name, url in endpoints.items()]
    path.write_text("\n".join(lines) + "\n")


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait for background work to have happened (never a check of how fast it was)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"{what}: not seen within {timeout_s} s")


def test_health_through_the_service(servers: Callable[[str], str], make_client: ClientFactory, data_dir: Path) -> None:
    """Three healthy caches and one failing, one flapping: the prober is believed; /nearest leaves the failed one
    out and puts the degraded one last; /caches says why; /metrics has it per cache."""
    endpoints = {
        "near_failing": servers("failing"),
        "near_flapping": servers("flapping"),
        "middle": servers("ok"),
        "far": servers("forbidden"),
        "farther": servers("ok"),
    }
    positions = {
        "near_failing": (29.8, -95.3),
        "near_flapping": (29.9, -95.4),
        "middle": (39.1, -94.6),
        "far": (41.9, -87.6),
        "farther": (47.6, -122.3),
    }
    write_caches(data_dir / "caches.csv", endpoints, positions)
    client = make_client(health_interval_s="0.05", health_timeout_s="1", allow_private_endpoints="true")

    def settled() -> bool:
        caches = {c["name"]: c for c in client.get("/caches").json()["caches"]}
        return (
            caches["near_failing"]["health"]["state"] == "failed"
            and caches["near_flapping"]["health"]["state"] == "degraded"
            and caches["near_flapping"]["health"]["probes"] >= 12
        )

    wait_for(settled, "the failing cache removed and the flapping one demoted")
    body = client.get("/nearest", params={"lat": "29.76", "lon": "-95.37"}).json()
    assert [(c["name"], c["health"], c["reason"]) for c in body["caches"]] == [
        ("middle", "ok", "nearest"),
        ("far", "ok", "distance"),
        ("farther", "ok", "distance"),
        ("near_flapping", "degraded", "degraded"),
    ]
    caches = {c["name"]: c for c in client.get("/caches").json()["caches"]}
    assert not caches["near_failing"]["in_service"]
    assert re.fullmatch(r"not ranked: probe score 0\.\d+, last HTTP 503 in \d+ ms", caches["near_failing"]["reason"])
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and not ready["health"]["distrusted"] and ready["health"]["probing"]
    assert ready["caches_in_service"] == 4
    metrics = client.get("/metrics").text
    assert 'locator_cache_ranked{cache="near_failing"} 0.0' in metrics
    assert 'locator_cache_health{cache="near_flapping",state="degraded"} 1.0' in metrics
    assert "locator_health_prober_distrusted 0.0" in metrics


def test_when_most_caches_fail_at_once_the_prober_is_distrusted(
    servers: Callable[[str], str], make_client: ClientFactory, data_dir: Path
) -> None:
    endpoints = {f"down{i}": servers("failing" if i % 2 else "refused") for i in range(4)}
    endpoints["up"] = servers("ok")
    positions = {name: (30.0 + i, -95.0) for i, name in enumerate(endpoints)}
    write_caches(data_dir / "caches.csv", endpoints, positions)
    client = make_client(health_interval_s="0.05", health_timeout_s="1", allow_private_endpoints="true")
    wait_for(lambda: client.get("/readyz").json()["health"]["distrusted"], "the prober distrusted")
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert ready["health"]["reason"].startswith("4 of 5 probed caches failed their probes at once")
    assert ready["caches_in_service"] == 5
    body = client.get("/nearest", params={"lat": "30", "lon": "-95"}).json()
    assert [c["name"] for c in body["caches"]] == ["down0", "down1", "down2", "down3", "up"]  # the full list
    assert {c["health"] for c in body["caches"]} == {"unknown"}  # believed no verdict
    caches = {c["name"]: c for c in client.get("/caches").json()["caches"]}
    expected = r"ranked as healthy: the prober is distrusted \((degraded|failed): HTTP 503 in \d+ ms\)"
    assert re.fullmatch(expected, caches["down1"]["reason"])
    assert "locator_health_prober_distrusted 1.0" in client.get("/metrics").text


def test_probing_is_off_with_interval_zero(make_client: ClientFactory) -> None:
    client: TestClient = make_client()
    assert client.get("/readyz").json()["health"]["probing"] is False
    assert {c["health"]["state"] for c in client.get("/caches").json()["caches"]} == {"unknown"}
