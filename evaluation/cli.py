"""`python -m evaluation`: the legacy emulation, the probe, scoring, the 2022 reproduction, synthetic data."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from evaluation.harness import HarnessError, build_harness, far_from_colo_sweep, open_legacy_geoip
from evaluation.legacy import LegacyGeo, legacy_api
from evaluation.probe import probe, site_name
from evaluation.records import RecordError, append_record, read_records, read_sites, resolve_positions
from evaluation.report import markdown_table
from evaluation.reproduce import reproduce_2022, study_harness
from evaluation.score import DEFAULT_TOLERANCE_KM
from evaluation.synthetic import MODEL_GEOIP, SyntheticModel, generate, site_regions
from locator.caches import CacheFileError, CacheSet, load_caches
from locator.geoip import EMBEDDED, GeoIPError
from locator.overrides import OverridesError
from locator.settings import DATA_DIR, Settings, SettingsError

DEFAULT_CACHES = DATA_DIR / "caches.csv"


class CommandError(Exception):
    """Reported in one line, exit status 2."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def legacy_geo(caches: CacheSet) -> LegacyGeo:
    return LegacyGeo(open_legacy_geoip(), caches)


def server_name(name: str, caches: CacheSet) -> str:
    """IP literals as they are; a cache name becomes its host, as the real service was asked."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        cache = caches.by_name(name)
        return cache.host if cache is not None else name
    return name


def cmd_legacy(args: argparse.Namespace) -> int:
    caches = load_caches(args.caches)
    servers = [server_name(name.strip(), caches) for name in args.servers.split(",")]
    answer = legacy_api(f"/repo/v1.0/geo/{args.client_ip}/{','.join(servers)}", {}, legacy_geo(caches))
    sys.stdout.write(answer.body)
    return 0 if answer.status == 200 else 1


def cmd_legacy_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from evaluation.legacy_server import create_legacy_app

    app = create_legacy_app(legacy_geo(load_caches(args.caches)))
    # proxy_headers=False: REMOTE_ADDR is the socket peer, as under Apache; X-Forwarded-For is the
    # emulation's business (it takes the last entry).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning" if args.quiet else "info",
        access_log=not args.quiet,
        proxy_headers=False,
    )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    if not args.locator and not args.legacy:
        raise CommandError("give --locator URL, --legacy URL or both")
    headers = {}
    for header in args.edge_header:
        name, sep, value = header.partition(":")
        if not sep:
            raise CommandError(f"--edge-header {header!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    position = (args.lat, args.lon) if args.lat is not None and args.lon is not None else None
    record = probe(
        args.locator,
        args.legacy,
        load_caches(args.caches),
        site_name(args.site, os.environ),
        args.timeout,
        headers,
        args.client_ip,
        position,
    )
    print(append_record(args.out, record))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    records = read_records(args.records)
    progress(f"read {len(records):,} records from {len(args.records)} file(s)")
    if args.sites is not None:
        records = resolve_positions(records, read_sites(args.sites))
    harness = build_harness(args.caches, seed=args.seed)
    inputs = harness.inputs()
    from evaluation.report import describe_inputs, write_report

    progress(f"deciding with: {describe_inputs(inputs)}")
    started = time.perf_counter()
    try:
        scored, summary = harness.evaluate(records, args.tolerance_km)
    finally:
        harness.close()
    progress(f"scored in {time.perf_counter() - started:.1f} s; writing the report")
    written = write_report(
        scored,
        summary,
        harness.federation.caches,
        harness.names,
        args.out,
        inputs,
        f"Cache selection evaluation: {', '.join(p.name for p in args.records)}",
    )
    for population, entry in summary["populations"].items():
        for name, stats in entry["strategies"].items():
            print(
                f"{population:9} {name:8} {stats['correct']:>7}/{stats['total']:<7} "
                f"{100 * (stats['accuracy'] or 0):5.1f}%  ties {stats['ties']}  no answer {stats['no_answer']}  "
                f"refused {stats['refused']}  mean regret {stats['mean_regret_km']} km  max {stats['max_regret_km']} km"
            )
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    harness = study_harness(os.environ)
    try:
        result = reproduce_2022(harness)
    finally:
        harness.close()
    text = result.markdown()
    print(text)
    print(
        "Legacy and worker verdicts agree with the blog."
        if result.agrees_with_blog
        else "Verdicts DIFFER from the blog: see the table."
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "reproduction.md").write_text("# The 2022 study's named sites\n\n" + text)
        result.table.to_csv(args.out / "reproduction.csv", index=False)
    return 0 if result.agrees_with_blog else 1


def cmd_synthesize(args: argparse.Namespace) -> int:
    records = generate(args.records, SyntheticModel(seed=args.seed))
    if args.out.suffix.lower() == ".csv":
        records.to_csv(args.out, index=False)
    else:
        records.to_json(args.out, orient="records", lines=True)
    print(f"wrote {len(records):,} synthetic records (seed {args.seed}) to {args.out}")
    return 0


def cmd_databases(args: argparse.Namespace) -> int:
    from evaluation.databases import compare

    databases: dict[str, Path] = {}
    for item in args.db or [f"{name}=" for name in EMBEDDED]:
        name, _, path = item.partition("=")
        found = Settings.from_env({"LOCATOR_GEOIP_DB": path or name}).geoip_db
        if found is None:
            raise CommandError(f"--db {item}: no database")
        databases[name] = found
    table = compare(databases, args.caches, os.environ, args.synthetic, progress)
    print(markdown_table(table))
    if args.out is not None:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def cmd_regions(args: argparse.Namespace) -> int:
    distances = [float(part) for part in args.distances.split(",")]
    progress(f"{args.records:,} synthetic jobs at the study's and the international sites (seed {args.seed})")
    records = generate(args.records, SyntheticModel(seed=args.seed, international=True))
    regions = records["site"].map(site_regions()).rename("region")
    os.environ["LOCATOR_GEOIP_DB"] = MODEL_GEOIP  # the database the model's addresses were drawn from
    progress(f"locator GeoIP: {MODEL_GEOIP} (the model's); cross-check distances {args.distances} km")
    sweep = far_from_colo_sweep(records, args.caches, [*distances, None], args.tolerance_km, regions)
    table = sweep.pivot(index="region", columns="far_from_colo_km", values="accuracy")
    table = (100 * table[[*distances, "settings"]]).astype(float).round(1)
    settings = Settings.from_env()
    table.columns = [
        *("off" if d == 0 else f"{d:g} km" for d in distances),
        f"{settings.far_from_colo_km:g} / {settings.far_from_colo_elsewhere_km:g} km",
    ]
    jobs = sweep.groupby("region")["total"].first()
    table.insert(0, "jobs", jobs)
    total = sweep.groupby("far_from_colo_km", sort=False)[["correct", "total"]].sum()
    overall = (100 * total["correct"] / total["total"]).round(1).tolist()
    table.loc["all"] = [int(jobs.sum()), *overall]
    print(
        "locator correct (%) by region: one cross-check distance for every colo, then the settings' rule "
        "(LOCATOR_FAR_FROM_COLO_KM for colos in North America and Europe / LOCATOR_FAR_FROM_COLO_ELSEWHERE_KM)"
    )
    print(markdown_table(table.reset_index()))
    if args.out is not None:
        sweep.to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    legacy = commands.add_parser("legacy", help="the legacy service's emulated answer, as on the wire")
    legacy.add_argument("client_ip", help="the caller: an address (or a name, resolved like a server)")
    legacy.add_argument("servers", help="comma-separated IP literals or cache names from --caches")
    legacy.add_argument("--caches", type=Path, default=DEFAULT_CACHES)
    legacy.set_defaults(handler=cmd_legacy)

    serve = commands.add_parser("legacy-serve", help="serve the legacy emulation over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--caches", type=Path, default=DEFAULT_CACHES)
    serve.add_argument("--quiet", action="store_true", help="no access log")
    serve.set_defaults(handler=cmd_legacy_serve)

    probe_cmd = commands.add_parser("probe", help="what a test job runs: ask the services, append one record")
    probe_cmd.add_argument("--locator", help="base URL of the locator")
    probe_cmd.add_argument("--legacy", help="base URL of the legacy GeoIP service (…/api/v1.0/geo is appended)")
    probe_cmd.add_argument("--site", help="site name (default: $GLIDEIN_ResourceName, $GLIDEIN_Site, $OSG_SITE_NAME)")
    probe_cmd.add_argument("--lat", type=float, help="the site's true latitude, if known")
    probe_cmd.add_argument("--lon", type=float, help="the site's true longitude, if known")
    probe_cmd.add_argument("--caches", type=Path, default=DEFAULT_CACHES, help="the server list sent to --legacy")
    probe_cmd.add_argument("--out", type=Path, help="append the record to this JSON-lines file")
    probe_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per service (default 10)")
    probe_cmd.add_argument(
        "--edge-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="testing: a header a CDN edge would add (records are marked synthetic)",
    )
    probe_cmd.add_argument("--client-ip", help="testing: X-Forwarded-For for both services (marked synthetic)")
    probe_cmd.set_defaults(handler=cmd_probe)

    score = commands.add_parser("score", help="score records into DIR/sites.csv, summary.json, report.md, PNGs")
    score.add_argument("records", nargs="+", type=Path, help="CSV or JSON-lines files")
    score.add_argument(
        "--caches", type=Path, default=DEFAULT_CACHES, help="the caches the strategies rank (default: the shipped ones)"
    )
    score.add_argument("--out", type=Path, required=True, help="output directory")
    score.add_argument("--sites", type=Path, help="sites file to fill in missing site positions by name")
    score.add_argument(
        "--tolerance-km",
        type=float,
        default=DEFAULT_TOLERANCE_KM,
        help=f"a pick this close to the nearest is a tie, counted correct (default {DEFAULT_TOLERANCE_KM:g})",
    )
    score.add_argument("--seed", type=int, default=2022, help="seed of the worker's random shuffle")
    score.set_defaults(handler=cmd_score)

    reproduce = commands.add_parser("reproduce-2022", help="the 2022 study's verdicts for its named sites")
    reproduce.add_argument("--out", type=Path, help="also write reproduction.md and .csv here")
    reproduce.set_defaults(handler=cmd_reproduce)

    databases = commands.add_parser(
        "databases", help="GeoIP databases compared on the campus and synthetic addresses (evaluation/databases.py)"
    )
    databases.add_argument(
        "--db",
        action="append",
        metavar="NAME[=PATH]",
        help="a database: an embedded name (dbip-2023, geolite2-2018) or NAME=PATH; repeat (default: the embedded)",
    )
    databases.add_argument("--caches", type=Path, default=DEFAULT_CACHES)
    databases.add_argument("--synthetic", type=int, default=20_000, help="synthetic jobs (default 20,000)")
    databases.add_argument("--out", type=Path, help="also write the table as CSV")
    databases.set_defaults(handler=cmd_databases)

    regions = commands.add_parser(
        "regions", help="the cross-check distance per region, on the international synthetic model"
    )
    regions.add_argument("--records", type=int, default=40_000)
    regions.add_argument("--seed", type=int, default=SyntheticModel.seed)
    regions.add_argument(
        "--distances", default="0,1000,1500,2000,2500,3000,4000,5000,7000", help="km; 0 = no cross-check"
    )
    regions.add_argument("--caches", type=Path, default=DEFAULT_CACHES)
    regions.add_argument(
        "--tolerance-km",
        type=float,
        default=50.0,
        help="a pick this close to the nearest counts as right (default 50: the locator spreads jobs over "
        "co-located caches within LOCATOR_SPREAD_KM by design; the question here is the cross-check)",
    )
    regions.add_argument("--out", type=Path, help="also write the whole sweep as CSV")
    regions.set_defaults(handler=cmd_regions)

    synth = commands.add_parser("synthesize", help="synthetic records from the seeded model (evaluation/synthetic.py)")
    synth.add_argument("--records", type=int, default=10_000)
    synth.add_argument("--seed", type=int, default=SyntheticModel.seed)
    synth.add_argument("--out", type=Path, required=True, help=".csv or .jsonl")
    synth.set_defaults(handler=cmd_synthesize)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except (
        CommandError,
        RecordError,
        HarnessError,
        CacheFileError,
        OverridesError,
        GeoIPError,
        SettingsError,
    ) as exc:
        print(f"evaluation: error: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)
