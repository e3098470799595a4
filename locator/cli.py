"""The `locator` command: serve, nearest (the same decision from a shell), airports and kv maintenance."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import shlex
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import click

from locator import __version__
from locator.commandline import CommandError, Commands
from locator.core.decide import decide
from locator.core.edge import EdgeContext
from locator.core.federation import FederationError
from locator.core.namespaces import clean_request_path
from locator.resources import check_files, close, load_federation
from locator.settings import DECLARED, PREFIX, Settings, SettingsError, reference_table, unknown_variables
from locator.settings import configmap as settings_configmap
from locator.sources.airports import NAMESPACE, AirportDataError, build_store
from locator.sources.caches_file import CacheFileError
from locator.sources.geoipupdate import UpdateError, update
from locator.sources.kv import KVError, KVNamespace
from locator.sources.namespaces_file import NamespaceFileError
from locator.sources.overrides_file import OverridesError
from locator.sources.sync import Guards, SyncError, sync_director, sync_topology
from locator.web.bodies import nearest_json, nearest_text
from locator.web.connections import PROTOCOLS, READ_BYTES
from locator.web.errors import LocatorError
from locator.web.logs import logging_config
from locator.web.metrics import MULTIPROCESS_ENV
from locator.web.query import parse_query

log = logging.getLogger("locator")

ERRORS = (
    SettingsError,
    CacheFileError,
    NamespaceFileError,
    OverridesError,
    FederationError,
    AirportDataError,
    KVError,
    SyncError,
    UpdateError,
)


@click.group(
    cls=Commands,
    errors=ERRORS,
    lazy={"evaluate": "evaluation.cli:cli"},  # the evaluation's commands, also `python -m evaluation`
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="locator")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """OSDF cache locator (settings: LOCATOR_* variables; `locator settings` prints them)."""
    settings = Settings.from_env()
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    ctx.obj = settings


pass_settings = click.make_pass_decorator(Settings)


@cli.command()
@click.option("--host", help="listen address (default LOCATOR_HOST, 127.0.0.1)")
@click.option("--port", type=int, help="listen port (default LOCATOR_PORT, 8000)")
@click.option("--workers", type=int, help="uvicorn worker processes (default LOCATOR_WORKERS, 1)")
@click.option("--ssl-certfile", type=click.Path(path_type=Path), help="serve HTTPS (default LOCATOR_SSL_CERTFILE)")
@click.option("--ssl-keyfile", type=click.Path(path_type=Path), help="its private key (default LOCATOR_SSL_KEYFILE)")
@pass_settings
def serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    workers: int | None,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
) -> None:
    """Run the HTTP service (HTTPS with a certificate and its key)."""
    try:
        for name in unknown_variables(os.environ):
            log.warning("ignoring unknown setting %s (typo?)", name)
        certfile, keyfile = ssl_certfile or settings.ssl_certfile, ssl_keyfile or settings.ssl_keyfile
        check_tls(certfile, keyfile)
        host, port = host or settings.host, port or settings.port
        check_port(host, port)
        check_files(settings)  # a broken data file stops start-up with its message before uvicorn starts
        workers = workers or settings.workers
        if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
            # Each worker counts into this directory, so that /metrics from any worker covers them all.
            os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="locator-metrics-")
        scheme = "https" if certfile else "http"
        log.info("starting on %s://%s:%d with %d worker(s); Ctrl-C stops it", scheme, host, port, workers)
        run_uvicorn(settings, host, port, workers, certfile, keyfile)  # Ctrl-C there: uvicorn stops cleanly
    except KeyboardInterrupt:  # Ctrl-C while the data files load or the airports store is built
        log.info("stopped (Ctrl-C) before the server started")


def run_uvicorn(
    settings: Settings, host: str, port: int, workers: int, certfile: Path | None, keyfile: Path | None
) -> None:
    import uvicorn

    uvicorn.run(
        "locator.service:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=PROTOCOLS[settings.http],  # uvicorn's parsers with bounded request heads (locator.web.connections)
        h11_max_incomplete_event_size=settings.max_head_bytes + READ_BYTES,  # ours counts first: one 431 for both
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,  # the app logs each request itself, with its decision
        # The app decides whom to believe (LOCATOR_TRUSTED_PROXIES) from the real socket peer; uvicorn's
        # own X-Forwarded-For rewriting would replace that peer before the app could judge it.
        proxy_headers=False,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


def check_port(host: str, port: int) -> None:
    """The address free to listen on, said in one line before anything starts (uvicorn would say so only after
    the application's start-up, in a log line, and exit 3)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server there? --port or LOCATOR_PORT)"
            ) from None


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """A certificate and its key, both or neither, and loadable: one line before uvicorn starts, not its
    traceback."""
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        raise CommandError("HTTPS needs both a certificate and its key (--ssl-certfile and --ssl-keyfile)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"cannot serve HTTPS with {certfile} and {keyfile}: {exc}") from None


@cli.command("nearest")
@click.option("--ip", help="locate this client address")
@click.option("--lat", help="declared latitude (with --lon)")
@click.option("--lon", help="declared longitude (with --lat)")
@click.option("--colo", help="IATA code of the receiving data centre")
@click.option("-n", "--n", "n", type=int, help="how many caches (default: all)")
@click.option("--path", help="the object's path: only caches serving its namespace (default: public data)")
@click.option("--json", "as_json", is_flag=True, help="print the /nearest JSON instead")
@pass_settings
def nearest_command(settings: Settings, /, as_json: bool, **given: str | int | None) -> None:
    """Print the nearest caches, one endpoint per line (the first is the nearest)."""
    items = [(key, str(value)) for key, value in given.items() if value is not None]
    try:
        query = parse_query(items)
    except LocatorError as exc:
        raise CommandError(exc.detail) from None
    federation = load_federation(settings)
    try:
        namespace = export = None
        if query.path is not None:
            cleaned = clean_request_path(query.path)
            namespace, export = federation.namespaces.resolve(cleaned), federation.exporting(cleaned)
        context = EdgeContext().with_query(query.ip, query.colo)
        decision = decide(federation, context, query.declared, namespace, query.n, time.time(), export)
        ranking = decision.ranking
    finally:
        close(federation)
    if as_json:
        print(json.dumps(json.loads(nearest_json(decision)), indent=2))
        return
    where = decision.location
    position = (
        "no position"
        if where.coordinate is None
        else (f"{where.coordinate.latitude:.4f},{where.coordinate.longitude:.4f}")
    )
    place = ", ".join(part for part in (where.city, where.country) if part)
    served = "" if namespace is None else f" namespace={namespace.path or '-'}{'' if namespace.listed else ' (public)'}"
    print(
        f"# method={where.method} client={where.client_ip or '-'} at {position}"
        f"{f' ({place})' if place else ''} colo={where.colo or '-'}{served}",
        file=sys.stderr,
    )
    if not len(ranking):
        raise CommandError(
            "no cache in service may serve this" + ("" if query.path is None else f" path ({query.path})")
        )
    sys.stdout.buffer.write(nearest_text(decision))


@cli.command()
@click.argument("source", type=click.Choice(["director", "topology"]))
@click.argument("url")
@click.option(
    "--caches-out", type=click.Path(path_type=Path), help="caches file to write (default LOCATOR_CACHES_FILE)"
)
@click.option(
    "--namespaces-out",
    type=click.Path(path_type=Path),
    help="namespaces file to write (default LOCATOR_NAMESPACES_FILE)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="seconds for the whole sync, every document read to its last byte",
)
@click.option("--allow-shrink", is_flag=True, help="write a result with far fewer caches (LOCATOR_RELOAD_MAX_SHRINK)")
@click.option("--allow-no-public", is_flag=True, help="write a result that leaves no cache open to public data")
@pass_settings
def sync(
    settings: Settings,
    source: str,
    url: str,
    caches_out: Path | None,
    namespaces_out: Path | None,
    timeout: float,
    allow_shrink: bool,
    allow_no_public: bool,
) -> None:
    """Write the caches and namespaces files from a Pelican director or OSG Topology (atomically).

    URL: its base, e.g. https://osdf-director.osg-htc.org or https://topology.opensciencegrid.org
    """
    caches_out = caches_out or settings.caches_file
    namespaces_out = namespaces_out or settings.namespaces_file
    if namespaces_out is None:
        raise CommandError("no namespaces file to write: set LOCATOR_NAMESPACES_FILE or --namespaces-out")
    guards = Guards(
        max_bytes=int(settings.sync_max_mb * 1_000_000),
        timeout_s=timeout,
        max_shrink=settings.reload_max_shrink,
        allow_private=settings.allow_private_endpoints,
        allow_shrink=allow_shrink,
        allow_no_public=allow_no_public,
    )
    run = sync_director if source == "director" else sync_topology
    synced = run(url, caches_out, namespaces_out, guards)
    for note in synced.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"synced {synced.caches} caches{f', {synced.origins} origins' if synced.origins else ''} and "
        f"{synced.namespaces} namespaces from the {source} at {url} "
        f"into {caches_out} and {namespaces_out}"
    )


@cli.group(cls=Commands)
def geoip() -> None:
    """The local GeoIP database."""


@geoip.command("update")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="seconds for the download")
@pass_settings
def geoip_update(settings: Settings, timeout: float) -> None:
    """Download a City database (LOCATOR_GEOIP_UPDATE_URL or MaxMind), verify it, rename it over LOCATOR_GEOIP_DB."""
    done = update(settings, timeout)
    new, old = done.new, done.old
    was = "none" if old is None else f"{old.database_type} built {old.built}"
    if done.replaced:
        print(f"updated {done.path}: {new.database_type} built {new.built} (was {was}); a running service reloads it")
    else:
        print(f"{done.path} is current: {new.database_type} built {new.built}")


@cli.group(cls=Commands)
def airports() -> None:
    """The airport key-value table."""


@airports.command("load")
@pass_settings
def airports_load(settings: Settings) -> None:
    """(Re)build the key-value store from the airports CSV."""
    count = build_store(settings.airports_csv, settings.airports_store)
    print(f"loaded {count} airport codes from {settings.airports_csv} into {settings.airports_store}")


@cli.group(cls=Commands)
@click.option("--store", type=click.Path(path_type=Path), help="store file (default LOCATOR_AIRPORTS_STORE)")
@click.option("--namespace", default=NAMESPACE, show_default=True, help="namespace")
@click.pass_context
def kv(ctx: click.Context, store: Path | None, namespace: str) -> None:
    """Workers-KV-style access to the key-value store."""
    settings = ctx.find_object(Settings)
    assert settings is not None  # the root command put it there
    ctx.obj = (store or settings.airports_store, namespace)


pass_store = click.make_pass_decorator(tuple)


@kv.command("get")
@click.argument("key")
@pass_store
def kv_get(where: tuple[Path, str], key: str) -> None:
    """Print a value."""
    with KVNamespace(*where, readonly=True) as store:
        value = store.get(key)
    if value is None:
        raise CommandError(f"key {key!r} not found")
    print(value)


@kv.command("put")
@click.argument("key")
@click.argument("value")
@pass_store
def kv_put(where: tuple[Path, str], key: str, value: str) -> None:
    """Store a value."""
    with KVNamespace(*where) as store:
        store.put(key, value)


@kv.command("delete")
@click.argument("key")
@pass_store
def kv_delete(where: tuple[Path, str], key: str) -> None:
    """Remove a key."""
    with KVNamespace(*where) as store:
        if not store.delete(key):
            raise CommandError(f"key {key!r} not found")


@kv.command("list")
@click.option("--prefix", default="")
@click.option("--limit", type=int, default=1000, show_default=True)
@click.option("--cursor")
@pass_store
def kv_list(where: tuple[Path, str], prefix: str, limit: int, cursor: str | None) -> None:
    """List keys by prefix, a page at a time."""
    with KVNamespace(*where, readonly=True) as store:
        page = store.list(prefix, limit, cursor)
    listing = {"keys": [{"name": key} for key in page.keys], "list_complete": page.list_complete, "cursor": page.cursor}
    print(json.dumps(listing, indent=2))


@cli.command("settings")
@click.option("--table", is_flag=True, help="print the reference table of every setting instead (Markdown)")
@click.option(
    "--configmap",
    metavar="NAME",
    help="print a Kubernetes ConfigMap NAME of the LOCATOR_* variables set here, every setting's help beside them",
)
@pass_settings
def show_settings(settings: Settings, table: bool, configmap: str | None) -> None:
    """Print the effective settings: lines one can paste back into a shell or an env file."""
    if table:
        sys.stdout.write(reference_table())
        return
    if configmap:
        given = {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}
        sys.stdout.write(settings_configmap(configmap, given))
        return
    values = settings.to_env()
    for item in DECLARED:
        if item.env in values:
            text = values[item.env]
            print(f"{item.env}={shlex.quote(text) if text else ''}")
        elif str(getattr(settings, item.field)):
            print(f"# {item.env} is set (not shown)")
        else:
            print(f"{item.env}=")


def main() -> None:
    cli(prog_name="locator")
