"""The background health prober: every cache endpoint over HTTP, a bounded number at a time.

A probe is a GET of `<endpoint><LOCATOR_HEALTH_PATH>` that reads only the status line and headers; any answer
below 500 means the cache's web server is up (a 403 or 404 on `/` is normal for a cache). A timeout, a
refused connection, a TLS failure or a 5xx is a failure. Each round's results move every cache's smoothed
health (locator.health) and install a new snapshot; every worker probes for itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import httpx2 as httpx

from locator.caches import Cache
from locator.federation import Federation, SnapshotStore

log = logging.getLogger(__name__)


async def probe(client: httpx.AsyncClient, cache: Cache, path: str, timeout_s: float) -> tuple[bool, str]:
    """(answered, what happened in words) for one cache."""
    started = time.perf_counter()
    try:
        async with client.stream("GET", cache.endpoint + path) as response:
            status = response.status_code
    except httpx.TimeoutException:
        return False, f"timeout after {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return False, f"unreachable: {type(exc).__name__}: {exc}"[:200]
    took = (time.perf_counter() - started) * 1000
    return status < 500, f"HTTP {status} in {took:.0f} ms"


async def probe_all(
    caches: Iterable[Cache], path: str, timeout_s: float, concurrency: int
) -> dict[str, tuple[bool, str]]:
    """Probe every cache, at most `concurrency` at once; redirects are answers, not followed."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)

    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, limits=limits) as client:

        async def one(cache: Cache) -> tuple[str, tuple[bool, str]]:
            async with gate:
                return cache.name, await probe(client, cache, path, timeout_s)

        return dict(await asyncio.gather(*(one(cache) for cache in caches)))


class Prober:
    """Probes the caches in service (by the files) and installs the health each round gives."""

    def __init__(self, store: SnapshotStore, path: str, timeout_s: float, concurrency: int) -> None:
        self.store = store
        self.path = path
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    async def round(self) -> Federation:
        targets = [cache for cache in self.store.current.caches.caches if cache.in_service]
        results = await probe_all(targets, self.path, self.timeout_s, self.concurrency)
        now = time.time()

        def change(current: Federation) -> Federation:
            names = {cache.name for cache in current.caches.caches if cache.in_service}
            return current.replace(health=current.health.observed(results, now, names))

        was = self.store.current.health.distrusted
        installed = await asyncio.to_thread(self.store.update, change)
        if installed.health.distrusted and not was:
            log.warning("health prober distrusted: %s", installed.health.reason)
        elif was and not installed.health.distrusted:
            log.warning("health prober believed again: fewer than half of the caches fail their probes")
        return installed

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # a bug in a round must not stop the probing
                log.exception("a health probe round failed")
            await asyncio.sleep(interval_s)
