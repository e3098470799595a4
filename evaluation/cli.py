"""`python -m evaluation`: the legacy emulation, the probe, scoring, the 2022 reproduction, synthetic data."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import sys
import time
from pathlib import Path

import click

from evaluation import loadsim as simulation
from evaluation.defaults import LEGACY_GEOIP, MODEL_GEOIP, SYNTHETIC_SEED, TOLERANCE_KM
from evaluation.errors import EvaluationError
from evaluation.legacy import LegacyGeo, legacy_api, open_legacy_geoip
from evaluation.probe import append_record, probe, site_name
from locator.commandline import CommandError, Commands
from locator.core.caches import CacheSet
from locator.core.federation import FederationError
from locator.core.geo import Coordinate, InvalidCoordinate
from locator.embedded import EMBEDDED
from locator.settings import DATA_DIR, Settings, SettingsError
from locator.sources.caches_file import CacheFileError, load_caches
from locator.sources.geoip import GeoIPError
from locator.sources.namespaces_file import NamespaceFileError, load_namespaces
from locator.sources.overrides_file import OverridesError

# The probe (what a job runs) and the legacy emulation need neither pandas nor matplotlib: the commands that do
# import the evaluation's modules when they run, so that those start in a fraction of a second.
DEFAULT_CACHES = DATA_DIR / "caches.csv"
ERRORS = (
    EvaluationError,
    CacheFileError,
    NamespaceFileError,
    FederationError,
    OverridesError,
    GeoIPError,
    SettingsError,
)
FILE = click.Path(path_type=Path)
CACHES = click.option(
    "--caches", type=FILE, default=DEFAULT_CACHES, show_default="the shipped caches", help="the caches to rank"
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def legacy_geo(caches: CacheSet) -> LegacyGeo:
    return LegacyGeo(open_legacy_geoip(), caches)


def server_name(name: str, caches: CacheSet) -> str:
    """IP literals as they are; a cache name becomes its host, as the real service was asked."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        cache = caches.named(name)
        return cache.host if cache is not None else name
    return name


@click.group(cls=Commands, errors=ERRORS, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The evaluation: the legacy emulation, the probe, scoring, the 2022 reproduction, synthetic data, the
    GeoIP databases and the cross-check per region. Also `locator evaluate ...`."""


@cli.command()
@click.argument("client_ip")
@click.argument("servers")
@CACHES
def legacy(client_ip: str, servers: str, caches: Path) -> None:
    """The legacy service's emulated answer, as on the wire: CLIENT_IP is the caller (an address, or a name
    resolved like a server), SERVERS comma-separated IP literals or cache names from --caches."""
    loaded = load_caches(caches)
    names = [server_name(name.strip(), loaded) for name in servers.split(",")]
    answer = legacy_api(f"/repo/v1.0/geo/{client_ip}/{','.join(names)}", {}, legacy_geo(loaded))
    sys.stdout.write(answer.body)
    if answer.status != 200:
        raise click.exceptions.Exit(1)


@cli.command("legacy-serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
@CACHES
@click.option("--quiet", is_flag=True, help="no access log")
def legacy_serve(host: str, port: int, caches: Path, quiet: bool) -> None:
    """Serve the legacy emulation over HTTP, at the real service's URLs."""
    import uvicorn

    from evaluation.legacy_server import create_legacy_app

    app = create_legacy_app(legacy_geo(load_caches(caches)))
    # proxy_headers=False: REMOTE_ADDR is the socket peer, as under Apache; X-Forwarded-For is the
    # emulation's business (it takes the last entry).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        proxy_headers=False,
    )


@cli.command("probe")
@click.option("--locator", help="base URL of the locator")
@click.option("--legacy", "legacy_url", help="base URL of the legacy GeoIP service (…/api/v1.0/geo is appended)")
@click.option("--site", help="site name (default: $GLIDEIN_ResourceName, $GLIDEIN_Site, $OSG_SITE_NAME)")
@click.option("--lat", type=float, help="the site's true latitude, if known")
@click.option("--lon", type=float, help="the site's true longitude, if known")
@click.option("--caches", type=FILE, default=DEFAULT_CACHES, help="the server list sent to --legacy")
@click.option("--out", type=FILE, help="append the record to this JSON-lines file")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="seconds per service")
@click.option(
    "--edge-header",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="testing: a header a CDN edge would add (records are marked synthetic)",
)
@click.option("--client-ip", help="testing: X-Forwarded-For for both services (marked synthetic)")
def probe_command(
    locator: str | None,
    legacy_url: str | None,
    site: str | None,
    lat: float | None,
    lon: float | None,
    caches: Path,
    out: Path | None,
    timeout: float,
    edge_header: tuple[str, ...],
    client_ip: str | None,
) -> None:
    """What a test job runs: ask the services, append one record."""
    if not locator and not legacy_url:
        raise CommandError("give --locator URL, --legacy URL or both")
    headers = {}
    for header in edge_header:
        name, sep, value = header.partition(":")
        if not sep:
            raise CommandError(f"--edge-header {header!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    try:
        position = Coordinate(lat, lon) if lat is not None and lon is not None else None
    except InvalidCoordinate as exc:
        raise CommandError(f"--lat/--lon: {exc}") from None
    named = site_name(site, os.environ)
    if not named:
        click.echo(
            "warning: no site name (--site, or $GLIDEIN_ResourceName, $GLIDEIN_Site, $OSG_SITE_NAME): the record "
            "cannot be scored per site",
            err=True,
        )
    record = probe(locator, legacy_url, load_caches(caches), named, timeout, headers, client_ip, position)
    print(append_record(out, record))


@cli.command()
@click.argument("records", nargs=-1, required=True, type=FILE)
@CACHES
@click.option("--out", type=FILE, required=True, help="output directory")
@click.option("--sites", type=FILE, help="sites file to fill in missing site positions by name")
@click.option(
    "--tolerance-km",
    type=float,
    default=TOLERANCE_KM,
    show_default=True,
    help="a pick this close to the nearest is a tie, counted correct",
)
@click.option("--seed", type=int, default=2022, show_default=True, help="seed of the worker's random shuffle")
def score(
    records: tuple[Path, ...], caches: Path, out: Path, sites: Path | None, tolerance_km: float, seed: int
) -> None:
    """Score RECORDS (CSV or JSON-lines files) into OUT/sites.csv, summary.json, report.md and PNG figures."""
    from evaluation.harness import build_harness
    from evaluation.records import read_records, read_sites, resolve_positions
    from evaluation.report import describe_inputs, write_report

    read = read_records(list(records))
    progress(f"read {len(read):,} records from {len(records)} file(s)")
    if sites is not None:
        read = resolve_positions(read, read_sites(sites))
    harness = build_harness(caches, seed=seed)
    inputs = harness.inputs()
    progress(f"deciding with: {describe_inputs(inputs)}")
    started = time.perf_counter()
    try:
        scored, summary = harness.evaluate(read, tolerance_km)
    finally:
        harness.close()
    progress(f"scored in {time.perf_counter() - started:.1f} s; writing the report")
    written = write_report(
        scored,
        summary,
        harness.federation.caches,
        harness.names,
        out,
        inputs,
        f"Cache selection evaluation: {', '.join(p.name for p in records)}",
    )
    for population, entry in summary["populations"].items():
        for name, stats in entry["strategies"].items():
            regret = (
                "regret: no scorable record"
                if stats["mean_regret_km"] is None
                else f"mean regret {stats['mean_regret_km']} km  max {stats['max_regret_km']} km"
            )
            print(
                f"{population:9} {name:8} {stats['correct']:>7}/{stats['total']:<7} "
                f"{100 * (stats['accuracy'] or 0):5.1f}%  ties {stats['ties']}  no answer {stats['no_answer']}  "
                f"refused {stats['refused']}  {regret}"
            )
    print(f"wrote {', '.join(str(p) for p in written)}")


@cli.command("reproduce-2022")
@click.option("--out", type=FILE, help="also write reproduction.md and .csv here")
def reproduce(out: Path | None) -> None:
    """The 2022 study's verdicts for its named sites (exit 1 when they differ from the blog's)."""
    from evaluation.reproduce import reproduce_2022, study_harness

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
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "reproduction.md").write_text("# The 2022 study's named sites\n\n" + text)
        result.table.to_csv(out / "reproduction.csv", index=False)
    if not result.agrees_with_blog:
        raise click.exceptions.Exit(1)


@cli.command("geo-api")
@click.option(
    "--records",
    "record_files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="records with client addresses (default: the 2022 OSPool sites, each from its campus address)",
)
@click.option("--caches", type=FILE, default=DEFAULT_CACHES, show_default="the shipped caches", help="for --records")
@click.option("--all-sites", is_flag=True, help="print every site, not only those whose orders differ")
@click.option("--out", type=FILE, help="also write geo_api.csv here")
def geo_api(record_files: tuple[Path, ...], caches: Path, all_sites: bool, out: Path | None) -> None:
    """The CVMFS geo API request stashcp sends, per site, to the legacy service and to the locator.

    Without --records: the 2022 OSPool sites from their campus addresses, through the nearest Cloudflare colo,
    with the legacy service's database (GeoLite2 2018) on both sides, so that only the rules differ."""
    from evaluation.geoapi import campus_requests, compare, summary
    from evaluation.harness import build_harness
    from evaluation.records import read_records
    from evaluation.report import markdown_table

    if record_files:
        records = read_records(list(record_files))
        harness = build_harness(caches)
    else:
        records = campus_requests()
        harness = build_harness(caches, {**os.environ, "LOCATOR_GEOIP_DB": LEGACY_GEOIP})
    try:
        table = compare(harness, records)
    finally:
        harness.close()
    shown = table if all_sites else table[~table["same_order"]]
    columns = ["site", "client_ip", "colo", "nearest", "legacy_order", "legacy_off_km"]
    columns += ["locator_order", "locator_off_km", "locator_method", "locator_skipped"]
    print(markdown_table(shown[columns]))
    print()
    print(summary(table))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "geo_api.csv", index=False)
        print(f"wrote {out / 'geo_api.csv'}")


@cli.command()
@click.option("--records", type=int, default=10_000, show_default=True)
@click.option("--seed", type=int, default=SYNTHETIC_SEED, show_default=True)
@click.option("--out", type=FILE, required=True, help=".csv or .jsonl")
def synthesize(records: int, seed: int, out: Path) -> None:
    """Synthetic records from the seeded model (evaluation/synthetic.py)."""
    from evaluation.synthetic import SyntheticModel, generate

    made = generate(records, SyntheticModel(seed=seed))
    if out.suffix.lower() == ".csv":
        made.to_csv(out, index=False)
    else:
        made.to_json(out, orient="records", lines=True)
    print(f"wrote {len(made):,} synthetic records (seed {seed}) to {out}")


@cli.command()
@click.option(
    "--db",
    multiple=True,
    metavar="NAME[=PATH]",
    help="a database: an embedded name (dbip-2023, geolite2-2018) or NAME=PATH; repeat (default: the embedded)",
)
@CACHES
@click.option("--synthetic", type=int, default=20_000, show_default=True, help="synthetic jobs")
@click.option("--out", type=FILE, help="also write the table as CSV")
def databases(db: tuple[str, ...], caches: Path, synthetic: int, out: Path | None) -> None:
    """GeoIP databases compared on the campus and synthetic addresses (evaluation/databases.py)."""
    from evaluation.databases import compare
    from evaluation.report import markdown_table

    chosen: dict[str, Path] = {}
    for item in db or [f"{name}=" for name in EMBEDDED]:
        name, _, path = item.partition("=")
        found = Settings.from_env({"LOCATOR_GEOIP_DB": path or name}).geoip_db
        if found is None:
            raise CommandError(f"--db {item}: no database")
        chosen[name] = found
    table = compare(chosen, caches, os.environ, synthetic, progress)
    print(markdown_table(table))
    if out is not None:
        table.to_csv(out, index=False)
        print(f"wrote {out}")


@cli.command()
@click.option("--records", type=int, default=40_000, show_default=True)
@click.option("--seed", type=int, default=SYNTHETIC_SEED, show_default=True)
@click.option(
    "--distances", default="0,1000,1500,2000,2500,3000,4000,5000,7000", show_default=True, help="km; 0 = no cross-check"
)
@CACHES
@click.option(
    "--tolerance-km",
    type=float,
    default=50.0,
    show_default=True,
    help="a pick this close to the nearest counts as right (the locator spreads jobs over co-located caches "
    "within LOCATOR_SPREAD_KM by design; the question here is the cross-check)",
)
@click.option("--out", type=FILE, help="also write the whole sweep as CSV")
def regions(records: int, seed: int, distances: str, caches: Path, tolerance_km: float, out: Path | None) -> None:
    """The cross-check distance per region, on the international synthetic model."""
    from evaluation.harness import far_from_colo_sweep
    from evaluation.report import markdown_table
    from evaluation.synthetic import SyntheticModel, generate, site_regions

    steps = [float(part) for part in distances.split(",")]
    progress(f"{records:,} synthetic jobs at the study's and the international sites (seed {seed})")
    made = generate(records, SyntheticModel(seed=seed, international=True))
    labels = made["site"].map(site_regions()).rename("region")
    environ = {**os.environ, "LOCATOR_GEOIP_DB": MODEL_GEOIP}  # the database the model's addresses came from
    progress(f"locator GeoIP: {MODEL_GEOIP} (the model's); cross-check distances {distances} km")
    sweep = far_from_colo_sweep(made, caches, [*steps, None], tolerance_km, labels, environ)
    table = sweep.pivot(index="region", columns="far_from_colo_km", values="accuracy")
    table = (100 * table[[*steps, "settings"]]).astype(float).round(1)
    settings = Settings.from_env(environ)
    table.columns = [
        *("off" if d == 0 else f"{d:g} km" for d in steps),
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
    if out is not None:
        sweep.to_csv(out, index=False)
        print(f"wrote {out}")


@cli.command()
@click.option(
    "--hours", type=click.FloatRange(min=0.1, max=24 * 7), default=simulation.LoadModel.hours, show_default=True
)
@click.option("--seed", type=int, default=simulation.LoadModel.seed, show_default=True)
@click.option(
    "--headroom",
    type=click.FloatRange(min=0.1),
    default=simulation.LoadModel.headroom,
    show_default=True,
    help="the caches' total capacity over the mean demand",
)
@click.option(
    "--io-load-at-capacity",
    type=click.FloatRange(min=1.0),
    default=simulation.LoadModel.io_load_at_capacity,
    show_default=True,
    help="the ioLoad a cache at capacity reports",
)
@click.option(
    "--detour-km",
    help="the locator's LOCATOR_LOAD_DETOUR_KM, or a comma list to compare (default: the settings')",
)
@CACHES
@click.option("--out", type=FILE, help="also write loadsim.md, loadsim.png and loadsim_load.png into this directory")
def loadsim(
    hours: float,
    seed: int,
    headroom: float,
    io_load_at_capacity: float,
    detour_km: str | None,
    caches: Path,
    out: Path | None,
) -> None:
    """A simulated day of job reads under load: nearest only, Pelican's adaptive sort and the locator (with its
    settings, or one row per --detour-km) side by side, and whether the locator meets its goals
    (evaluation/loadsim.py)."""
    model = simulation.LoadModel(hours=hours, seed=seed, headroom=headroom, io_load_at_capacity=io_load_at_capacity)
    settings = Settings.from_env(os.environ)
    spreads = [settings.spread]
    if detour_km:
        try:
            detours = [float(part) for part in detour_km.split(",")]
        except ValueError:
            raise CommandError(f"--detour-km {detour_km!r}: give km, or km separated by commas") from None
        if any(not 0 <= km < math.inf for km in detours):
            raise CommandError(f"--detour-km {detour_km!r}: each must be 0 or more km")
        spreads = [dataclasses.replace(settings.spread, detour_km=km) for km in detours]
    namespaces = load_namespaces(settings.namespaces_file)
    result = simulation.simulate(model, load_caches(caches), namespaces, simulation.read_sites(), spreads, progress)
    text = simulation.summary(result)
    print(text, end="")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "loadsim.md").write_text(text, encoding="utf-8")
        simulation.figure(result).savefig(out / "loadsim.png", dpi=110)
        simulation.load_figure(result).savefig(out / "loadsim_load.png", dpi=110)
        print(f"wrote {out / 'loadsim.md'}, {out / 'loadsim.png'} and {out / 'loadsim_load.png'}")


def main() -> None:
    cli(prog_name="evaluation")
