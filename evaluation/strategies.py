"""The three strategies compared, each a function from observation records to ordered cache lists.

- legacy:  the CVMFS GeoIP service, emulated (evaluation.legacy), asked as stashcp asked it through
           WLCG WPAD: the job's own address is the caller. Namespace-blind.
- worker:  the 2022 Cloudflare Worker's rules exactly (djw8605/cache-locator index.js): the edge's
           lat/lon only when it gave a city; else the colo in the airport table (an entry at 0,0 does
           not count); else a random shuffle. Namespace-blind.
- locator: this project's decision, imported from locator/ (never a copy): each record is turned into the
           Cloudflare headers its edge would have sent, read by locator.core.edge, and decided by
           locator.core.decide for the namespace of the record's path.

Orders index the snapshot's caches (all of them, file order); the legacy service and the worker rank the
caches the files put in service, as their lists held only those. Inputs that repeat (a site's jobs share a
few NAT addresses) are decided once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from evaluation.legacy import LegacyCrash, LegacyGeo, legacy_order_many
from evaluation.records import object_paths
from locator.core.caches import Cache, CacheSet
from locator.core.decide import Decision, decide
from locator.core.edge import EdgeContext, read_edge
from locator.core.federation import Federation
from locator.core.geo import distance_matrix_km
from locator.core.lookups import AirportLookup
from locator.core.namespaces import Namespace
from locator.core.rank import sticky_window

IndexArray = npt.NDArray[np.intp]
NO_PICK = -1
# The records stand for what a trusted edge sent; they are read as if from this proxy.
RECORD_EDGE_PEER = "127.0.0.1"
RECORD_EDGE_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)


@dataclass(frozen=True)
class Ranking:
    """Per record: the cache order (indexes into the snapshot's caches, NO_PICK where there is no answer),
    how the strategy decided, why it gave no answer, and which sources it skipped why (`source:reason; ...`,
    the locator's cascade only)."""

    order: IndexArray
    method: list[str]
    error: list[str]
    skipped: list[str] | None = None


class Strategy(Protocol):
    name: str

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking: ...


def distinct(records: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, IndexArray]:
    """The distinct input rows and, for each record, the index of its distinct row."""
    codes = records.groupby(list(columns), sort=False, dropna=False).ngroup().to_numpy()
    return records[list(columns)].drop_duplicates().reset_index(drop=True), codes.astype(np.intp)


def in_service(federation: Federation) -> IndexArray:
    """The caches the files put in service, as indexes of the snapshot's caches."""
    return np.array([i for i, cache in enumerate(federation.caches.caches) if cache.in_service], dtype=np.intp)


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

    def __init__(self, geo: LegacyGeo, federation: Federation) -> None:
        self.listed = in_service(federation)
        caches = federation.caches.caches
        self.positions = geo.server_positions([caches[i].host for i in self.listed])
        self.geo = geo

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking:
        uniques, codes = distinct(records, ["client_ip"])
        width = len(self.listed) if n is None else min(n, len(self.listed))
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
                lats.append(position.latitude)
                lons.append(position.longitude)
        if rows:
            ordered, crashed = legacy_order_many(np.array(lats), np.array(lons), self.positions)
            order[rows] = self.listed[ordered[:, :width]]
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

    def __init__(self, federation: Federation, airports: AirportLookup | None, seed: int = 2022) -> None:
        self.listed = in_service(federation)
        caches = federation.caches
        self.latitudes, self.longitudes = caches.latitudes[self.listed], caches.longitudes[self.listed]
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
        uniques, codes = distinct(records, ["edge_latitude", "edge_longitude", "edge_city", "colo"])
        origins = [self._origin(*row) for row in uniques.itertuples(index=False)]
        width = len(self.listed) if n is None else min(n, len(self.listed))
        km = distance_matrix_km(
            np.array([o[0] for o in origins]), np.array([o[1] for o in origins]), self.latitudes, self.longitudes
        )
        # The worker sorts by distance (Array.prototype.sort is stable); a NaN position makes its comparator
        # call everything equal: list order. A cache without a position (never in its list) goes last.
        keys = np.where(np.isnan(km), np.inf, km)
        order = self.listed[np.argsort(keys, axis=1, kind="stable")[:, :width]][codes]
        method = np.array([o[2] for o in origins], dtype=object)[codes]
        for row in np.flatnonzero(method == "shuffle"):
            shuffled = np.random.default_rng([self.seed, int(row)]).permutation(len(self.listed))
            order[row] = self.listed[shuffled[:width]]
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
    COLUMNS = ("client_ip", "edge_latitude", "edge_longitude", "edge_city", "edge_country", "colo", "namespace_key")

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.namespaces: dict[str, Namespace] = {}  # by the listed path, or "" for public data

    def namespace_key(self, path: str) -> str:
        """The eligibility a path asks for: its listed namespace, or "" (public data); files of one namespace
        share it, so a site's jobs are decided once per namespace, not once per file."""
        if not path:
            return ""
        namespace = self.federation.namespaces.resolve(path)
        key = namespace.path or "" if namespace.listed else ""
        self.namespaces.setdefault(key, namespace)
        return key

    def namespace(self, key: str) -> Namespace | None:
        return self.namespaces.get(key) if key else None

    def rank(self, records: pd.DataFrame, n: int | None = None) -> Ranking:
        paths = pd.Series(object_paths(records), index=records.index)
        keys = {path: self.namespace_key(path) for path in paths.unique()}
        inputs = records.assign(namespace_key=paths.map(keys))
        uniques, codes = distinct(inputs, self.COLUMNS)
        when = np.array([record_time(text) for text in records["time"]])
        width = len(self.federation.caches.caches) if n is None else n
        order = np.full((len(records), width), NO_PICK, dtype=np.intp)
        methods = np.empty(len(records), dtype=object)
        skipped = np.empty(len(records), dtype=object)
        by_code = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[by_code], np.arange(len(uniques) + 1))
        for code, row in enumerate(uniques.itertuples(index=False)):
            members = by_code[starts[code] : starts[code + 1]]
            decision = decide(self.federation, record_context(row[:6]), None, self.namespace(row[6]), width)
            methods[members] = str(decision.location.method)
            skipped[members] = "; ".join(f"{source}:{why}" for source, why in decision.location.skipped.items())
            if decision.location.coordinate is not None:
                self._fill(order, members, decision)
                continue
            # An unlocated client's order lasts a sticky window: decide once per window the jobs asked in.
            windows = [sticky_window(decision.network, t, self.federation.spread.sticky_s) for t in when[members]]
            for _, group in pd.Series(members).groupby(windows):
                at = group.to_numpy()
                self._fill(order, at, dataclasses.replace(decision, now_s=float(when[at[0]])))
        return Ranking(order, list(methods), [""] * len(records), list(skipped))

    @staticmethod
    def _fill(order: IndexArray, rows: IndexArray, decision: Decision) -> None:
        indices = decision.ranking.indices
        order[rows, : len(indices)] = indices


def observed_cache(caches: CacheSet, text: str) -> Cache | None:
    """The cache an observed pick names: a name, endpoint, host:port, host, or `Label (Name)`."""
    found = caches.named(text)
    key = text.strip()
    if found is None and key.endswith(")") and "(" in key:
        return caches.named(key[key.rindex("(") + 1 : -1])
    return found


def picks(records: pd.DataFrame, strategies: Sequence[Strategy], federation: Federation) -> pd.DataFrame:
    """First picks per record and strategy: observed where the record has one, else computed.

    Columns per strategy s: s_pick (cache name, '' for none), s_source (observed | computed),
    s_method, s_error, and s_skipped for a strategy that reports it. An observed error (a timeout, a blocked
    hostname) is an observed failure: no pick.
    """
    caches = federation.caches.caches
    result = pd.DataFrame(index=records.index)
    for strategy in strategies:
        s = strategy.name
        observed = (records[f"{s}_pick"] != "") | (records[f"{s}_error"] != "")
        pick = pd.Series("", index=records.index, dtype=object)
        method = records[f"{s}_method"].where(observed, "").replace("", "observed").where(observed, "")
        error = records[f"{s}_error"].copy().astype(object)
        skipped = pd.Series("", index=records.index, dtype=object)
        for index in records.index[records[f"{s}_pick"] != ""]:
            cache = observed_cache(federation.caches, records.at[index, f"{s}_pick"])
            if cache is None:
                error.at[index] = f"unknown cache {records.at[index, f'{s}_pick']!r}"
            else:
                pick.at[index] = cache.name
        todo = records.index[~observed]
        if len(todo):
            ranking = strategy.rank(records.loc[todo], n=1)
            pick.loc[todo] = [caches[i].name if i != NO_PICK else "" for i in ranking.order[:, 0]]
            method.loc[todo] = ranking.method
            error.loc[todo] = ranking.error
            if ranking.skipped is not None:
                skipped.loc[todo] = ranking.skipped
        result[f"{s}_pick"] = pick
        result[f"{s}_source"] = np.where(observed, "observed", "computed")
        result[f"{s}_method"] = method
        result[f"{s}_error"] = error
        if s == LocatorStrategy.name:
            result[f"{s}_skipped"] = skipped
    return result
