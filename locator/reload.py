"""Live data: the caches and overrides files are reloaded when they change (or on SIGHUP), without a restart.

A reload parses the file off the event loop, then swaps in new resources with one assignment: a request
uses the resources it started with, so none fails or sees half a list. A file that does not parse (or is
gone) keeps the previous data in service; the error goes to the log, /readyz and a metric, and the next
change of the file is tried again. A file is only read once its modification time is SETTLE_S old, so a
file being written in place is not caught half-way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locator.caches import CacheFileError, load_caches
from locator.metrics import Metrics
from locator.overrides import OverridesError, load_overrides
from locator.resources import Resources
from locator.settings import Settings

log = logging.getLogger(__name__)

SETTLE_S = 1.0
Signature = tuple[int, int, int] | None  # (inode, size, mtime in ns), None when the file is missing


def signature(path: Path | None) -> Signature:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass
class FileState:
    """What was last tried for one file: its signature, when it was loaded, and the error if it failed."""

    path: Path | None
    seen: Signature
    loaded_at: float
    error: str | None = None

    def report(self) -> dict[str, Any]:
        return {"path": None if self.path is None else str(self.path), "loaded_at": self.loaded_at, "error": self.error}


class Reloader:
    """Checks the two files and swaps new resources in through `install`."""

    def __init__(
        self,
        settings: Settings,
        current: Callable[[], Resources],
        install: Callable[[Resources], None],
        metrics: Metrics,
    ) -> None:
        self.current = current
        self.install = install
        self.metrics = metrics
        now = time.time()
        self.files = {
            "caches": FileState(settings.caches_file, signature(settings.caches_file), now),
            "overrides": FileState(settings.overrides_file, signature(settings.overrides_file), now),
        }

    def errors(self) -> dict[str, str | None]:
        return {name: state.error for name, state in self.files.items()}

    def check(self, force: bool = False) -> list[str]:
        """Reload the files that changed (all of them when `force`); returns the names reloaded."""
        resources = self.current()
        caches, overrides = resources.caches, resources.sources.overrides
        reloaded = []
        for name, state in self.files.items():
            seen = signature(state.path)
            if not force and seen == state.seen:
                continue
            if not force and seen is not None and time.time() - seen[2] / 1e9 < SETTLE_S:
                continue  # still being written, perhaps: look again next time
            state.seen = seen
            try:
                if name == "caches":
                    caches = load_caches(state.path) if state.path is not None else caches
                else:
                    overrides = load_overrides(state.path)
            except (CacheFileError, OverridesError, OSError) as exc:
                state.error = str(exc)
                self.metrics.reload_failures.labels(name).inc()
                log.error("reload failed, the previous %s stay in service: %s", name, exc, extra={"file": name})
                continue
            state.error = None
            state.loaded_at = time.time()
            self.metrics.reloads.labels(name).inc()
            reloaded.append(name)
        if reloaded:
            self.install(
                resources.with_data(caches, overrides, time.time() if "caches" in reloaded else resources.loaded_at)
            )
            log.info(
                "reloaded %s: %d caches in service, %d overrides",
                " and ".join(reloaded),
                len(caches),
                len(overrides),
                extra={"files": reloaded},
            )
        return reloaded
