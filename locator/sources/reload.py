"""Live data: the caches, namespaces and overrides files and the GeoIP database are reloaded when they change
(or on SIGHUP).

A reload parses the files off the event loop, then swaps in a new snapshot built on the one in service at
that moment (its health, GeoIP and airports stay), with one assignment: a request uses the snapshot it
started with, so none fails or sees half a list. Reloads run one at a time (the timer and SIGHUP share a
lock), so a slow reload can never put older content back over a newer one. A file that does not parse (or
a cache naming a namespace the namespaces file lacks) keeps the previous data in service; the error goes to
the log, /readyz and a metric, and the next change of the file is tried again.

A file must not go into service half-written. The documented way to update one is to rename a complete
file into place. Besides, a changed file is only read once its modification time is SETTLE_S old (except on
SIGHUP), a file that changes while being read is read again, one whose last line has no newline is refused
(`files.read_table`), and a caches file that would take more than LOCATOR_RELOAD_MAX_SHRINK of the listed
caches away is refused until a restart confirms it: a cut at a line boundary still parses.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from locator.core.caches import CacheSet
from locator.core.federation import Federation, FederationError, SnapshotStore
from locator.core.lookups import OverrideTable
from locator.core.namespaces import NamespaceTable
from locator.settings import Settings
from locator.sources.caches_file import CacheFileError, load_caches
from locator.sources.files import Signature, signature
from locator.sources.geoip import GeoIPDatabase, GeoIPError
from locator.sources.namespaces_file import NamespaceFileError, load_namespaces
from locator.sources.overrides_file import OverridesError, load_overrides

log = logging.getLogger(__name__)

SETTLE_S = 1.0


class Checked(NamedTuple):
    """What one check did: the files put in service, and those that failed (the previous data stays)."""

    reloaded: list[str]
    failed: list[str]


@dataclass
class FileState:
    """What was last tried for one file: its signature, when it was loaded, and the error if it failed."""

    path: Path | None
    seen: Signature
    loaded_at: float
    error: str | None = None


Loaded = CacheSet | NamespaceTable | OverrideTable | GeoIPDatabase


def read(name: str, path: Path | None, allow_private: bool) -> Loaded:
    if name == "caches":
        if path is None:
            raise CacheFileError("no caches file configured")
        return load_caches(path, allow_private)
    if name == "namespaces":
        return load_namespaces(path)
    if name == "geoip":
        if path is None:
            raise GeoIPError("no GeoIP database configured")
        return GeoIPDatabase(path)  # checked before use: a damaged one keeps the previous in service
    return load_overrides(path)


def with_files(federation: Federation, loaded: Iterable[Loaded], loaded_at: float) -> Federation:
    """One new snapshot with every file read this time: checked as a whole, since the caches and namespaces
    files must agree with each other (one alone may be mid-change)."""
    changes: dict[str, object] = {}
    sources = federation.sources
    for value in loaded:
        if isinstance(value, CacheSet):
            changes.update(caches=value, loaded_at=loaded_at)
        elif isinstance(value, NamespaceTable):
            changes["namespaces"] = value
        elif isinstance(value, GeoIPDatabase):
            sources = dataclasses.replace(sources, geoip=value)
            changes["degraded"] = tuple(note for note in federation.degraded if not note.startswith("geoip:"))
        else:
            sources = dataclasses.replace(sources, overrides=value)
    return federation.replace(**changes, sources=sources)


def shrink_error(current: CacheSet, new: CacheSet, max_shrink: float) -> str | None:
    """Why a new caches file is refused for listing too few of the caches in service, or None."""
    lost = len(current) - len(new)
    if lost <= max_shrink * len(current):
        return None
    return (
        f"it lists {len(new)} caches where {len(current)} are listed now: a cut of more than "
        f"LOCATOR_RELOAD_MAX_SHRINK={max_shrink:g} of them is refused (a file cut short?); "
        "restart the locator to confirm it"
    )


class Reloader:
    """Checks the data files and swaps a new snapshot into the store when they changed."""

    def __init__(self, settings: Settings, store: SnapshotStore) -> None:
        self.store = store
        self.max_shrink = settings.reload_max_shrink
        self.allow_private = settings.allow_private_endpoints
        self._lock = threading.Lock()
        now = time.time()
        paths = {
            "caches": settings.caches_file,
            "namespaces": settings.namespaces_file,
            "overrides": settings.overrides_file,
            "geoip": settings.geoip_db,
        }
        self.files = {name: FileState(path, signature(path), now) for name, path in paths.items()}

    def errors(self) -> dict[str, str | None]:
        return {name: state.error for name, state in self.files.items()}

    def check(self, force: bool = False) -> Checked:
        """Reload the files that changed (all of them when `force`); says which went in and which failed."""
        with self._lock:
            return self._check(force)

    def _check(self, force: bool) -> Checked:
        loaded: dict[str, Loaded] = {}
        failed: list[str] = []
        seen: dict[str, Signature] = {}
        for name, state in self.files.items():
            now_seen = signature(state.path)
            if not force and now_seen == state.seen:
                continue
            if not force and now_seen is not None and time.time() - now_seen[2] / 1e9 < SETTLE_S:
                continue  # still being written, perhaps: look again next time
            try:
                value = read(name, state.path, self.allow_private)
                if isinstance(value, CacheSet) and (
                    refused := shrink_error(self.store.current.caches, value, self.max_shrink)
                ):
                    raise CacheFileError(f"{state.path}: {refused}")
            except (CacheFileError, NamespaceFileError, OverridesError, GeoIPError, OSError) as exc:
                state.seen = now_seen  # a broken file is tried again when it changes
                self._failed(name, str(exc))
                failed.append(name)
            else:
                loaded[name], seen[name] = value, now_seen
        if not loaded:
            return Checked([], failed)
        now = time.time()

        try:
            installed = self.store.update(lambda current: with_files(current, loaded.values(), now))
        except FederationError as exc:
            # The files disagree: perhaps one of two being replaced together (`locator sync`) is not there yet.
            # Their signatures are not recorded, so the next check reads them again.
            for name in loaded:
                self._failed(name, str(exc))
            return Checked([], failed + list(loaded))
        for name in loaded:
            state = self.files[name]
            state.seen, state.error, state.loaded_at = seen[name], None, now
        log.info(
            "reloaded %s: %d caches in service, %d namespaces, %d overrides",
            " and ".join(loaded),
            int(installed.rankable.sum()),
            len(installed.namespaces),
            len(installed.sources.overrides),
            extra={"files": list(loaded), "snapshot": installed.version},
        )
        return Checked(list(loaded), failed)

    def _failed(self, name: str, error: str) -> None:
        state = self.files[name]
        if state.error != error:  # once per distinct error, not at every check
            log.error("reload failed, the previous %s stay in service: %s", name, error, extra={"file": name})
        state.error = error
