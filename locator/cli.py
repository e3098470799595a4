"""The `locator` command: serve, nearest (the same decision from a shell), airports and kv maintenance."""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from locator import __version__
from locator.airports import NAMESPACE, AirportDataError, build_store
from locator.bodies import encode, nearest, nearest_text, ranked_caches
from locator.caches import CacheFileError
from locator.connections import PROTOCOLS, READ_BYTES
from locator.decide import decide
from locator.edge import EdgeContext
from locator.errors import LocatorError
from locator.federation import FederationError
from locator.geoipupdate import UpdateError, update
from locator.kv import KVError, KVNamespace
from locator.logs import logging_config
from locator.metrics import MULTIPROCESS_ENV
from locator.namespaces import NamespaceFileError
from locator.overrides import OverridesError
from locator.query import parse_query
from locator.resources import check_files, close, load_federation
from locator.settings import SETTINGS, Settings, SettingsError, unknown_variables
from locator.sync import SyncError, sync_director, sync_topology

log = logging.getLogger("locator")


class CommandError(Exception):
    """A failure to report in one line, exit status 2."""


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    for name in unknown_variables(os.environ):
        log.warning("ignoring unknown setting %s (typo?)", name)
    check_files(settings)  # a broken data file stops start-up with its message before uvicorn starts
    workers = args.workers or settings.workers
    if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        # Each worker counts into this directory, so that /metrics from any worker covers them all.
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="locator-metrics-")
    uvicorn.run(
        "locator.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        http=PROTOCOLS[settings.http],  # uvicorn's parsers with bounded request heads (locator.connections)
        h11_max_incomplete_event_size=settings.max_head_bytes + READ_BYTES,  # ours counts first: one 431 for both
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,  # the app logs each request itself, with its decision
        # The app decides whom to believe (LOCATOR_TRUSTED_PROXIES) from the real socket peer; uvicorn's
        # own X-Forwarded-For rewriting would replace that peer before the app could judge it.
        proxy_headers=False,
    )
    return 0


def cmd_nearest(args: argparse.Namespace, settings: Settings) -> int:
    items = [
        (key, str(value))
        for key, value in (
            ("lat", args.lat),
            ("lon", args.lon),
            ("ip", args.ip),
            ("colo", args.colo),
            ("n", args.n),
            ("path", args.path),
        )
        if value is not None
    ]
    try:
        query = parse_query(items)
    except LocatorError as exc:
        raise CommandError(exc.detail) from None
    federation = load_federation(settings)
    try:
        namespace = None if query.path is None else federation.namespaces.resolve(query.path)
        context = EdgeContext().with_query(query.ip, query.colo)
        decision = decide(federation, context, query.declared, namespace, query.n, time.time())
        ranking = decision.ranking
    finally:
        close(federation)
    if args.json:
        body = nearest(decision.location, decision.namespace, msgspec.Raw(encode(ranked_caches(decision))))
        print(json.dumps(json.loads(body), indent=2))
        return 0
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
    sys.stdout.write(nearest_text(decision))
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    caches_out: Path = args.caches_out or settings.caches_file
    namespaces_out: Path | None = args.namespaces_out or settings.namespaces_file
    if namespaces_out is None:
        raise CommandError("no namespaces file to write: set LOCATOR_NAMESPACES_FILE or --namespaces-out")
    run = sync_director if args.source == "director" else sync_topology
    synced = run(args.url, caches_out, namespaces_out, args.timeout)
    for note in synced.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"synced {synced.caches} caches and {synced.namespaces} namespaces from the {args.source} at {args.url} "
        f"into {caches_out} and {namespaces_out}"
    )
    return 0


def cmd_geoip_update(args: argparse.Namespace, settings: Settings) -> int:
    done = update(settings, args.timeout)
    new, old = done.new, done.old
    was = "none" if old is None else f"{old.database_type} built {old.built}"
    if done.replaced:
        print(f"updated {done.path}: {new.database_type} built {new.built} (was {was}); a running service reloads it")
    else:
        print(f"{done.path} is current: {new.database_type} built {new.built}")
    return 0


def cmd_airports_load(args: argparse.Namespace, settings: Settings) -> int:
    count = build_store(settings.airports_csv, settings.airports_store)
    print(f"loaded {count} airport codes from {settings.airports_csv} into {settings.airports_store}")
    return 0


def cmd_kv(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.store or settings.airports_store
    with KVNamespace(path, args.namespace, readonly=args.kv_command in ("get", "list")) as store:
        if args.kv_command == "get":
            value = store.get(args.key)
            if value is None:
                raise CommandError(f"key {args.key!r} not found")
            print(value)
        elif args.kv_command == "put":
            store.put(args.key, args.value)
        elif args.kv_command == "delete":
            if not store.delete(args.key):
                raise CommandError(f"key {args.key!r} not found")
        else:
            page = store.list(args.prefix, args.limit, args.cursor)
            print(
                json.dumps(
                    {
                        "keys": [{"name": key} for key in page.keys],
                        "list_complete": page.list_complete,
                        "cursor": page.cursor,
                    },
                    indent=2,
                )
            )
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Lines one can paste back into a shell or an env file (values quoted where a shell needs it)."""
    values = settings.to_env()
    for setting in SETTINGS:
        if setting.env in values:
            text = values[setting.env]
            print(f"{setting.env}={shlex.quote(text) if text else ''}")
        elif getattr(settings, setting.field):
            print(f"# {setting.env} is set (not shown)")
        else:
            print(f"{setting.env}=")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="locator", description="OSDF cache locator.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (settings: LOCATOR_* variables)")
    serve.add_argument("--host", help="listen address (default LOCATOR_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default LOCATOR_PORT, 8000)")
    serve.add_argument("--workers", type=int, help="uvicorn worker processes (default LOCATOR_WORKERS, 1)")
    serve.set_defaults(handler=cmd_serve)

    nearest = commands.add_parser(
        "nearest", help="print the nearest caches, one endpoint per line (the first is the nearest)"
    )
    nearest.add_argument("--ip", help="locate this client address")
    nearest.add_argument("--lat", help="declared latitude (with --lon)")
    nearest.add_argument("--lon", help="declared longitude (with --lat)")
    nearest.add_argument("--colo", help="IATA code of the receiving data centre")
    nearest.add_argument("-n", "--n", type=int, help="how many caches (default: all)")
    nearest.add_argument("--path", help="the object's path: only caches serving its namespace (default: public data)")
    nearest.add_argument("--json", action="store_true", help="print the /nearest JSON instead")
    nearest.set_defaults(handler=cmd_nearest)

    sync = commands.add_parser(
        "sync", help="write the caches and namespaces files from a Pelican director or OSG Topology (atomically)"
    )
    sync.add_argument("source", choices=["director", "topology"], help="where the federation is read from")
    sync.add_argument(
        "url", help="base URL, e.g. https://osdf-director.osg-htc.org or https://topology.opensciencegrid.org"
    )
    sync.add_argument("--caches-out", type=Path, help="caches file to write (default LOCATOR_CACHES_FILE)")
    sync.add_argument("--namespaces-out", type=Path, help="namespaces file to write (default LOCATOR_NAMESPACES_FILE)")
    sync.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    sync.set_defaults(handler=cmd_sync)

    geoip = commands.add_parser("geoip", help="the local GeoIP database")
    geoip_commands = geoip.add_subparsers(dest="geoip_command", required=True)
    geoip_update = geoip_commands.add_parser(
        "update",
        help="download a City database (LOCATOR_GEOIP_UPDATE_URL or MaxMind), verify it, rename it over "
        "LOCATOR_GEOIP_DB",
    )
    geoip_update.add_argument("--timeout", type=float, default=300.0, help="seconds for the download (default 300)")
    geoip_update.set_defaults(handler=cmd_geoip_update)

    airports = commands.add_parser("airports", help="the airport key-value table")
    airports_commands = airports.add_subparsers(dest="airports_command", required=True)
    load = airports_commands.add_parser("load", help="(re)build the key-value store from the airports CSV")
    load.set_defaults(handler=cmd_airports_load)

    kv = commands.add_parser("kv", help="Workers-KV-style access to the key-value store")
    kv.add_argument("--store", type=Path, help="store file (default LOCATOR_AIRPORTS_STORE)")
    kv.add_argument("--namespace", default=NAMESPACE, help=f"namespace (default {NAMESPACE})")
    kv_commands = kv.add_subparsers(dest="kv_command", required=True)
    kv_get = kv_commands.add_parser("get", help="print a value")
    kv_get.add_argument("key")
    kv_put = kv_commands.add_parser("put", help="store a value")
    kv_put.add_argument("key")
    kv_put.add_argument("value")
    kv_delete = kv_commands.add_parser("delete", help="remove a key")
    kv_delete.add_argument("key")
    kv_list = kv_commands.add_parser("list", help="list keys by prefix, a page at a time")
    kv_list.add_argument("--prefix", default="")
    kv_list.add_argument("--limit", type=int, default=1000)
    kv_list.add_argument("--cursor")
    kv.set_defaults(handler=cmd_kv)

    show = commands.add_parser("settings", help="print the effective settings")
    show.set_defaults(handler=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
        status = args.handler(args, settings)
    except (
        CommandError,
        SettingsError,
        CacheFileError,
        NamespaceFileError,
        OverridesError,
        FederationError,
        AirportDataError,
        KVError,
        SyncError,
        UpdateError,
    ) as exc:
        print(f"locator: error: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)
