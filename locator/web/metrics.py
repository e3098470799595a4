"""Prometheus metrics: what operators alert on. Labels never carry client addresses.

Counters and the latency histogram are ordinary prometheus_client metrics on a per-app registry. With more
than one uvicorn worker, `locator serve` sets PROMETHEUS_MULTIPROC_DIR and every worker writes its counts
there, so any worker's /metrics answers for all. Gauges that describe the loaded data (cache list size and
age, reload errors, degraded parts) are computed at scrape time from the serving worker's resources: every
worker loads the same files.
"""

from __future__ import annotations

import collections
import hmac
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from locator.core.federation import Federation
from locator.core.locate import Location
from locator.web.errors import Unauthorized
from locator.web.openapi import Documented, json_answer

if TYPE_CHECKING:  # the shared state holds the metrics: a type only, no import at run time
    from locator.web.state import Shared

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; a decision takes well under a millisecond, a slow one is what to look at.
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class DataCollector(Collector):
    """Gauges read from the snapshot in service at scrape time."""

    def __init__(
        self,
        current: Callable[[], Federation],
        reload_errors: Callable[[], dict[str, str | None]],
        memo: Callable[[], tuple[int, int, int]],
    ) -> None:
        self._current = current
        self._reload_errors = reload_errors
        self._memo = memo  # (entries, bytes, bound in bytes)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        federation = self._current()
        view = federation.health
        caches = GaugeMetricFamily(
            "locator_caches",
            "Caches: configured, in service by the files, and ranked (not failed by health probes).",
            labels=["state"],
        )
        caches.add_metric(["configured"], len(federation.caches.caches))
        caches.add_metric(["in_service"], len(federation.caches.in_service))
        caches.add_metric(["ranked"], int(federation.rankable.sum()))
        yield caches
        score = GaugeMetricFamily(
            "locator_cache_health_score",
            "Smoothed share of health probes a cache answered (1 = all; below 0.5 degraded, below 0.2 removed).",
            labels=["cache"],
        )
        ranked = GaugeMetricFamily(
            "locator_cache_ranked", "1 when a cache is ranked (up, no downtime, health not failed).", labels=["cache"]
        )
        state = GaugeMetricFamily(
            "locator_cache_health", "1 for the health state each cache is in.", labels=["cache", "state"]
        )
        for index, cache in enumerate(federation.caches.caches):
            health = view.of(cache.name)
            score.add_metric([cache.name], health.score)
            ranked.add_metric([cache.name], float(federation.rankable[index]))
            state.add_metric([cache.name, health.state.value], 1.0)
        yield score
        yield ranked
        yield state
        yield GaugeMetricFamily(
            "locator_health_prober_distrusted",
            "1 while most caches fail their probes at once and the prober, not the caches, is blamed.",
            value=1.0 if view.distrusted else 0.0,
        )
        yield GaugeMetricFamily(
            "locator_cache_list_age_seconds",
            "Seconds since the cache list in service was loaded.",
            value=time.time() - federation.loaded_at,
        )
        yield GaugeMetricFamily("locator_namespaces", "Listed namespaces.", value=len(federation.namespaces))
        entries, size, bound = self._memo()
        yield GaugeMetricFamily("locator_memo_entries", "Answers kept in the memo.", value=entries)
        yield GaugeMetricFamily("locator_memo_bytes", "Bytes the memo's answers hold (LOCATOR_MEMO_MB).", value=size)
        yield GaugeMetricFamily("locator_memo_limit_bytes", "The memo's bound in bytes.", value=bound)
        yield GaugeMetricFamily(
            "locator_overrides", "Networks in the overrides table.", value=len(federation.sources.overrides)
        )
        failing = GaugeMetricFamily(
            "locator_reload_error",
            "1 while the last reload of a file failed and the previous data is served.",
            labels=["file"],
        )
        for name, error in self._reload_errors().items():
            failing.add_metric([name], 1.0 if error else 0.0)
        yield failing
        degraded = GaugeMetricFamily(
            "locator_degraded", "1 when a part is missing and the service runs without it.", labels=["part"]
        )
        for part in ("geoip", "airports"):
            degraded.add_metric([part], 1.0 if any(note.startswith(part) for note in federation.degraded) else 0.0)
        yield degraded


class Metrics:
    """The service's metrics on their own registry (one per app, so tests and workers do not collide)."""

    def __init__(self, data: Collector) -> None:
        self.data = data
        self.registry = CollectorRegistry()
        self.registry.register(data)
        self.requests = Counter(
            "locator_http_requests", "HTTP requests by route and status.", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "locator_request_duration_seconds",
            "Time to answer, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "locator_decisions", "Decisions by the method that located the client.", ["method"], registry=self.registry
        )
        self.skips = Counter(
            "locator_skips",
            "Location sources skipped, and why (how often the edge or GeoIP failed).",
            ["source", "reason"],
            registry=self.registry,
        )
        self.redirects = Counter("locator_redirects", "307 redirects to a cache.", registry=self.registry)
        self.moved_by_load = Counter(
            "locator_answers_moved_by_load",
            "Answers whose order load changed (a cache above its threshold shed this client; LOCATOR_LOAD_URL).",
            registry=self.registry,
        )
        self.reloads = Counter(
            "locator_reloads", "Data files reloaded without a restart.", ["file"], registry=self.registry
        )
        self.reload_failures = Counter(
            "locator_reload_failures",
            "Reloads that failed; the previous data stayed in service.",
            ["file"],
            registry=self.registry,
        )
        # Labelled children by label values: `labels()` costs more than the increment it serves.
        self._children: dict[tuple[object, ...], Any] = {}
        # Counts not yet added to their counters: a request adds about five, and each `inc` takes a lock.
        self._pending: collections.Counter[tuple[Counter, tuple[str, ...]]] = collections.Counter()
        self._decisions: collections.Counter[tuple[str, tuple[tuple[str, str], ...]]] = collections.Counter()

    def child(self, metric: Counter | Histogram, *values: str) -> Any:
        if not values:
            return metric  # a metric without labels counts on itself
        key = (metric, *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def flush(self) -> None:
        pending, self._pending = self._pending, collections.Counter()
        decisions, self._decisions = self._decisions, collections.Counter()
        for (method, skipped), amount in decisions.items():
            pending[(self.decisions, (method,))] += amount
            for source, reason in skipped:
                pending[(self.skips, (source, reason))] += amount
        for (metric, values), amount in pending.items():
            self.child(metric, *values).inc(amount)

    def observed(self, route: str, status: int, elapsed_s: float, decision: Location | None) -> None:
        """One request: its route and status, its time, and the decision it made if any (its method and the
        sources it skipped, counted as one key and expanded at `flush`); a 307 is a redirect."""
        self._pending[(self.requests, (route, str(status)))] += 1
        self.child(self.latency, route).observe(elapsed_s)
        if decision is not None:
            self._decisions[(decision.method.value, tuple(decision.skipped.items()))] += 1
        if status == 307:
            self._pending[(self.redirects, ())] += 1

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition: this process's registry, or every worker's when they share a directory."""
        self.flush()
        registry = self.registry
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.data)
        return generate_latest(registry), CONTENT_TYPE_LATEST


async def metrics_page(scope: Scope) -> Response:
    """The exposition; behind a bearer token when LOCATOR_METRICS_TOKEN is set."""
    shared: Shared = scope["app"].state.shared
    token = str(shared.settings.metrics_token)
    if token:
        given = Headers(scope=scope).get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, ("Bearer " + token).encode()):
            raise Unauthorized("/metrics needs Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    body, content_type = shared.metrics.exposition()
    return Response(body, media_type=content_type, headers={"cache-control": "no-store"})


ROUTES = [
    Documented(
        "/metrics",
        metrics_page,
        {
            "operationId": "metrics_page",
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": json_answer("Error", "LOCATOR_METRICS_TOKEN is set and the bearer token is missing or wrong."),
            },
        },
    )
]
