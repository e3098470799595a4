"""THE ranking: one pure function from (places, candidates, client position, client network, n) to the places
in order, each with the reason for its place. The service, the CLI and the evaluation call `rank` (a snapshot's
caches for a namespace); the CVMFS geo API calls `order` on the servers a request names (with no weights and no
spread, so that equal distances keep the request's order, as the legacy service's did).

Rules, in order:
1. Only candidates are ranked: caches that may serve the namespace (a listed namespace: the caches listing it;
   no namespace, or a path in none: the caches open to public data), in service by the files (status `up`, no
   downtime) and not `failed` by their health probes.
2. Healthy caches with a position, by great-circle distance from the client, except that those within
   `spread_km` of the nearest one (co-located caches: two in Houston, two in Amsterdam) are ordered by a
   weighted rendezvous hash of the client's network: the same site always gets the same first cache (hit
   rates), and sites split between the caches in proportion to their weights (capacity).
   Reasons: `nearest` (alone in that band), `spread` (placed by the hash), `distance` (farther out).
3. `degraded` caches (failing health probes) after every healthy one, by distance.
4. `no_position`: caches without a position last, in file order.
5. Load (locator.core.load): a healthy cache above its load threshold keeps only a share of its clients, the
   clients whose hash of (network, cache) falls below that share; the others get it after every healthy cache
   that is not shed for them and lies within `detour_km` of their nearest eligible one (`load`), so only that
   cache's clients move, never farther than the detour, and back when load falls. A client its nearest sheds
   takes the caches with room by weighted rendezvous on each one's capacity, own kept share and Pelican's
   distance weight (`room_weights`): the overflow spreads over the caches near it, the nearer and the less
   loaded drawing more, yet each client lands on one cache and stays. With no room within the detour, the
   order stays.
6. A client with no position at all gets every candidate in weighted rendezvous order of its network and
   the current `sticky_s` window (`unlocated`): stable for a site while the window lasts, on every replica,
   and spread over the federation in proportion to the weights (Pelican #1587: a fresh shuffle per request
   sends one site's jobs everywhere and ruins hit rates).
Distances are km, haversine (locator.core.geo); exact ties are broken by file order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from locator.core.federation import Federation, IndexArray, Places, SeedArray, Spread, seed_of
from locator.core.geo import Coordinate, Destinations, FloatArray, distances_km
from locator.core.load import room_weights
from locator.core.namespaces import Namespace

REASONS = ("nearest", "spread", "distance", "degraded", "no_position", "unlocated", "load")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


class Place(NamedTuple):
    """One cache's place in an answer: its index in the snapshot's caches, km (None when unknown), why."""

    cache_index: int
    distance_km: float | None
    reason: str


ReasonArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True, eq=False)
class Ranking:
    """An answer as arrays (objects are built only for what is read): cache indexes in order, their km
    (NaN when unknown) and each one's reason (an index into REASONS). Compare `places`, not rankings."""

    indices: IndexArray
    distances: FloatArray
    reasons: ReasonArray

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Place]:
        for index, km, reason in zip(
            self.indices.tolist(), self.distances.tolist(), self.reasons.tolist(), strict=True
        ):
            yield Place(index, None if km != km else km, REASONS[reason])

    @property
    def places(self) -> tuple[Place, ...]:
        return tuple(self)


def rendezvous_scores(seeds: SeedArray, weights: FloatArray, key: str) -> FloatArray:
    """Weighted rendezvous (highest random weight) scores of caches for a key; the highest goes first.

    Each (key, cache) pair hashes to u in (0, 1) (splitmix64 of the cache's seed and the key's hash), and the
    score -w / ln(u) makes a cache first with probability w / sum(w) over any set (Schindelhauer and
    Schomaker 2005). Adding or removing one cache moves only the keys that pick, or picked, that cache.
    """
    scores: FloatArray = -weights / np.log(uniforms(seeds, key))
    return scores


def uniforms(seeds: SeedArray, key: str) -> FloatArray:
    """One number in (0, 1) for each (key, cache) pair: splitmix64 of the cache's seed and the key's hash."""
    z = seeds ^ np.uint64(seed_of(key))
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    u: FloatArray = ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0  # 2**53: u in (0, 1)
    return u


def _shed(
    chosen: IndexArray,
    reasons: ReasonArray,
    km: FloatArray | None,
    kept: FloatArray,
    weights: FloatArray,
    seeds: SeedArray,
    network: str,
    detour_km: float,
) -> tuple[IndexArray, ReasonArray]:
    """Rule 5 on the healthy part of an order (`chosen`: positions among the candidates, whose `kept` shares,
    weights and seeds these are; `km` None for a client without a position, for whom every healthy cache is
    within reach and whose order is already a rendezvous one)."""
    shed = uniforms(seeds[chosen], f"{network}|load") >= kept[chosen]
    if not shed.any():
        return chosen, reasons
    if km is None:
        within = np.ones(len(chosen), dtype=bool)
    else:
        within = km[chosen] <= float(km[chosen].min()) + detour_km
    room = within & ~shed
    if not room.any():
        return chosen, reasons  # nowhere to go within the detour: the loaded cache stays
    moved = within & shed
    taken, why = chosen[room], reasons[room]
    if shed[0] and km is not None:  # its own cache sheds it: the caches with room, by weighted rendezvous
        extra_km = km[taken] - float(km[chosen].min())
        drawn = room_weights(weights[taken], kept[taken], extra_km)
        by_score = np.lexsort((taken, -rendezvous_scores(seeds[taken], drawn, f"{network}|moved")))
        taken, why = taken[by_score], why[by_score]
    order = np.concatenate([taken, chosen[moved], chosen[~within]])
    return order, np.concatenate([why, _reason("load", int(moved.sum())), reasons[~within]])


def sticky_window(network: str, now_s: float, period_s: int) -> int:
    """Which `period_s`-long window a network is in; each network's windows start at their own offset, so
    the federation's unlocated clients do not all switch caches at the same second."""
    return int((now_s + seed_of(network) % period_s) // period_s)


def sticky_window_end(network: str, now_s: float, period_s: int) -> float:
    """When the window a network is in ends: an unlocated client's order holds until then."""
    return float((sticky_window(network, now_s, period_s) + 1) * period_s - seed_of(network) % period_s)


def _by_score(indices: IndexArray, scores: FloatArray) -> IndexArray:
    """Highest score first; equal scores (only weight 0) in file order."""
    order: IndexArray = indices[np.lexsort((indices, -scores))]
    return order


def _by_distance(indices: IndexArray, km: FloatArray, limit: int) -> IndexArray:
    """The `limit` nearest, nearest first, equal distances in file order (`indices` come in file order),
    without sorting everything when few are wanted."""
    if limit <= 0 or not len(indices):
        return indices[:0]
    if limit * 8 < len(indices):
        cut = np.partition(km, limit - 1)[limit - 1]
        keep = km <= cut  # ties at the cut included, so that file order still decides among equals
        indices, km = indices[keep], km[keep]
    order: IndexArray = indices[np.argsort(km, kind="stable")][:limit]
    return order


def _reason(name: str, count: int) -> ReasonArray:
    return np.full(count, REASONS.index(name), dtype=np.uint8)


def rank(
    federation: Federation,
    origin: Coordinate | None,
    namespace: Namespace | None,
    network: str,
    n: int | None = None,
    now_s: float = 0.0,
) -> Ranking:
    """A snapshot's caches in order for one client (see the module docstring for the rules).

    `network` is the client's /24 or /48 (`locator.core.addresses.client_network`); `now_s` matters only to an
    unlocated client, whose order lasts a window of `sticky_s` seconds.
    """
    return order(federation.places, federation.candidates(namespace), origin, network, n, now_s)


def rank_origins(
    federation: Federation,
    origin: Coordinate | None,
    export: str,
    network: str,
    n: int | None = None,
    now_s: float = 0.0,
) -> Ranking:
    """The origins in service that export `export`, in order for one client: the same rules as the caches'
    (origins are not probed, so none is demoted)."""
    derived = federation.derived
    return order(derived.origin_places, derived.exports[export], origin, network, n, now_s)


def listed(positions: Sequence[Coordinate | None]) -> Places:
    """Places a request names (the geo API's servers): no weights, no spread, nothing demoted."""
    nan = math.nan
    count = len(positions)
    return Places(
        Destinations.of(
            np.array([nan if p is None else p.latitude for p in positions]),
            np.array([nan if p is None else p.longitude for p in positions]),
        ),
        np.zeros(count),
        np.zeros(count, dtype=np.uint64),
        np.zeros(count, dtype=bool),
        Spread(spread_km=0.0),
    )


def order(
    places: Places,
    candidates: IndexArray,
    origin: Coordinate | None,
    network: str,
    n: int | None = None,
    now_s: float = 0.0,
) -> Ranking:
    """The candidates among `places` in order for one client: THE ranking (the module docstring's rules)."""
    limit = len(candidates) if n is None else min(n, len(candidates))
    demoted = places.demoted[candidates]
    weights, seeds = places.weights[candidates], places.seeds[candidates]
    positions = np.arange(len(candidates))

    kept = None if places.kept is None else places.kept[candidates]
    if origin is None:
        window = sticky_window(network, now_s, places.spread.sticky_s)
        scores = rendezvous_scores(seeds, weights, f"{network}|{window}")
        healthy = _by_score(positions[~demoted], scores[~demoted])
        why = _reason("unlocated", len(healthy))
        if kept is not None:
            healthy, why = _shed(healthy, why, None, kept, weights, seeds, network, 0.0)
        healthy, why = healthy[:limit], why[:limit]
        slow = positions[demoted][: limit - len(healthy)]
        chosen = np.concatenate([healthy, slow])
        reasons = np.concatenate([why, _reason("degraded", len(slow))])
        return Ranking(candidates[chosen], np.full(len(chosen), np.nan), reasons)

    lat, lon = np.array([origin.latitude]), np.array([origin.longitude])
    km = distances_km(lat, lon, places.destinations)[0][candidates]
    known = ~np.isnan(km)
    any_demoted, all_known = bool(demoted.any()), bool(known.all())
    parts: list[tuple[IndexArray, ReasonArray]] = []
    healthy = positions[known & ~demoted] if any_demoted or not all_known else positions
    if len(healthy):
        healthy_km = km[healthy]
        in_band = healthy_km <= float(healthy_km.min()) + places.spread.spread_km
        band, outside = healthy[in_band], healthy[~in_band]
        alone = len(band) == 1
        loaded = kept is not None and bool((kept[healthy] < 1.0).any())
        if not alone:  # one alone needs no draw between co-located caches
            band = _by_score(band, rendezvous_scores(seeds[band], weights[band], network))
        band = band if loaded else band[:limit]
        rest = _by_distance(outside, km[outside], len(outside) if loaded else limit - len(band))
        if loaded and kept is not None:
            order_, why = _shed(
                np.concatenate([band, rest]),
                np.concatenate([_reason("nearest" if alone else "spread", len(band)), _reason("distance", len(rest))]),
                km,
                kept,
                weights,
                seeds,
                network,
                places.spread.detour_km,
            )
            parts.append((order_[:limit], why[:limit]))
        else:
            parts.append((band, _reason("nearest" if alone else "spread", len(band))))
            parts.append((rest, _reason("distance", len(rest))))
    taken = sum(len(part) for part, _ in parts)
    if any_demoted:
        slow = positions[known & demoted]
        slow = _by_distance(slow, km[slow], limit - taken)
        parts.append((slow, _reason("degraded", len(slow))))
        taken += len(slow)
    if not all_known:
        unknown = positions[~known][: limit - taken]
        parts.append((unknown, _reason("no_position", len(unknown))))
    if not parts:
        return Ranking(candidates[:0], km[:0], _reason("distance", 0))
    chosen = np.concatenate([part for part, _ in parts]) if len(parts) > 1 else parts[0][0]
    return Ranking(candidates[chosen], km[chosen], np.concatenate([reasons for _, reasons in parts]))
