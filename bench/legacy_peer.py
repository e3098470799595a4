"""The locator against the legacy CVMFS GeoIP service it replaces, served on the same machine in the same run.

    python -m bench.legacy_peer [--duration 15] [--connections 30] [--against REF]

Same load shape as service_load.py (30 connections, wrk, one uvicorn worker each, loaded one at a time in
interleaved rounds; the ratio is the median of the rounds' ratios).
The legacy emulation runs as `python -m evaluation legacy-serve --quiet` and is asked as stashcp asked it,
`/api/v1.0/geo/<client-ip>/<every cache host in data/caches.csv>`, for the client addresses of the
locator's mix, in the mix's order. The locator is measured three times: /nearest with the realistic
Cloudflare mix; /nearest like for like (each request carries only CF-Connecting-IP: locate an address, order
every cache, which is the legacy service's whole job); and its own geo API asked exactly what the legacy
service is asked (the same URLs, the same answer format: a line of indices). /nearest's answers are larger: a
JSON document naming every cache. `--against REF` adds another commit's locator (a git worktree) asked the same
geo API URLs, in the same interleaved rounds.
"""

from __future__ import annotations

import argparse
import contextlib

from bench import loadkit as lk
from locator.settings import DATA_DIR
from locator.sources.caches_file import load_caches


def legacy_requests(mix: list[lk.Request]) -> list[lk.Request]:
    hosts = ",".join(cache.host for cache in load_caches(DATA_DIR / "caches.csv").caches)
    return [lk.Request(f"/api/v1.0/geo/{r.headers['cf-connecting-ip']}/{hosts}", {}, "legacy") for r in mix]


def address_only(mix: list[lk.Request]) -> list[lk.Request]:
    return [
        lk.Request(
            r.path,
            {"cf-connecting-ip": r.headers["cf-connecting-ip"]},
            "ip_only",
            "geoip",
        )
        for r in mix
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--against", metavar="REF", help="also ask this git commit's locator the same geo URLs")
    args = parser.parse_args()

    print(lk.machine_line())
    generator = lk.require("wrk")
    mix = lk.cloudflare_mix()
    legacy_mix = legacy_requests(mix)
    like_for_like = address_only(mix)
    print(f"load: {generator}, {args.connections} connections, {args.duration:g} s per series in {args.rounds} rounds")
    print(f"legacy URL, e.g.: {legacy_mix[0].path[:110]}... ({len(legacy_mix[0].path)} characters)")

    probes = [lk.speed_probe()]
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(lk.workdir("legacy-peer-"))
        legacy = stack.enter_context(lk.running(lk.start_legacy(scratch)))
        locator = stack.enter_context(lk.running(lk.start_locator(scratch)))
        for name, server in (("legacy", legacy), ("locator geo API", locator)):
            answers = {lk.http_get(server.url + r.path)[0] for r in legacy_mix}
            sample = lk.http_get(server.url + legacy_mix[0].path)[1].decode().strip()
            print(f"{name} status codes over the mix: {sorted(answers)}; answer, e.g.: {sample[:60]}...")
        lk.check_methods(locator, mix)
        print(f"locator methods, address only: {lk.check_methods(locator, like_for_like)}")
        runs = [
            lk.Run("legacy", legacy, legacy_mix),
            lk.Run("mix", locator, mix),
            lk.Run("address", locator, like_for_like),
            lk.Run("geo", locator, legacy_mix),
        ]
        if args.against:
            tree = stack.enter_context(lk.worktree(args.against))
            other = stack.enter_context(lk.running(lk.start_locator(scratch, name="against", source=tree)))
            runs.append(lk.Run("against", other, legacy_mix))
        series = lk.interleaved(runs, args.duration, args.rounds, args.warmup, args.connections)
    probes.append(lk.speed_probe())
    old, realistic, same_job, geo = (lk.combine(series[k]) for k in ("legacy", "mix", "address", "geo"))
    print(old.line("legacy /api/v1.0/geo (emulation)"))
    print(realistic.line("locator /nearest, Cloudflare mix"))
    print(same_job.line("locator /nearest, address only"))
    print(geo.line("locator /api/v1.0/geo, the same URLs"))
    for label, rounds in series.items():
        print(f"  {label} per round: " + ", ".join(f"{r.rps:,.0f}" for r in rounds) + " req/s")
    for result in (old, realistic, same_job, geo):
        print(lk.bottleneck_note(result))
    print(f"CPU speed probe (ms, lower is faster) before and after: {', '.join(f'{p:.0f}' for p in probes)}")
    print()
    one = lk.ratio_text(lk.round_ratios(series["mix"], series["legacy"]))
    two = lk.ratio_text(lk.round_ratios(series["address"], series["legacy"]))
    three = lk.ratio_text(lk.round_ratios(series["geo"], series["legacy"]))
    print(f"locator is {one} the legacy service on the same machine (Cloudflare mix)")
    print(f"locator is {two} the legacy service on the same machine (address only, like for like)")
    print(f"locator's geo API is {three} the legacy service on the same machine (the same requests)")
    if args.against:
        versus = lk.ratio_text(lk.round_ratios(series["geo"], series["against"]))
        print(lk.combine(series["against"]).line(f"{args.against} /api/v1.0/geo"))
        print(f"summary: legacy_peer geo API against {args.against}: this commit / {args.against} {versus}")
    print(
        f"summary: legacy_peer locator {realistic.rps:,.0f} req/s (Cloudflare mix), {same_job.rps:,.0f} req/s "
        f"(address only) and {geo.rps:,.0f} req/s (its geo API, the same URLs) vs legacy emulation "
        f"{old.rps:,.0f} req/s: {one}, {two} and {three}; p99 {realistic.p99_ms:.1f} / {same_job.p99_ms:.1f} / "
        f"{geo.p99_ms:.1f} vs {old.p99_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
