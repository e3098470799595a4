"""Load-aware ranking (locator.core.load, rule 5 of locator.core.rank): deterministic, moving only the loaded
cache's clients, at least as strongly as Pelican's IO-load weight, within the detour, and back when load falls."""

from __future__ import annotations

from collections import Counter
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locator.core.caches import Cache, CacheSet
from locator.core.federation import Federation, Spread
from locator.core.geo import Coordinate
from locator.core.load import CacheLoad, LoadView
from locator.core.rank import rank

CACHES = CacheSet(
    (
        Cache("Lincoln", "https://lincoln.example", Coordinate(40.82, -96.70)),
        Cache("KansasCity", "https://kc.example", Coordinate(39.10, -94.58)),
        Cache("Chicago", "https://chicago.example", Coordinate(41.88, -87.63)),
        Cache("Denver", "https://denver.example", Coordinate(39.74, -104.99)),
        Cache("Amsterdam", "https://ams.example", Coordinate(52.37, 4.90)),
    )
)
OMAHA = Coordinate(41.26, -95.93)
NETWORKS = [f"10.{i // 256}.{i % 256}.0/24" for i in range(4000)]


def federation(detour_km: float = 500.0, **loads: float) -> Federation:
    view = LoadView(MappingProxyType({name: CacheLoad(value) for name, value in loads.items()}), 0.0)
    return Federation(CACHES, load=view, spread=Spread(spread_km=0.0, detour_km=detour_km))


def first(fed: Federation, network: str, where: Coordinate | None = OMAHA) -> str:
    ranking = rank(fed, where, None, network)
    return fed.caches.caches[int(ranking.indices[0])].name


def test_no_load_and_load_under_the_threshold_change_nothing() -> None:
    today, light = federation(), federation(Lincoln=100.0, Chicago=80.0)
    assert light.places.kept is None  # the ranking's fast path
    for network in NETWORKS[:200]:
        assert rank(light, OMAHA, None, network).places == rank(today, OMAHA, None, network).places


def test_at_io_load_1000_the_cache_keeps_at_most_a_tenth_of_its_clients() -> None:
    loaded = federation(Lincoln=1000.0)
    kept = sum(first(loaded, network) == "Lincoln" for network in NETWORKS) / len(NETWORKS)
    assert 0.02 < kept <= 0.10  # 2^-4.5 = 4.4% expected; Pelican's weight would keep about that share at most
    moved = rank(loaded, OMAHA, None, next(n for n in NETWORKS if first(loaded, n) != "Lincoln"))
    assert moved.places[0].reason == "distance" and "load" in [place.reason for place in moved.places]


@given(st.sampled_from(NETWORKS), st.floats(101, 5000), st.floats(101, 5000))
def test_only_the_loaded_caches_clients_move_and_more_load_moves_more(network: str, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    before = first(federation(), network)
    lighter, heavier = first(federation(Lincoln=low), network), first(federation(Lincoln=high), network)
    if before != "Lincoln":
        assert lighter == heavier == before  # another cache's clients keep their cache
    if heavier == "Lincoln":
        assert lighter == "Lincoln"  # a client kept under more load is kept under less
    assert first(federation(), network) == before  # load gone: the answer it had


def test_never_farther_than_the_detour() -> None:
    # in Amsterdam, the only cache within 500 km is Amsterdam: however loaded, it stays first
    amsterdam = Coordinate(52.0, 4.5)
    loaded = federation(Amsterdam=5000.0)
    assert {first(loaded, network, amsterdam) for network in NETWORKS[:300]} == {"Amsterdam"}
    # in Omaha a loaded Lincoln sends clients to Kansas City (about 250 km farther at most), never to Chicago
    assert {first(federation(Lincoln=5000.0), network) for network in NETWORKS[:300]} <= {"Lincoln", "KansasCity"}


def test_shed_clients_spread_over_the_caches_with_room_nearer_and_less_loaded_drawing_more() -> None:
    # from Omaha with a 1,000 km detour: Kansas City (~170 km beyond Lincoln), Chicago (~620) and Denver (~720)
    # have room; Pelican's distance weight gives them about 0.69 : 0.26 : 0.21 of the shed clients
    def moved_to(fed: Federation) -> Counter[str]:
        return Counter(first(fed, network) for network in NETWORKS if first(fed, network) != "Lincoln")

    free = moved_to(federation(1000.0, Lincoln=5000.0))
    total = sum(free.values())
    assert total > 3500 and set(free) == {"KansasCity", "Chicago", "Denver"}
    assert free["KansasCity"] / total == pytest.approx(0.69 / 1.16, abs=0.04)
    assert free["Chicago"] / total == pytest.approx(0.26 / 1.16, abs=0.04)
    busy = moved_to(federation(1000.0, Lincoln=5000.0, KansasCity=300.0))  # Kansas City keeps half its clients
    assert busy["KansasCity"] < 0.75 * free["KansasCity"] and busy["Chicago"] > free["Chicago"]


def test_the_same_answer_on_every_replica_and_every_time() -> None:
    one, other = federation(Lincoln=700.0), federation(Lincoln=700.0)
    for network in NETWORKS[:300]:
        assert rank(one, OMAHA, None, network).places == rank(other, OMAHA, None, network).places


@pytest.mark.parametrize("status_weight", [0.5, 0.0])
def test_a_poor_status_sheds_clients_too(status_weight: float) -> None:
    assert CacheLoad(50.0, status_weight).kept == pytest.approx(max(1e-9, status_weight))


def test_a_stale_report_is_ignored() -> None:
    stale = LoadView(MappingProxyType({"Lincoln": CacheLoad(5000.0)}), 0.0, stale=True)
    assert Federation(CACHES, load=stale).places.kept is None


def test_unlocated_clients_are_shed_too() -> None:
    loaded = federation(Lincoln=1000.0)
    firsts = [first(loaded, network, None) for network in NETWORKS]
    unloaded = [first(federation(), network, None) for network in NETWORKS]
    had = sum(name == "Lincoln" for name in unloaded)
    keeps = sum(a == "Lincoln" for a in firsts)
    assert had > 100 and keeps <= 0.1 * had
    assert all(a == b for a, b in zip(firsts, unloaded, strict=True) if b != "Lincoln")
