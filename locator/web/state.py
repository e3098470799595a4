"""What every handler shares: the settings, the snapshot store, the memo of answers, the metrics and the access
log, and the watchers the lifespan runs. Handlers reach it as `request.app.state.shared`; the data sources
behind the protocols come from locator.service (this package imports none of them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from locator.core.federation import SnapshotStore
from locator.core.lookups import Resolution
from locator.core.namespaces import Namespace
from locator.settings import Settings
from locator.web.errors import ServiceUnavailable
from locator.web.logs import AccessLog
from locator.web.memo import Answer, AnswerMemo
from locator.web.metrics import Metrics
from locator.web.observe import DECISION


class WatchedFile(Protocol):
    @property
    def path(self) -> Path | None: ...

    @property
    def loaded_at(self) -> float: ...

    @property
    def error(self) -> str | None: ...


class FileWatcher(Protocol):
    """Reloads the data files that changed (locator.sources.reload.Reloader)."""

    @property
    def files(self) -> Mapping[str, WatchedFile]: ...

    def errors(self) -> dict[str, str | None]: ...

    def check(self, force: bool = False) -> tuple[list[str], list[str]]: ...  # (reloaded, failed)


class Prober(Protocol):
    """Probes the caches' health in rounds, forever (locator.sources.prober.Prober)."""

    async def run(self) -> None: ...


class Feed(Protocol):
    """Reads the caches' load, forever (locator.sources.load_feed.LoadFeed)."""

    async def run(self) -> None: ...


class Resolver(Protocol):
    """Host names to addresses, bounded in time and memory (locator.sources.resolver.Resolver)."""

    async def resolve(self, names: Iterable[str]) -> Resolution: ...

    async def close(self) -> None: ...


@dataclass
class Shared:
    settings: Settings
    store: SnapshotStore
    reloader: FileWatcher
    prober: Prober
    resolver: Resolver
    metrics: Metrics
    memo: AnswerMemo
    access_log: AccessLog | None
    load_feed: Feed | None = None  # LOCATOR_LOAD_URL set
    spec: dict[str, Any] = field(default_factory=dict)  # the OpenAPI document, made when the routes are known
    index: dict[str, str] = field(default_factory=dict)  # route -> what it offers

    def decided(self, scope: Any, answer: Answer[Any], namespace: Namespace | None, of_caches: bool = True) -> None:
        """Give the observer the decision (it counts it, and logs its facts); for an answer of caches
        (`of_caches`), 503 when no cache at all may serve the request."""
        facts = scope.get("locator")
        if facts is not None:
            facts[DECISION] = answer.location
            if self.access_log is not None:
                facts.update(method=answer.location.method.value, cache=answer.first, client_network=answer.network)
                if namespace is not None:
                    facts["namespace"] = namespace.path
        if answer.moved_by_load:
            self.metrics.moved_by_load.inc()
        if of_caches and answer.first is None:  # every cache that may serve it is out of service
            served = "public data" if namespace is None else namespace.path or "public data"
            raise ServiceUnavailable(f"no cache in service may serve {served}", "no_cache_available")
