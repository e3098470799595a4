"""THE ranking: its rules as properties over generated federations, namespaces and health, and the weighted
rendezvous spread (stable across processes, proportional to the weights)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from locator.core.caches import Cache, CacheSet
from locator.core.federation import Federation, FederationError, Spread
from locator.core.geo import Coordinate, great_circle_km
from locator.core.health import CacheHealth, HealthView, State, judged
from locator.core.namespaces import Namespace, NamespaceTable
from locator.core.rank import Place, rank, sticky_window

coordinates = st.builds(Coordinate, st.floats(-90, 90), st.floats(-180, 180))
HOUSTON = Coordinate(29.8131, -95.3098)
# Few distinct positions, so that exact ties and co-located caches are common.
positions = st.one_of(
    st.none(),
    st.sampled_from([Coordinate(41.9, -87.6), Coordinate(39.1, -94.6), HOUSTON, Coordinate(29.9, -95.2)]),
    coordinates,
)
statuses = st.sampled_from(["up", "up", "up", "down", "disabled"])
states = st.sampled_from([State.UNKNOWN, State.OK, State.OK, State.DEGRADED, State.FAILED])
LIGO = Namespace("/igwn/ligo", require_token=True)
NAMESPACES = NamespaceTable([LIGO])
served = st.sampled_from([(frozenset(), True), (frozenset({"/igwn/ligo"}), False), (frozenset({"/igwn/ligo"}), True)])


@st.composite
def federations(draw: st.DrawFn) -> Federation:
    size = draw(st.integers(min_value=1, max_value=30))
    caches = []
    health = {}
    for i in range(size):
        paths, public = draw(served)
        caches.append(
            Cache(
                f"c{i}",
                f"https://c{i}.example:8443",
                draw(positions),
                draw(statuses),
                downtime=draw(st.booleans()) and draw(st.booleans()),
                weight=draw(st.sampled_from([0.0, 1.0, 1.0, 2.0, 5.0])),
                namespaces=paths,
                public=public,
            )
        )
        health[f"c{i}"] = CacheHealth(draw(states))
    view = HealthView(health, distrusted=draw(st.booleans()) and draw(st.booleans()))
    spread = Spread(spread_km=draw(st.sampled_from([0.0, 50.0, 500.0])))
    return Federation(CacheSet(tuple(caches)), NAMESPACES, health=view, spread=spread)


def names(federation: Federation, places: Iterable[Place]) -> list[str]:
    return [federation.caches.caches[place.cache_index].name for place in places]


@given(
    federations(),
    st.one_of(st.none(), coordinates),
    st.sampled_from([None, LIGO, Namespace("/ospool", listed=False)]),
    st.one_of(st.none(), st.integers(1, 40)),
    st.sampled_from(["192.0.2.0/24", "198.51.100.0/24", "unknown"]),
)
@example(Federation(CacheSet((Cache("a", "https://a", None),))), None, None, None, "unknown")
def test_ranking_rules(
    federation: Federation, origin: Coordinate | None, namespace: Namespace | None, n: int | None, network: str
) -> None:
    places = rank(federation, origin, namespace, network, n, now_s=1_000_000.0).places
    caches = federation.caches.caches
    view = federation.health
    eligible = [
        i
        for i, cache in enumerate(caches)
        if cache.in_service and cache.serves(namespace) and view.effective(cache.name) is not State.FAILED
    ]
    # exactly the eligible caches (all of them unless n cuts), each once, nothing else
    chosen = [place.cache_index for place in places]
    assert len(set(chosen)) == len(chosen) == min(len(eligible), n if n is not None else len(eligible))
    assert set(chosen) <= set(eligible)
    if n is None:
        assert sorted(chosen) == eligible
    # tiers in order: healthy with a position, degraded, no position (or unlocated before degraded)
    tier = {"nearest": 0, "spread": 0, "distance": 1, "unlocated": 0, "degraded": 2, "no_position": 3}
    assert [tier[p.reason] for p in places] == sorted(tier[p.reason] for p in places)
    for place in places:
        cache = caches[place.cache_index]
        degraded = view.effective(cache.name) is State.DEGRADED
        if place.reason != "no_position":
            assert (place.reason == "degraded") == degraded
        if origin is None:
            assert place.distance_km is None and place.reason in ("unlocated", "degraded")
        elif cache.coordinate is None:
            assert place.distance_km is None and place.reason == "no_position"
        else:
            assert place.distance_km == pytest.approx(great_circle_km(origin, cache.coordinate))
    # the band: every healthy cache within spread_km of the nearest, first; then by distance, ties in file order
    banded = [p for p in places if p.reason in ("nearest", "spread")]
    farther = [p for p in places if p.reason == "distance"]
    if banded:
        nearest = min(p.distance_km for p in banded if p.distance_km is not None)
        assert all(p.distance_km is not None and p.distance_km <= nearest + federation.spread.spread_km for p in banded)
        assert all(p.distance_km is not None and p.distance_km > nearest + federation.spread.spread_km for p in farther)
        assert (banded[0].reason == "nearest") == (len([p for p in places if p.reason == "spread"]) == 0)
    keys = [(p.distance_km, p.cache_index) for p in farther]
    assert keys == sorted(keys)


@given(federations(), st.one_of(st.none(), coordinates), st.integers(1, 12))
def test_a_limit_is_a_prefix_of_the_whole_answer(federation: Federation, origin: Coordinate | None, n: int) -> None:
    whole = rank(federation, origin, None, "192.0.2.0/24", None, now_s=5.0).places
    assert rank(federation, origin, None, "192.0.2.0/24", n, now_s=5.0).places == whole[:n]
    assert rank(federation, origin, None, "192.0.2.0/24", None, now_s=5.0).places == whole  # deterministic


def co_located(weights: list[float]) -> Federation:
    caches = tuple(Cache(f"h{i}", f"https://h{i}.example", HOUSTON, weight=w) for i, w in enumerate(weights))
    far = Cache("far", "https://far.example", Coordinate(41.9, -87.6))
    return Federation(CacheSet((*caches, far)))


def first_choice(federation: Federation, networks: list[str]) -> Counter[str]:
    return Counter(names(federation, rank(federation, Coordinate(29.76, -95.37), None, net, 1))[0] for net in networks)


NETWORKS = [f"10.{i // 256}.{i % 256}.0/24" for i in range(6000)]


def test_co_located_caches_split_sites_in_proportion_to_their_weights() -> None:
    """6,000 client networks over three co-located caches weighted 1:2:3: shares 1/6, 2/6, 3/6 (binomial
    standard deviation at most 0.65 percentage points; the check allows about 4 of them)."""
    federation = co_located([1.0, 2.0, 3.0])
    shares = first_choice(federation, NETWORKS)
    assert "far" not in shares  # 1,000 km away: never first
    for i, weight in enumerate([1.0, 2.0, 3.0]):
        assert shares[f"h{i}"] / len(NETWORKS) == pytest.approx(weight / 6.0, abs=0.025)


@given(st.lists(st.sampled_from([0.5, 1.0, 2.0, 4.0]), min_size=2, max_size=5))
@settings(max_examples=25)  # each example ranks for 3,000 networks; 25 lists of weights cover the shapes
def test_the_split_follows_any_weights(weights: list[float]) -> None:
    shares = first_choice(co_located(weights), NETWORKS[:3000])
    for i, weight in enumerate(weights):
        assert shares[f"h{i}"] / 3000 == pytest.approx(weight / sum(weights), abs=0.045)


def test_the_same_network_always_gets_the_same_first_cache_and_removing_one_moves_only_its_own() -> None:
    federation = co_located([1.0, 1.0, 1.0])
    before = {net: names(federation, rank(federation, HOUSTON, None, net, 1))[0] for net in NETWORKS[:600]}
    assert before == {net: names(federation, rank(federation, HOUSTON, None, net, 1))[0] for net in NETWORKS[:600]}
    without = Federation(CacheSet(tuple(c for c in federation.caches.caches if c.name != "h1")))
    after = {net: names(without, rank(without, HOUSTON, None, net, 1))[0] for net in NETWORKS[:600]}
    moved = {net for net in before if before[net] != after[net]}
    assert moved == {net for net in before if before[net] == "h1"}  # rendezvous: nobody else moves


def test_weight_zero_drains_a_cache_to_the_end_of_its_band() -> None:
    federation = co_located([0.0, 1.0])
    for net in NETWORKS[:200]:
        assert names(federation, rank(federation, HOUSTON, None, net, 3)) == ["h1", "h0", "far"]


SCRIPT = """
import json, sys
from locator.core.caches import Cache, CacheSet
from locator.core.federation import Federation
from locator.core.geo import Coordinate
from locator.core.rank import rank
here = Coordinate(29.8131, -95.3098)
fed = Federation(CacheSet(tuple(Cache(f"h{i}", f"https://h{i}.example", here) for i in range(4))))
print(json.dumps([[fed.caches.caches[p.cache_index].name for p in rank(fed, here, None, net)] for net in sys.argv[1:]]))
"""


def test_replicas_agree_the_order_is_the_same_in_another_process() -> None:
    """No per-process salt (Python's hash() has one): every replica sends a site to the same cache."""
    nets = NETWORKS[:50] + ["2001:db8:1::/48", "unknown"]
    command = [sys.executable, "-c", SCRIPT, *nets]
    other = json.loads(
        subprocess.run(command, capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "7"}).stdout
    )
    here = Coordinate(29.8131, -95.3098)
    fed = Federation(CacheSet(tuple(Cache(f"h{i}", f"https://h{i}.example", here) for i in range(4))))
    assert other == [names(fed, rank(fed, here, None, net)) for net in nets]
    assert len({tuple(order) for order in other}) > 10  # and the networks do spread


def test_namespaces_filter_the_caches() -> None:
    caches = CacheSet(
        (
            Cache("ligo", "https://ligo.example", HOUSTON, namespaces=frozenset({"/igwn/ligo"}), public=False),
            Cache("open", "https://open.example", Coordinate(39.1, -94.6)),
            Cache("both", "https://both.example", Coordinate(41.9, -87.6), namespaces=frozenset({"/igwn/ligo"})),
            Cache("nothing", "https://nothing.example", HOUSTON, public=False),
        )
    )
    federation = Federation(caches, NAMESPACES)
    origin = Coordinate(29.76, -95.37)
    assert names(federation, rank(federation, origin, LIGO, "unknown")) == ["ligo", "both"]
    assert names(federation, rank(federation, origin, None, "unknown")) == ["open", "both"]
    unlisted = NAMESPACES.resolve("/ospool/ap20/data/x")
    assert names(federation, rank(federation, origin, unlisted, "unknown")) == ["open", "both"]


def test_a_cache_serving_an_unlisted_namespace_is_a_clear_error() -> None:
    caches = CacheSet((Cache("x", "https://x.example", HOUSTON, namespaces=frozenset({"/nope"})),))
    with pytest.raises(FederationError, match="cache x serves /nope, which the namespaces file does not list"):
        Federation(caches, NAMESPACES)


def test_health_removes_failed_demotes_degraded_and_a_distrusted_prober_changes_nothing() -> None:
    caches = CacheSet(
        (
            Cache("near", "https://near.example", HOUSTON),
            Cache("middle", "https://middle.example", Coordinate(39.1, -94.6)),
            Cache("far", "https://far.example", Coordinate(41.9, -87.6)),
            Cache("farther", "https://farther.example", Coordinate(47.6, -122.3)),
            Cache("farthest", "https://farthest.example", Coordinate(52.3, 4.8)),
        )
    )
    ok = {name: CacheHealth(State.OK) for name in ("far", "farther", "farthest")}
    trusted = judged({"near": CacheHealth(State.FAILED), "middle": CacheHealth(State.DEGRADED), **ok}, probing=True)
    assert not trusted.distrusted  # 2 of 5 unhealthy: believed
    federation = Federation(caches, health=trusted)
    assert [(names(federation, (p,))[0], p.reason) for p in rank(federation, HOUSTON, None, "unknown")] == [
        ("far", "nearest"),
        ("farther", "distance"),
        ("farthest", "distance"),
        ("middle", "degraded"),
    ]
    failing = {name: CacheHealth(State.FAILED) for name in ("near", "middle", "far")}
    panicked = judged({**failing, "farther": CacheHealth(State.OK), "farthest": CacheHealth(State.OK)}, probing=True)
    assert panicked.distrusted and "3 of 5 probed caches failed" in panicked.reason
    federation = Federation(caches, health=panicked)
    assert names(federation, rank(federation, HOUSTON, None, "unknown")) == [
        "near",
        "middle",
        "far",
        "farther",
        "farthest",
    ]


def test_unlocated_order_is_stable_within_a_window_changes_between_and_spreads() -> None:
    federation = Federation(
        CacheSet(tuple(Cache(f"c{i}", f"https://c{i}.example", Coordinate(i, i)) for i in range(5)))
    )
    net = "192.0.2.0/24"
    first = names(federation, rank(federation, None, None, net, now_s=1_000_000.0))
    assert sorted(first) == [f"c{i}" for i in range(5)]
    assert names(federation, rank(federation, None, None, net, now_s=1_000_001.0)) == first
    period = federation.spread.sticky_s
    firsts = Counter(
        names(federation, rank(federation, None, None, net, 1, now_s=window * period))[0] for window in range(2000)
    )
    assert set(firsts) == {f"c{i}" for i in range(5)} and max(firsts.values()) < 2 * min(firsts.values())


def test_unlocated_windows_do_not_all_switch_at_once() -> None:
    networks = [f"10.0.{i}.0/24" for i in range(50)]
    changed = sum(sticky_window(net, 1199.0, 1200) != sticky_window(net, 1201.0, 1200) for net in networks)
    assert changed < 10  # with a shared boundary all 50 would change at t=1200
