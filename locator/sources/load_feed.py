"""The load feed (LOCATOR_LOAD_URL): a Pelican director's server list read every LOCATOR_LOAD_INTERVAL_S, each
cache's `ioLoad` and `statusWeight` installed in the snapshot (locator.core.load says what the ranking does
with them).

Read with the bounds `locator sync` has (LOCATOR_SYNC_MAX_MB of body, the interval as the whole transfer's
deadline, bounded JSON). Servers are matched to caches by endpoint (scheme://host:port of the server's `url`)
or by name; origins and servers the caches file does not name are ignored. A failed read is one log line (the
first of a streak); the last report stays in use until it is older than three intervals, then it is marked
stale: ignored by the ranking, and /readyz says so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

from locator.core.federation import Federation, SnapshotStore
from locator.core.load import CacheLoad, LoadView
from locator.sources.fetch import FetchError, fetch_json
from locator.sources.sync import SERVERS, ServerAd

log = logging.getLogger(__name__)
STALE_AFTER = 3  # intervals
DEFAULT_PORTS = {"http": 80, "https": 443}


def servers_url(url: str) -> str:
    """A director's base URL, or its server list's URL as given."""
    return url if urlsplit(url).path.rstrip("/").endswith(SERVERS) else url.rstrip("/") + SERVERS


def endpoint_key(url: str) -> str | None:
    """scheme://host:port, the port spelled out: how a server's `url` and a cache's endpoint are compared."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}" if parts.hostname else None


def loads_of(servers: list[ServerAd], federation: Federation) -> dict[str, CacheLoad]:
    """Each cache's load, by cache name, from the servers that are caches of this federation."""
    by_endpoint = {endpoint_key(cache.endpoint): cache.name for cache in federation.caches.caches}
    by_name = {cache.name.lower(): cache.name for cache in federation.caches.caches}
    loads: dict[str, CacheLoad] = {}
    for server in servers:
        if server.type != "Cache" or server.ioLoad is None or not math.isfinite(server.ioLoad):
            continue
        name = by_endpoint.get(endpoint_key(server.url or "")) or by_name.get((server.name or "").lower())
        if name is not None:
            weight = server.statusWeight
            loads[name] = CacheLoad(server.ioLoad, 1.0 if weight is None or not math.isfinite(weight) else weight)
    return loads


class LoadFeed:
    def __init__(self, store: SnapshotStore, url: str, interval_s: float, max_bytes: int) -> None:
        self.store = store
        self.url = servers_url(url)
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self.last_ok: float | None = None
        self.failing = False

    def install(self, view: LoadView) -> None:
        self.store.update(lambda current: current.replace(load=view))

    async def poll(self) -> None:
        """One read: the new report installed, or the failure said once and the old report aged."""
        try:
            async with asyncio.timeout(self.interval_s):
                servers = await fetch_json(self.url, list[ServerAd], self.max_bytes, self.interval_s)
        except (FetchError, TimeoutError) as exc:
            if not self.failing:
                log.warning("load feed %s: %s; keeping the last report", self.url, exc or "no answer in time")
            self.failing = True
            current = self.store.current.load
            too_old = self.last_ok is None or time.time() - self.last_ok > STALE_AFTER * self.interval_s
            if too_old and not current.stale:
                await asyncio.to_thread(self.install, LoadView(current.by_name, current.fetched_at, stale=True))
            return
        if self.failing:
            log.warning("load feed %s answers again", self.url)
        self.failing = False
        self.last_ok = time.time()
        loads: Mapping[str, CacheLoad] = MappingProxyType(loads_of(servers, self.store.current))
        current = self.store.current.load
        if current.fetched_at is not None and not current.stale and dict(current.by_name) == dict(loads):
            return  # the same report: no new snapshot (each one empties the memo of answers)
        await asyncio.to_thread(self.install, LoadView(loads, self.last_ok))

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self.poll()
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
