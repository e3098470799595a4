"""The service assembled: the data (locator.sources) loaded into a snapshot store, served over HTTP
(locator.web). The one place that knows both."""

from __future__ import annotations

from starlette.applications import Starlette

from locator.core.federation import Federation, SnapshotStore
from locator.resources import load_federation
from locator.settings import Settings
from locator.sources.load_feed import LoadFeed
from locator.sources.prober import Prober
from locator.sources.reload import Reloader
from locator.sources.resolver import Resolver
from locator.web.app import starlette_app
from locator.web.connections import configure
from locator.web.logs import AccessLog
from locator.web.memo import AnswerMemo
from locator.web.metrics import DataCollector, Metrics
from locator.web.state import Shared


def create_app(settings: Settings | None = None, federation: Federation | None = None) -> Starlette:
    """Build the app; loads the data now (so a broken file fails here, with its message) unless given."""
    settings = Settings.from_env() if settings is None else settings
    federation = load_federation(settings) if federation is None else federation
    configure(settings.max_head_bytes, settings.head_timeout_s)  # this process's connections
    store = SnapshotStore(federation)
    prober = Prober(
        store,
        settings.health_path,
        settings.health_timeout_s,
        settings.health_concurrency,
        settings.health_interval_s,
    )
    resolver = Resolver(settings.geo_dns_timeout_s, settings.geo_dns_servers)
    reloader = Reloader(settings, store)
    memo = AnswerMemo(int(settings.memo_mb * 1_000_000))
    metrics = Metrics(DataCollector(lambda: store.current, reloader.errors, lambda: memo.stats))
    access_log = AccessLog(settings.log_format) if settings.access_log else None
    feed = (
        LoadFeed(store, settings.load_url, settings.load_interval_s, int(settings.sync_max_mb * 1_000_000))
        if settings.load_url
        else None
    )
    return starlette_app(Shared(settings, store, reloader, prober, resolver, metrics, memo, access_log, feed))
