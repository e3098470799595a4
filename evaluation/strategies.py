"""The three strategies compared, each a function from observation records to ordered cache lists.

- legacy:  the CVMFS GeoIP service, emulated (evaluation.legacy), asked as stashcp asked it through
           WLCG WPAD: the job's own address is the caller.
- worker:  the 2022 Cloudflare Worker's rules exactly (djw8605/cache-locator index.js): the edge's
           lat/lon only when it gave a city; else the colo in the airport table (an entry at 0,0 does
           not count); else a random shuffle.
- locator: this project's cascade and ranking, imported from locator/ (never a copy): each record is
           turned into the Cloudflare headers its edge would have sent and read by locator.edge.

Every strategy ranks all records at once: one distance matrix, not a loop of per-record distances.
Inputs that repeat (a site's jobs share a few NAT addresses) are decided once.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from evaluation.legacy import LegacyCrash, LegacyGeo, legacy_order_many
from locator.airports import AirportTable
from locator.caches import Cache, CacheSet
from locator.decide import order_many
from locator.edge import EdgeContext, read_edge
from locator.locate import Location, locate
from locator.rank import IndexArray, rank_many
from locator.resources import Resources

NO_PICK = -1
# The records stand for what a trusted edge sent; they are read as if from this proxy.
RECORD_EDGE_PEER = "127.0.0.1"
RECORD_EDGE_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)


@dataclass(frozen=True)
class Ranking:
    """Per record: the cache order (indexes into `caches.in_service`, all NO_PICK when there is no
    answer), how the strategy decided, and why it gave no answer."""

    order: IndexArray
    method: list[str]
    error: list[str]


class Strategy(Protocol):
    name: str
    caches: CacheSet

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking: ...


def _unique(records: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, npt.NDArray[np.intp]]:
    """The distinct input rows and, for each record, the index of its distinct row.

    Rows are grouped by a 64-bit hash (vectorised), then checked against their group's first row, so a
    hash collision can cost time (an exact fallback) but never merge two different inputs.
    """
    frame = records[list(columns)]
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    codes, _ = pd.factorize(hashes)
    _, first = np.unique(codes, return_index=True)
    uniques = frame.iloc[first].reset_index(drop=True)
    if not (frame.to_numpy() == uniques.to_numpy()[codes]).all():
        codes = frame.groupby(list(columns), sort=False, dropna=False).ngroup().to_numpy()
        uniques = frame.drop_duplicates().reset_index(drop=True)
    return uniques, codes.astype(np.intp)


def _width(caches: CacheSet, n: int | None) -> int:
    return len(caches) if n is None else min(n, len(caches))


def js_number(text: str) -> float:
    """JavaScript's Number(string), which the worker's arithmetic applied to `request.cf.latitude`."""
    text = text.strip()
    if not text:
        return 0.0
    if text.lower().startswith(("0x", "0o", "0b")):
        try:
            return float(int(text, 0))
        except ValueError:
            return math.nan
    if text in ("Infinity", "+Infinity", "-Infinity"):
        return math.copysign(math.inf, -1.0 if text.startswith("-") else 1.0)
    try:
        return float(text) if text.lower().lstrip("+-") not in ("inf", "infinity", "nan") else math.nan
    except ValueError:
        return math.nan


class LegacyStrategy:
    name = "legacy"

    def __init__(self, geo: LegacyGeo, caches: CacheSet) -> None:
        self.caches = caches
        self.positions = geo.server_positions([cache.host for cache in caches.in_service])
        self.geo = geo

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking:
        uniques, codes = _unique(records, ["client_ip"])
        width = _width(self.caches, n)
        order = np.full((len(uniques), width), NO_PICK, dtype=np.intp)
        errors = [""] * len(uniques)
        lats, lons, rows = [], [], []
        for i, address in enumerate(uniques["client_ip"]):
            try:
                position = self.geo.client_location(address, {})
            except LegacyCrash as crash:
                errors[i] = f"HTTP 500: {crash}"
                continue
            if position is None:
                errors[i] = "HTTP 400: remote addr not found in database"
            elif all(p is None for p in self.positions):
                errors[i] = "HTTP 400: no server addr found in database"
            else:
                rows.append(i)
                lats.append(position[0])
                lons.append(position[1])
        if rows:
            ordered, crashed = legacy_order_many(np.array(lats), np.array(lons), self.positions)
            order[rows] = ordered[:, :width]
            for row in np.array(rows)[crashed]:
                order[row] = NO_PICK
                errors[row] = "HTTP 500: ValueError: math domain error (acos)"
        return Ranking(
            order[codes],
            ["maxmind" if not e else "error" for e in np.array(errors)[codes]],
            list(np.array(errors, dtype=object)[codes]),
        )


class WorkerStrategy:
    name = "worker"

    def __init__(self, caches: CacheSet, airports: AirportTable | None, seed: int = 2022) -> None:
        self.caches = caches
        self.airports = airports
        self.seed = seed

    def _origin(self, lat: str, lon: str, city: str, colo: str) -> tuple[float, float, str]:
        if city:  # request.cf.city != undefined
            return js_number(lat), js_number(lon), "geoip"
        if colo:
            airport = self.airports.lookup(colo) if self.airports is not None else None
            if airport is not None:  # the table never serves 0,0, as the worker's `lat != 0 || long != 0`
                return airport.coordinate.latitude, airport.coordinate.longitude, "colo"
        return math.nan, math.nan, "shuffle"

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking:
        uniques, codes = _unique(records, ["edge_latitude", "edge_longitude", "edge_city", "colo"])
        origins = [self._origin(*row) for row in uniques.itertuples(index=False)]
        width = _width(self.caches, n)
        # NaN positions rank every cache as unknown: file order, which is also what the worker's sort
        # does with NaN distances (its comparator then calls everything equal).
        lat = np.array([o[0] for o in origins])
        lon = np.array([o[1] for o in origins])
        order, _ = rank_many(self.caches, lat, lon, width)
        method = np.array([o[2] for o in origins], dtype=object)[codes]
        order = order[codes]
        for row in np.flatnonzero(method == "shuffle"):
            shuffled = np.random.default_rng([self.seed, int(row)]).permutation(len(self.caches))
            order[row] = shuffled[:width]
        return Ranking(order, list(method), [""] * len(records))


def record_headers(row: Sequence[str]) -> dict[str, str]:
    """The Cloudflare headers an edge would send for (client_ip, edge lat, lon, city, country, colo)."""
    client_ip, lat, lon, city, country, colo = row
    pairs = {
        "cf-connecting-ip": client_ip,
        "cf-iplatitude": lat,
        "cf-iplongitude": lon,
        "cf-ipcity": city,
        "cf-ipcountry": country,
        "cf-ray": f"0000000000000000-{colo}" if colo else "",
    }
    return {name: value for name, value in pairs.items() if value}


def record_context(row: Sequence[str]) -> EdgeContext:
    return read_edge(record_headers(row), RECORD_EDGE_PEER, RECORD_EDGE_PROXIES)


def record_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp() if text else 0.0
    except ValueError:
        return 0.0


class LocatorStrategy:
    name = "locator"
    COLUMNS = ("client_ip", "edge_latitude", "edge_longitude", "edge_city", "edge_country", "colo")

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.caches = resources.caches

    def locations(self, records: pd.DataFrame) -> tuple[list[Location], list[EdgeContext], npt.NDArray[np.intp]]:
        uniques, codes = _unique(records, self.COLUMNS)
        contexts = [record_context(row) for row in uniques.itertuples(index=False)]
        located = [locate(None, context, self.resources.sources, self.resources.policy) for context in contexts]
        return located, contexts, codes

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking:
        located, contexts, codes = self.locations(records)
        width = _width(self.caches, n)
        clients = [context.client_ip for context in contexts]
        # A located client's order does not depend on time: one call ranks every distinct input.
        by_input, _ = order_many(self.resources, located, clients, 0.0, width)
        order = by_input[codes]
        # A sticky fallback order depends on when the job asked: decide those per (input, time).
        unlocated = [c for c, where in enumerate(located) if where.coordinate is None]
        rows = np.flatnonzero(np.isin(codes, unlocated))
        times = [record_time(text) for text in records["time"].to_numpy()[rows]]
        for (code, when), members in pd.Series(range(len(rows))).groupby([codes[rows], times]):
            decided, _ = order_many(self.resources, [located[code]], [clients[code]], when, width)
            order[rows[members.to_numpy()]] = decided[0]
        return Ranking(order, [str(located[code].method) for code in codes], [""] * len(records))


@dataclass(frozen=True)
class CacheNames:
    """Matches an observed pick, written as a name, endpoint, host:port, host or `Label (Name)`, to a cache."""

    caches: CacheSet

    def index(self) -> dict[str, Cache]:
        table: dict[str, Cache] = {}
        for cache in self.caches.caches:
            for key in (cache.name, cache.endpoint, cache.authority, cache.host):
                table.setdefault(key.lower(), cache)
        return table

    def resolver(self) -> Callable[[str], Cache | None]:
        table = self.index()

        def resolve(text: str) -> Cache | None:
            key = text.strip().lower()
            if key in table:
                return table[key]
            if key.endswith(")") and "(" in key:
                return table.get(key[key.rindex("(") + 1 : -1].strip())
            return None

        return resolve


def picks(records: pd.DataFrame, strategies: Sequence[Strategy], caches: CacheSet) -> pd.DataFrame:
    """First picks per record and strategy: observed where the record has one, else computed.

    Columns per strategy s: s_pick (cache name, '' for none), s_source (observed | computed),
    s_method, s_error. An observed error (a timeout, a blocked hostname) is an observed failure: no pick.
    """
    resolve = CacheNames(caches).resolver()
    result = pd.DataFrame(index=records.index)
    for strategy in strategies:
        s = strategy.name
        observed = (records[f"{s}_pick"] != "") | (records[f"{s}_error"] != "")
        pick = pd.Series("", index=records.index, dtype=object)
        method = records[f"{s}_method"].where(observed, "").replace("", "observed").where(observed, "")
        error = records[f"{s}_error"].copy().astype(object)
        for index in records.index[records[f"{s}_pick"] != ""]:
            cache = resolve(records.at[index, f"{s}_pick"])
            if cache is None:
                error.at[index] = f"unknown cache {records.at[index, f'{s}_pick']!r}"
            else:
                pick.at[index] = cache.name
        todo = records.index[~observed]
        if len(todo):
            ranking = strategy.rank(records.loc[todo], n=1)
            first = ranking.order[:, 0]
            pick.loc[todo] = [caches.in_service[i].name if i != NO_PICK else "" for i in first]
            method.loc[todo] = ranking.method
            error.loc[todo] = ranking.error
        result[f"{s}_pick"] = pick
        result[f"{s}_source"] = np.where(observed, "observed", "computed")
        result[f"{s}_method"] = method
        result[f"{s}_error"] = error
    return result


def ordered_names(strategy: Strategy, record: pd.Series) -> list[str]:
    """One record's whole ordered cache list by a strategy (empty when it gives no answer)."""
    ranking = strategy.rank(pd.DataFrame([record]).reset_index(drop=True))
    return [strategy.caches.in_service[i].name for i in ranking.order[0] if i != NO_PICK]
