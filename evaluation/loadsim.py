"""A simulated day of job reads under load, three strategies side by side (`python -m evaluation loadsim`).

The model (LoadModel; every number is an assumption, stated here, not a measurement of OSDF):
1. Sites: OSG Topology's compute sites with an active production resource (data/evaluation/loadsim/sites.csv).
   A site asks for `reads_per_resource` reads a minute per active compute resource (its size), and its jobs
   leave through `networks_per_resource` client networks (/24s) per resource.
2. Time: `hours` in steps of `step_s`. A gentle day (+-20%, peak at 15:00 UTC, the US afternoon), and `bursts`
   workflows a day, each at a site drawn by size, starting at a random step, lasting 30-120 minutes and
   multiplying the site's rate by 2-4 (overlapping bursts at one site do not compound: the larger one holds).
   Reads per network per step are Poisson.
3. Caches: today's caches open to public data (data/caches.csv), each with the same capacity (every weight in
   the file is 1): together `headroom` times the mean demand. A cache's utilisation in a step is the reads it
   receives over its capacity; a read is *overloaded* when its cache is above 1.
4. Transfer time: `transfer_s` from an idle cache next door, longer by `per_1000km` for each 1,000 km (TCP over
   a longer path), times the utilisation when it is above 1 (the cache's bandwidth shared).
5. The director's view, as Pelican builds it: `ioLoad` is a rate over the last `rate_window_s` (Prometheus'
   `rate(...[5m])`), scaled so that `io_load_at_capacity` means a cache at capacity; `statusWeight` is the EWMA
   (time constant `status_tau_s`) of 1, or 0.01 while the cache is above capacity (Pelican's "degraded").
   Both strategies that read load see it `lag_s` late: the director's query every 15 s and the poll.

Strategies, each in its own world (its own loads, its own feed) over the same reads:
- nearest only: the locator without a load feed (the nearest cache; co-located ones by rendezvous).
- Pelican adaptive sort: the director's adaptive sort, re-stated from PelicanPlatform/pelican
  director/sort_algorithms.go and sort_utilities.go: the nearest `ADAPTIVE_KEEP` by distance, weights
  2^(-miles/200) x the IO-load weight (1 up to 100, then halving every 200) x statusWeight (availability equal
  everywhere), and a weighted random draw for every request (the first of `stochasticSort`).
- locator: THE ranking (locator.core.rank) of a snapshot whose load is the feed's, as the service ranks (one
  row per load detour asked for). Only networks whose unloaded first cache has lost part of its clients are
  ranked again each step: the ranking moves no other client (tests/test_load.py proves that property of it).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from haversine import Unit, haversine_vector

from evaluation.errors import SimulationError
from evaluation.paths import EVALUATION_DIR
from locator.core.caches import CacheSet
from locator.core.federation import Federation, Spread
from locator.core.geo import Coordinate
from locator.core.load import CacheLoad, LoadView
from locator.core.namespaces import NamespaceTable
from locator.core.rank import rank

if TYPE_CHECKING:  # matplotlib only for the figures: the simulation runs without it
    from matplotlib.figure import Figure

SITES = EVALUATION_DIR / "loadsim" / "sites.csv"
NEAREST, PELICAN, LOCATOR = "nearest only", "Pelican adaptive sort", "locator"
ADAPTIVE_KEEP = 6  # Director.AdaptiveSortTruncateConstant
EARTH_MILES = 3960.0  # the radius Pelican's distance weight uses
UTILISATION_BINS = 5000  # hundredths: utilisation up to 50
EXTRA_KM_BINS = 20_000  # km: half the Earth's circumference
IndexArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LoadModel:
    """The simulation's assumptions (the module docstring says what each means)."""

    hours: float = 24.0
    step_s: int = 60
    reads_per_resource: float = 4.0
    networks_per_resource: int = 2
    bursts: int = 24
    headroom: float = 3.0
    transfer_s: float = 20.0
    per_1000km: float = 0.5
    io_load_at_capacity: float = 300.0
    rate_window_s: int = 300
    status_tau_s: float = 300.0
    lag_s: int = 30
    seed: int = 7

    @property
    def steps(self) -> int:
        return max(1, round(self.hours * 3600 / self.step_s))


@dataclass(frozen=True)
class Site:
    name: str
    latitude: float
    longitude: float
    size: int


def read_sites(path: str | None = None) -> list[Site]:
    with open(path or SITES, newline="", encoding="utf-8") as handle:
        return [
            Site(row["site"], float(row["latitude"]), float(row["longitude"]), int(row["active_resources"]))
            for row in csv.DictReader(handle)
            if int(row["active_resources"]) > 0
        ]


@dataclass(frozen=True)
class Demand:
    """Who reads when: each network's site, its key (as the ranking hashes it), and reads per step."""

    site_of: IndexArray  # per network
    keys: tuple[str, ...]  # per network
    counts: npt.NDArray[np.int64]  # [step, network]


def demand(model: LoadModel, sites: Sequence[Site], rng: np.random.Generator) -> Demand:
    site_of = np.repeat(np.arange(len(sites)), [site.size * model.networks_per_resource for site in sites])
    keys = tuple(f"{sites[s].name} #{j}" for j, s in enumerate(site_of.tolist()))
    minutes = np.arange(model.steps) * model.step_s / 60.0
    day = 1.0 + 0.2 * np.cos(2 * np.pi * (minutes / 60.0 - 15.0) / 24.0)
    rate = np.outer(day, np.full(len(site_of), model.reads_per_resource / model.networks_per_resource))
    sizes = np.array([site.size for site in sites], dtype=float)
    burst = np.ones((model.steps, len(sites)))
    for _ in range(round(model.bursts * model.hours / 24.0)):
        site = int(rng.choice(len(sites), p=sizes / sizes.sum()))
        start = int(rng.integers(model.steps))
        length = max(1, round(rng.uniform(30, 120) * 60 / model.step_s))
        burst[start : start + length, site] = np.maximum(burst[start : start + length, site], rng.uniform(2, 4))
    rate *= burst[:, site_of]
    counts = rng.poisson(rate * model.step_s / 60.0).astype(np.int64)
    return Demand(site_of, keys, counts)


@dataclass
class Feed:
    """What the director reports of one world's caches at each step: ioLoad and statusWeight, `lag` steps late."""

    model: LoadModel
    utilisation: FloatArray  # [step, cache], filled as the world runs
    status: FloatArray  # [step, cache]: the EWMA after each step

    @classmethod
    def of(cls, model: LoadModel, caches: int) -> Feed:
        return cls(model, np.zeros((model.steps, caches)), np.ones((model.steps, caches)))

    def observe(self, step: int, utilisation: FloatArray) -> None:
        alpha = 1.0 - math.exp(-self.model.step_s / self.model.status_tau_s)
        before = self.status[step - 1] if step else np.ones_like(utilisation)
        raw = np.where(utilisation > 1.0, 0.01, 1.0)
        self.utilisation[step] = utilisation
        self.status[step] = before + alpha * (raw - before)

    def at(self, step: int) -> tuple[FloatArray, FloatArray]:
        """(ioLoad, statusWeight) per cache as a strategy sees them before `step`."""
        seen = step - max(1, math.ceil(self.model.lag_s / self.model.step_s))
        if seen < 0:
            count = self.utilisation.shape[1]
            return np.zeros(count), np.ones(count)
        window = max(1, round(self.model.rate_window_s / self.model.step_s))
        rate = self.utilisation[max(0, seen - window + 1) : seen + 1].mean(axis=0)
        return self.model.io_load_at_capacity * rate, self.status[seen]


class Nearest:
    name = NEAREST

    def __init__(self, first: IndexArray) -> None:
        self.first = first

    def picks(self, step: int, feed: Feed, reads: IndexArray) -> IndexArray:
        picked: IndexArray = self.first[reads]
        return picked


class Locator:
    """The service's ranking over a snapshot carrying the feed's load."""

    def __init__(
        self, name: str, federation: Federation, sites: Sequence[Site], demand: Demand, first: IndexArray
    ) -> None:
        self.name, self.federation, self.demand, self.first = name, federation, demand, first
        self.origins = [Coordinate(site.latitude, site.longitude) for site in sites]
        self.names = [cache.name for cache in federation.caches.caches]
        self.moved = 0

    def picks(self, step: int, feed: Feed, reads: IndexArray) -> IndexArray:
        io_load, status = feed.at(step)
        loads = {name: CacheLoad(float(io), float(s)) for name, io, s in zip(self.names, io_load, status, strict=True)}
        snapshot = self.federation.replace(load=LoadView(MappingProxyType(loads), fetched_at=0.0))
        kept = snapshot.places.kept
        first = self.first
        if kept is not None:
            first = first.copy()
            asking = np.unique(reads)
            for network in asking[kept[first[asking]] < 1.0].tolist():
                origin = self.origins[int(self.demand.site_of[network])]
                ranking = rank(snapshot, origin, None, self.demand.keys[network], 1)
                first[network] = ranking.indices[0]
            self.moved += int((first[asking] != self.first[asking]).sum())
        picked: IndexArray = first[reads]
        return picked


class PelicanAdaptive:
    """Pelican's adaptive sort, re-stated (its own distance, weights and draw; see the module docstring)."""

    name = PELICAN

    def __init__(self, miles: FloatArray, candidates: IndexArray, rng: np.random.Generator) -> None:
        keep = min(ADAPTIVE_KEEP, len(candidates))
        by_distance = np.argsort(miles[:, candidates], axis=1, kind="stable")[:, :keep]
        self.nearest = candidates[by_distance]  # [site, keep]: cache indexes
        self.distance_weight = 2.0 ** (-np.take_along_axis(miles, self.nearest, axis=1) / 200.0)
        self.rng = rng
        self.site_of: IndexArray = np.zeros(0, dtype=np.intp)

    def picks(self, step: int, feed: Feed, reads: IndexArray) -> IndexArray:
        io_load, status = feed.at(step)
        io_weight = np.where(io_load <= 100.0, 1.0, 2.0 ** (-(io_load - 100.0) / 200.0))
        sites = self.site_of[reads]
        nearest = self.nearest[sites]
        weights = self.distance_weight[sites] * io_weight[nearest] * status[nearest]
        bounds = np.cumsum(weights, axis=1)
        draw = self.rng.random(len(reads)) * bounds[:, -1]
        chosen = np.minimum((bounds <= draw[:, np.newaxis]).sum(axis=1), nearest.shape[1] - 1)
        picked: IndexArray = nearest[np.arange(len(reads)), chosen]
        return picked


@dataclass
class World:
    """One strategy's run: its loads, its feed, and the sums its metrics come from."""

    strategy: Nearest | Locator | PelicanAdaptive
    feed: Feed
    last_cache: IndexArray
    last_hour: IndexArray
    overloaded: FloatArray  # [step]: reads at a cache above capacity
    reads: FloatArray  # [step]
    # per read, as histograms and sums (a day holds millions of reads): the serving cache's utilisation in its
    # minute, in steps of 0.01; the km beyond the nearest, in steps of 1 km; the transfer time
    utilisation_counts: FloatArray = field(default_factory=lambda: np.zeros(UTILISATION_BINS + 1))
    extra_counts: FloatArray = field(default_factory=lambda: np.zeros(EXTRA_KM_BINS + 1))
    extra_km: float = 0.0
    transfer_s: float = 0.0
    pairs: FloatArray = field(default_factory=lambda: np.zeros(0))  # [hour]: consecutive requests in the hour
    changes: FloatArray = field(default_factory=lambda: np.zeros(0))  # [hour]: ... whose first cache changed


@dataclass(frozen=True)
class Outcome:
    """A strategy's metrics over the day (shares in 0..1, km, seconds), and its per-step record."""

    overloaded: float
    p95_utilisation: float
    peak_utilisation: float
    mean_extra_km: float
    p95_extra_km: float
    churn: float
    mean_transfer_s: float
    overloaded_by_hour: FloatArray
    churn_by_hour: FloatArray
    utilisation: FloatArray  # [step, cache]
    io_load: FloatArray  # [step, cache]: what the feed reported


@dataclass(frozen=True)
class Simulation:
    model: LoadModel
    cache_names: tuple[str, ...]
    reads: int
    networks: int
    sites: int
    outcomes: dict[str, Outcome]  # by strategy, in the table's order: nearest only, Pelican's, the locator(s)
    moved_by_load: dict[str, int]  # per locator: answers that load changed (network-steps)

    @property
    def locators(self) -> list[str]:
        return list(self.moved_by_load)


def churn_step(world: World, reads: IndexArray, picked: IndexArray, hour: int) -> None:
    """Count consecutive requests of each network (reads are grouped by network, in time order) in this hour."""
    if not len(reads):
        return
    same = reads[1:] == reads[:-1]
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    networks, firsts = reads[starts], picked[starts]
    earlier = world.last_hour[networks] == hour
    world.pairs[hour] += int(same.sum()) + int(earlier.sum())
    world.changes[hour] += int((same & (picked[1:] != picked[:-1])).sum())
    world.changes[hour] += int((earlier & (world.last_cache[networks] != firsts)).sum())
    lasts = np.concatenate([starts[1:] - 1, [len(reads) - 1]])
    world.last_cache[networks] = picked[lasts]
    world.last_hour[networks] = hour


def simulate(
    model: LoadModel,
    caches: CacheSet,
    namespaces: NamespaceTable,
    sites: Sequence[Site],
    spreads: Sequence[Spread],
    progress: Callable[[str], None] = lambda message: None,
) -> Simulation:
    """Run the strategies over the same reads: a locator for each of `spreads` (its settings'; several to
    compare detours), named `locator` when there is one."""
    rng = np.random.default_rng(model.seed)
    asked = demand(model, sites, rng)
    federation = Federation(caches, namespaces, spread=spreads[0])
    candidates = federation.candidates(None)
    positions = [cache.coordinate for cache in caches.caches]
    if not len(candidates) or any(positions[int(c)] is None for c in candidates):
        raise SimulationError("the simulation needs caches open to public data, each with a position")
    site_points = np.array([[site.latitude, site.longitude] for site in sites])
    cache_points = np.array([[p.latitude, p.longitude] if p is not None else [0.0, 0.0] for p in positions])
    km = haversine_vector(site_points, cache_points, Unit.KILOMETERS, comb=True).T  # [site, cache]
    nearest_km = km[:, candidates].min(axis=1)
    miles = spherical_miles(site_points, cache_points)

    first = np.array(
        [
            rank(federation, Coordinate(sites[s].latitude, sites[s].longitude), None, key, 1).indices[0]
            for s, key in zip(asked.site_of.tolist(), asked.keys, strict=True)
        ],
        dtype=np.intp,
    )
    capacity = model.headroom * asked.counts.sum(axis=1).mean() / len(candidates)
    pelican = PelicanAdaptive(miles, candidates, np.random.default_rng(model.seed + 1))
    pelican.site_of = asked.site_of
    locators = [
        Locator(
            LOCATOR if len(spreads) == 1 else f"{LOCATOR}, {spread.detour_km:g} km detour",
            federation.replace(spread=spread),
            sites,
            asked,
            first,
        )
        for spread in spreads
    ]
    hours = math.ceil(model.steps * model.step_s / 3600)
    strategies: list[Nearest | PelicanAdaptive | Locator] = [Nearest(first), pelican, *locators]
    worlds = [
        World(
            strategy,
            Feed.of(model, len(positions)),
            np.full(len(asked.keys), -1, dtype=np.intp),
            np.full(len(asked.keys), -1, dtype=np.intp),
            np.zeros(model.steps),
            np.zeros(model.steps),
            pairs=np.zeros(hours),
            changes=np.zeros(hours),
        )
        for strategy in strategies
    ]
    report_every = max(1, model.steps // 8)
    for step in range(model.steps):
        reads = np.repeat(np.arange(len(asked.keys)), asked.counts[step])
        hour = step * model.step_s // 3600
        for world in worlds:
            picked = world.strategy.picks(step, world.feed, reads)
            utilisation = np.bincount(picked, minlength=len(positions)) / capacity
            world.feed.observe(step, utilisation)
            at = utilisation[picked]
            world.overloaded[step] = float((at > 1.0).sum())
            world.reads[step] = len(reads)
            sites_of = asked.site_of[reads]
            distance = km[sites_of, picked]
            extra = np.maximum(0.0, distance - nearest_km[sites_of])
            world.utilisation_counts += counts(at * 100, UTILISATION_BINS)
            world.extra_counts += counts(extra, EXTRA_KM_BINS)
            world.extra_km += float(extra.sum())
            world.transfer_s += float(
                (model.transfer_s * (1.0 + model.per_1000km * distance / 1000.0) * np.maximum(1.0, at)).sum()
            )
            churn_step(world, reads, picked, hour)
        if (step + 1) % report_every == 0 or step + 1 == model.steps:
            progress(f"loadsim: {(step + 1) * model.step_s / 3600:.1f} of {model.hours:g} hours simulated")
    return Simulation(
        model,
        tuple(cache.name for cache in caches.caches),
        int(asked.counts.sum()),
        len(asked.keys),
        len(sites),
        {world.strategy.name: outcome(world, hours, model) for world in worlds},
        {locator.name: locator.moved for locator in locators},
    )


def spherical_miles(sites: FloatArray, caches: FloatArray) -> FloatArray:
    """Pelican's distance: the spherical law of cosines, times 3,960 miles."""
    lat1, lon1 = np.radians(sites[:, :1]), np.radians(sites[:, 1:])
    lat2, lon2 = np.radians(caches[:, 0]), np.radians(caches[:, 1])
    cos = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(lon1 - lon2)
    miles: FloatArray = np.arccos(np.clip(cos, -1.0, 1.0)) * EARTH_MILES
    return miles


def counts(values: FloatArray, top: int) -> FloatArray:
    """How many values fall in each unit bin from 0 to `top` (the last bin also holds everything above)."""
    found: FloatArray = np.bincount(np.minimum(values, top).astype(np.intp), minlength=top + 1).astype(float)
    return found


def percentile(histogram: FloatArray, share: float) -> float:
    """The lower edge of the unit bin holding the `share` quantile (0 for an empty histogram)."""
    total = histogram.sum()
    return float(np.searchsorted(np.cumsum(histogram), share * total)) if total else 0.0


def outcome(world: World, hours: int, model: LoadModel) -> Outcome:
    served = max(1.0, world.reads.sum())
    per_hour = np.add.reduceat(world.overloaded, np.arange(0, model.steps, 3600 // model.step_s or 1))
    reads_per_hour = np.add.reduceat(world.reads, np.arange(0, model.steps, 3600 // model.step_s or 1))
    io_load = np.array([world.feed.at(step)[0] for step in range(model.steps)])
    return Outcome(
        overloaded=float(world.overloaded.sum() / served),
        p95_utilisation=percentile(world.utilisation_counts, 0.95) / 100,
        peak_utilisation=float(world.feed.utilisation.max()),
        mean_extra_km=world.extra_km / served,
        p95_extra_km=percentile(world.extra_counts, 0.95),
        churn=float(world.changes.sum() / max(1.0, world.pairs.sum())),
        mean_transfer_s=world.transfer_s / served,
        overloaded_by_hour=per_hour[:hours] / np.maximum(1.0, reads_per_hour[:hours]),
        churn_by_hour=world.changes / np.maximum(1.0, world.pairs),
        utilisation=world.feed.utilisation,
        io_load=io_load,
    )


COLORS = {NEAREST: "#d95f02", PELICAN: "#7570b3"}
LOCATOR_COLORS = ("#1b9e77", "#66a61e", "#006d2c", "#a6d854")


def table(result: Simulation) -> str:
    """The metrics as a Markdown table, one row per strategy."""
    lines = [
        "| strategy | reads above capacity | p95 utilisation | peak utilisation | mean extra km | p95 extra km "
        "| churn | mean transfer s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, o in result.outcomes.items():
        lines.append(
            f"| {name} | {o.overloaded:.1%} | {o.p95_utilisation:.2f} | {o.peak_utilisation:.2f} "
            f"| {o.mean_extra_km:.0f} | {o.p95_extra_km:.0f} | {o.churn:.1%} | {o.mean_transfer_s:.1f} |"
        )
    return "\n".join(lines)


def goals(result: Simulation) -> list[tuple[str, bool]]:
    """The goals for each locator (issue 23), each with whether this run meets it."""
    return [goal for name in result.locators for goal in locator_goals(result, name)]


def locator_goals(result: Simulation, name: str) -> list[tuple[str, bool]]:
    near, pel, loc = result.outcomes[NEAREST], result.outcomes[PELICAN], result.outcomes[name]
    who = "" if name == LOCATOR else f"{name}: "
    return [
        (
            f"{who}reads above capacity at most half of nearest-only's: {loc.overloaded:.2%} vs {near.overloaded:.2%}",
            loc.overloaded <= near.overloaded / 2,
        ),
        (
            f"{who}reads above capacity no more than Pelican's: {loc.overloaded:.2%} vs {pel.overloaded:.2%}",
            loc.overloaded <= pel.overloaded,
        ),
        (
            f"{who}mean extra distance no more than Pelican's: "
            f"{loc.mean_extra_km:.0f} km vs {pel.mean_extra_km:.0f} km",
            loc.mean_extra_km <= pel.mean_extra_km,
        ),
        (f"{who}churn at most a fifth of Pelican's: {loc.churn:.2%} vs {pel.churn:.2%}", loc.churn <= pel.churn / 5),
    ]


def summary(result: Simulation) -> str:
    m = result.model
    head = (
        f"A simulated {m.hours:g} h: {result.reads:,} reads from {result.networks:,} networks at {result.sites} "
        f"sites, {sum(1 for _ in result.cache_names)} caches (seed {m.seed}; headroom {m.headroom:g}, "
        f"ioLoad {m.io_load_at_capacity:g} at capacity, feed {m.lag_s} s late over {m.rate_window_s} s)."
    )
    checks = "\n".join(f"- {'met' if ok else 'NOT met'}: {text}" for text, ok in goals(result))
    return f"{head}\n\n{table(result)}\n\nGoals:\n{checks}\n"


def figure(result: Simulation) -> Figure:
    """Per hour: the share of reads served above capacity, and churn, one line per strategy."""
    from matplotlib.figure import Figure  # not pyplot: no global state, nothing pops up or leaks

    fig = Figure(figsize=(11.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    colors = {**COLORS, **dict(zip(result.locators, LOCATOR_COLORS, strict=False))}
    for name, o in result.outcomes.items():
        hours = np.arange(len(o.overloaded_by_hour))
        left.plot(hours, 100 * o.overloaded_by_hour, color=colors.get(name), label=name)
        right.plot(hours, 100 * o.churn_by_hour, color=colors.get(name), label=name)
    left.set(xlabel="hour (UTC)", ylabel="% of reads served above capacity", title="Overloaded reads")
    right.set(xlabel="hour (UTC)", ylabel="% of consecutive requests that changed cache", title="Churn")
    left.legend(frameon=False)
    return fig


def load_figure(result: Simulation, strategy: str | None = None, top: int = 6) -> Figure:
    """The ioLoad the feed reported for the busiest caches over the run, in one strategy's world (the first
    locator's unless named)."""
    from matplotlib.figure import Figure

    strategy = strategy or result.locators[0]
    o = result.outcomes[strategy]
    busiest = np.argsort(-o.io_load.max(axis=0))[:top]
    minutes = np.arange(o.io_load.shape[0]) * result.model.step_s / 60.0
    fig = Figure(figsize=(11.0, 3.6), layout="constrained")
    ax = fig.subplots()
    for index in busiest.tolist():
        ax.plot(minutes / 60.0, o.io_load[:, index], label=result.cache_names[index], linewidth=1)
    ax.axhline(100.0, color="grey", linestyle="--", linewidth=0.8)
    ax.axhline(result.model.io_load_at_capacity, color="black", linestyle=":", linewidth=0.8)
    ax.set(xlabel="hour (UTC)", ylabel="ioLoad", title=f"Load per cache ({strategy})")
    ax.legend(frameon=False, fontsize="small", ncol=2)
    return fig
