"""The ranking: properties over generated federations, and the sticky fallback order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from locator.caches import Cache, CacheSet
from locator.geo import Coordinate, great_circle_km
from locator.rank import _stable_order, rank_many, sticky_indices

coordinates = st.builds(Coordinate, st.floats(-90, 90), st.floats(-180, 180))
# Few distinct positions, so that exact ties are common.
positions = st.one_of(
    st.none(),
    st.sampled_from([Coordinate(41.9, -87.6), Coordinate(39.1, -94.6), Coordinate(29.8, -95.3)]),
    coordinates,
)
statuses = st.sampled_from(["up", "up", "up", "down", "disabled"])


def rank_caches(caches: CacheSet, origin: Coordinate, n: int | None = None) -> list[tuple[Cache, float | None]]:
    """One origin's ranking as (cache, km or None) pairs."""
    order, distances = rank_many(caches, np.array([origin.latitude]), np.array([origin.longitude]), n)
    return [
        (caches.in_service[i], None if np.isnan(km) else float(km))
        for i, km in zip(order[0].tolist(), distances[0].tolist(), strict=True)
    ]


def sticky_names(caches: CacheSet, network: str, now_s: float, period_s: int) -> list[str]:
    return [caches.in_service[i].name for i in sticky_indices(len(caches), network, now_s, period_s)]


@st.composite
def federations(draw: st.DrawFn) -> CacheSet:
    size = draw(st.integers(min_value=1, max_value=30))
    return CacheSet(
        tuple(Cache(f"c{i}", f"https://c{i}.example:8443", draw(positions), draw(statuses)) for i in range(size))
    )


@given(federations(), coordinates, st.one_of(st.none(), st.integers(1, 40)))
def test_ranking_rules(caches: CacheSet, origin: Coordinate, n: int | None) -> None:
    ranked = rank_caches(caches, origin, n)
    in_service = list(caches.in_service)
    # a subset of the caches in service, within the limit, no duplicates
    assert len(ranked) == min(len(in_service), n if n is not None else len(in_service))
    assert len({cache.name for cache, _ in ranked}) == len(ranked)
    assert all(cache.status == "up" for cache, _ in ranked)
    # known distances first, ascending; equal distances in file order; unknown last in file order
    keys = [(km is None, km or 0.0, in_service.index(cache)) for cache, km in ranked]
    assert keys == sorted(keys)
    for cache, km in ranked:
        if cache.coordinate is None:
            assert km is None
        else:
            assert km == pytest.approx(great_circle_km(origin, cache.coordinate))


@given(federations(), coordinates)
def test_limit_is_a_prefix_of_the_full_ranking(caches: CacheSet, origin: Coordinate) -> None:
    full = rank_caches(caches, origin)
    assert rank_caches(caches, origin, 3) == full[:3]
    assert rank_caches(caches, origin) == full  # deterministic


@given(federations(), st.lists(coordinates, min_size=1, max_size=20))
def test_many_origins_at_once_equal_one_at_a_time(caches: CacheSet, origins: list[Coordinate]) -> None:
    order, distances = rank_many(
        caches, np.array([o.latitude for o in origins]), np.array([o.longitude for o in origins])
    )
    for row, origin in enumerate(origins):
        one = rank_caches(caches, origin)
        assert [caches.in_service[i].name for i in order[row]] == [cache.name for cache, _ in one]


ties = st.sampled_from([Coordinate(41.9, -87.6), Coordinate(39.1, -94.6), Coordinate(29.8, -95.3), None])


@given(
    st.lists(ties, min_size=1, max_size=120),
    st.sampled_from([Coordinate(40.0, -90.0), Coordinate(30, -95)]),
    st.integers(1, 15),
)
def test_a_short_list_of_many_is_the_full_rankings_prefix(
    positions: list[Coordinate | None], origin: Coordinate, n: int
) -> None:
    """Partial sorting (n much smaller than the caches) keeps ties at the cut in file order."""
    caches = CacheSet(tuple(Cache(f"c{i}", f"https://c{i}.example", p) for i, p in enumerate(positions)))
    assert rank_caches(caches, origin, n) == rank_caches(caches, origin)[:n]


@given(
    st.lists(
        st.lists(st.sampled_from([0.5, 1.0, 2.0, float("inf")]) | st.floats(0, 10), min_size=5, max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_stable_order_is_numpys_stable_sort(rows: list[list[float]]) -> None:
    keys = np.array(rows)
    assert (_stable_order(keys) == np.argsort(keys, axis=1, kind="stable")).all()


def test_exact_ties_keep_file_order() -> None:
    same = Coordinate(29.8131, -95.3098)
    caches = CacheSet((Cache("HoustonB", "https://b.example", same), Cache("HoustonA", "https://a.example", same)))
    assert [cache.name for cache, _ in rank_caches(caches, Coordinate(30, -95))] == ["HoustonB", "HoustonA"]


def _cacheset(size: int) -> CacheSet:
    return CacheSet(tuple(Cache(f"c{i}", f"https://c{i}.example", Coordinate(i, i)) for i in range(size)))


@given(st.integers(0, 300), st.integers(0, 20), st.floats(0, 1e9))
def test_sticky_prefix_is_the_same_whatever_n(count: int, n: int, now: float) -> None:
    full = sticky_indices(count, "192.0.2.0/24", now, 1200)
    assert sorted(full) == list(range(count))
    assert sticky_indices(count, "192.0.2.0/24", now, 1200, n) == full[:n]


def test_sticky_order_is_stable_within_a_window_and_a_permutation() -> None:
    caches = _cacheset(8)
    first = sticky_names(caches, "192.0.2.0/24", 1_000_000.0, 1200)
    assert sorted(first) == sorted(c.name for c in caches.in_service)
    same = sticky_names(caches, "192.0.2.0/24", 1_000_001.0, 1200)
    assert first == same


def test_sticky_order_changes_between_windows_and_spreads_load() -> None:
    caches = _cacheset(5)
    # Over many windows each cache comes first about equally often: no cache is a hot spot.
    firsts = Counter(sticky_names(caches, "192.0.2.0/24", window * 1200.0, 1200)[0] for window in range(2000))
    assert set(firsts) == {c.name for c in caches.in_service}
    assert max(firsts.values()) < 2 * min(firsts.values())


def test_sticky_windows_do_not_all_switch_at_once() -> None:
    caches = _cacheset(6)
    networks = [f"10.0.{i}.0/24" for i in range(50)]
    changed = sum(
        sticky_names(caches, net, 1199.0, 1200) != sticky_names(caches, net, 1201.0, 1200) for net in networks
    )
    assert changed < 10  # with a shared boundary all ~50 would change at t=1200
