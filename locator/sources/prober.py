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

from locator.core.caches import Cache
from locator.core.federation import Federation, SnapshotStore

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
    caches: Iterable[Cache], path: str, timeout_s: float, concurrency: int, deadline_s: float
) -> dict[str, tuple[bool, str]]:
    """Probe every cache, at most `concurrency` at once; redirects are answers, not followed.

    The round ends after `deadline_s` whatever happens (a name that takes long to fail to resolve holds a
    probe for its whole timeout): a probe still waiting then counts as failed, so a round always ends in time.
    """
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    results: dict[str, tuple[bool, str]] = {}

    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, limits=limits) as client:

        async def one(cache: Cache) -> None:
            async with gate:
                results[cache.name] = await probe(client, cache, path, timeout_s)

        targets = list(caches)
        tasks = [asyncio.create_task(one(cache)) for cache in targets]
        try:
            await asyncio.wait(tasks, timeout=deadline_s)
        finally:  # the deadline, or the round itself cancelled (shutdown): no probe outlives the client
            late = [task for task in tasks if not task.done()]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    for cache in targets:
        results.setdefault(cache.name, (False, f"no answer within the round ({deadline_s:g} s)"))
    return results


class Prober:
    """Probes the caches in service (by the files) and installs the health each round gives."""

    def __init__(self, store: SnapshotStore, path: str, timeout_s: float, concurrency: int, interval_s: float) -> None:
        self.store = store
        self.path = path
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.deadline_s = max(interval_s, timeout_s)  # a round never runs into the next

    async def round(self) -> Federation:
        targets = [cache for cache in self.store.current.caches.caches if cache.in_service]
        results = await probe_all(targets, self.path, self.timeout_s, self.concurrency, self.deadline_s)
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

    async def run(self) -> None:
        """A round every `deadline_s` (the interval): the next starts when the last has ended."""
        while True:
            started = time.monotonic()
            try:
                await self.round()
            except Exception:  # a bug in a round must not stop the probing
                log.exception("a health probe round failed")
            await asyncio.sleep(max(0.0, self.deadline_s - (time.monotonic() - started)))
