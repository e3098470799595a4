"""What runs beside the requests while the app serves: the data files watched and reloaded (also on SIGHUP),
the caches probed, the buffered access log and counts written, and at the end the resolver's lookups ended.

It may run more than once (test clients do). The snapshot stays open after shutdown: a process that exits
frees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette

from locator.web.state import Shared

log = logging.getLogger(__name__)
FLUSH_S = 0.5  # access-log lines and counts reach their destinations within this


def lifespan(shared: Shared) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def running(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()

        def reload_now() -> None:
            task = loop.create_task(asyncio.to_thread(check_files, shared, True))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, reload_now)
        except (RuntimeError, ValueError):  # not the main thread (a test client): no signals to catch
            log.debug("SIGHUP reload not available in this thread")
        log.info("%s", summary(shared))
        # What start-up made (the snapshot, the airports, the GeoIP reader, the modules) lives as long as the
        # process: out of the collector's way, so that a full collection does not walk it mid-request.
        gc.freeze()
        watchers = [loop.create_task(flush_buffers(shared))]
        if shared.settings.reload_interval_s:
            watchers.append(loop.create_task(watch(shared, shared.settings.reload_interval_s)))
        if shared.settings.health_interval_s:
            watchers.append(loop.create_task(shared.prober.run()))
        if shared.load_feed is not None:
            watchers.append(loop.create_task(shared.load_feed.run()))
        try:
            yield
        finally:
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await shared.resolver.close()
            flush(shared)
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)

    return running


def summary(shared: Shared) -> str:
    """What an operator wants to know at start, in one line: what was loaded, what runs in the background over
    the network, and how to turn it off."""
    federation, settings = shared.store.current, shared.settings
    caches, sources = federation.caches, federation.sources
    geoip = None if sources.geoip is None else sources.geoip.info
    loaded = [
        f"{len(caches)} caches ({len(caches.in_service)} in service)",
        f"{len(caches.origins)} origins",
        f"{len(federation.namespaces)} namespaces",
        f"{0 if sources.airports is None else len(sources.airports):,} airports",
        "no GeoIP database" if geoip is None else f"GeoIP {geoip.database_type} of {geoip.built} ({geoip.path})",
    ]
    if settings.health_interval_s:
        prober = (
            f"the health prober fetches {settings.health_path} from the {len(caches.in_service)} caches in service "
            f"every {settings.health_interval_s:g} s over the network (LOCATOR_HEALTH_INTERVAL_S=0 turns it off)"
        )
    else:
        prober = "the health prober is off (LOCATOR_HEALTH_INTERVAL_S=0)"
    count = len(federation.degraded)
    degraded = f"; degraded in {count} part(s), said above (and by /readyz)" if count else ""
    return f"ready to serve: {', '.join(loaded)}; {prober}{degraded}"


def flush(shared: Shared) -> None:
    shared.metrics.flush()
    if shared.access_log is not None:
        shared.access_log.flush()


async def flush_buffers(shared: Shared) -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        flush(shared)


def check_files(shared: Shared, force: bool = False) -> tuple[list[str], list[str]]:
    """Reload what changed, and count it; (reloaded, failed) as the watcher says."""
    reloaded, failed = shared.reloader.check(force)
    for name in reloaded:
        shared.metrics.reloads.labels(name).inc()
    for name in failed:
        shared.metrics.reload_failures.labels(name).inc()
    return reloaded, failed


async def watch(shared: Shared, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(check_files, shared)
        except Exception:  # a bug in a reload must not stop the watching
            log.exception("checking the data files failed")
