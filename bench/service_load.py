"""Service throughput and latency of `locator serve`, as a ratio to a bare Starlette app measured in the same run.

    python -m bench.service_load [--duration 15] [--rounds 5] [--connections 30] [--against REF]

The servers run as real subprocesses on free 127.0.0.1 ports under the same uvicorn call (one worker, the
locator's logging configuration, uvicorn's access log off, `proxy_headers=False`, log level info): the bare app
(bench/bare_app.py, a fixed JSON body) and the locator with its defaults (its access log on, one JSON line per
request written to a file here) but for the health prober, which is off (the real caches are not reachable from
a benchmark, and a probe round would land in some rounds only). The locator is asked two ways, with the same
realistic Cloudflare-fronted mix of headers (loadkit.cloudflare_mix; the bare app ignores them): `/nearest`,
and an object path, a 307 redirect (`/ospool/ap20/data/file.root`). The HTTP parser is BENCH_HTTP (auto =
httptools; `BENCH_HTTP=h11` for pure Python). The servers are loaded in turn, never together: the duration is
split into interleaved rounds (bare, /nearest, redirect, bare, ...), because this shared host changes speed in
phases; each ratio is the median of the rounds' ratios. Load comes from wrk (installed with apt-get if missing;
without it the benchmark stops and says so). Not a test: nothing fails on time.

`--against REF` adds the locator of another commit (a git worktree of REF, with its own data files and the same
settings) to the same interleaved rounds, asked the same two ways. `--load-feed` adds a locator whose
LOCATOR_LOAD_URL is a stand-in Pelican director in this process (loadkit.stand_in_director: four Midwest caches
above the load threshold, loads changing at every poll, so that every 15 s a new snapshot empties the memo of
answers, as with a live director), asked the same two ways: its ratio to the locator without a feed.
"""

from __future__ import annotations

import argparse
import contextlib

from bench import loadkit as lk

REDIRECT = "/ospool/ap20/data/file.root"
SETTINGS = {"health_interval_s": "0"}  # the defaults otherwise: the access log on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per series (default 15)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--against", metavar="REF", help="also serve the locator of this git commit, for its ratio")
    parser.add_argument("--load-feed", action="store_true", help="also serve a locator reading a stand-in director")
    args = parser.parse_args()

    print(lk.machine_line())
    print(f"HTTP parser (every server): {lk.http_parser()} (BENCH_HTTP)")
    generator = lk.require("wrk")
    mix = lk.cloudflare_mix()
    redirects = [lk.Request(REDIRECT, r.headers, r.kind) for r in mix]
    print(
        f"load: {generator}, {args.connections} connections, {args.duration:g} s per series in {args.rounds} "
        f"interleaved rounds, after {args.warmup:g} s of warm-up; {len(mix)} header sets rotated "
        f"({lk.describe_mix(mix)}) on /nearest and on {REDIRECT} (a 307)"
    )
    probes = [lk.speed_probe()]
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(lk.workdir("service-load-"))
        bare = stack.enter_context(lk.running(lk.start_bare(scratch)))
        locator = stack.enter_context(lk.running(lk.start_locator(scratch, access_log=True, **SETTINGS)))
        methods = lk.check_methods(locator, mix)
        runs = [lk.Run("bare", bare, mix), lk.Run("nearest", locator, mix), lk.Run("redirect", locator, redirects)]
        if args.against:
            tree = stack.enter_context(lk.worktree(args.against))
            other = lk.start_locator(scratch, access_log=True, name="against", source=tree, **SETTINGS)
            stack.enter_context(lk.running(other))
            runs += [lk.Run("nearest@ref", other, mix), lk.Run("redirect@ref", other, redirects)]
        fed = None
        if args.load_feed:
            director = stack.enter_context(lk.stand_in_director())
            feed = {"load_url": director, "allow_private_endpoints": "true"}
            fed = lk.start_locator(scratch, access_log=True, name="with feed", **SETTINGS, **feed)
            stack.enter_context(lk.running(fed))
            lk.wait_for_load(fed)
            runs += [lk.Run("nearest+feed", fed, mix), lk.Run("redirect+feed", fed, redirects)]
        series = lk.interleaved(runs, args.duration, args.rounds, args.warmup, args.connections)
        moved = lk.metric(fed, "locator_answers_moved_by_load_total") if fed is not None else 0.0
    probes.append(lk.speed_probe())
    combined = {label: lk.combine(rounds) for label, rounds in series.items()}
    print(combined["bare"].line("bare Starlette, fixed JSON"))
    print(combined["nearest"].line("locator /nearest"))
    print(combined["redirect"].line("locator redirect", expected="3xx"))
    for label, rounds in series.items():
        print(f"  {label} per round: " + ", ".join(f"{r.rps:,.0f}" for r in rounds) + " req/s")
    print(f"methods decided by the mix (one pass, checked against the plan): {methods}")
    for label in ("bare", "nearest", "redirect"):
        print(f"{lk.bottleneck_note(combined[label])} ({label})")
    print(f"CPU speed probe (ms, lower is faster) before and after: {', '.join(f'{p:.0f}' for p in probes)}")
    nearest = lk.ratio_text(lk.round_ratios(series["nearest"], series["bare"]))
    redirect = lk.ratio_text(lk.round_ratios(series["redirect"], series["bare"]))
    nearest_p99, redirect_p99 = combined["nearest"].p99_ms, combined["redirect"].p99_ms
    if args.against:
        for label in ("nearest", "redirect"):
            then = lk.ratio_text(lk.round_ratios(series[f"{label}@ref"], series["bare"]))
            versus = lk.ratio_text(lk.round_ratios(series[label], series[f"{label}@ref"]))
            print(
                f"summary: service_load [{lk.http_parser()}] {label} against {args.against}: this commit / bare "
                f"{lk.ratio_text(lk.round_ratios(series[label], series['bare']))}, {args.against} / bare {then}; "
                f"this commit / {args.against} {versus}"
            )
    if args.load_feed:
        with_feed = {
            label: lk.ratio_text(lk.round_ratios(series[f"{label}+feed"], series[label]))
            for label in ("nearest", "redirect")
        }
        loaded = len(lk.LOADED_CACHES)
        print(
            f"summary: service_load [{lk.http_parser()}] with a load feed (a stand-in director, {loaded} "
            f"caches loaded, a new report every 15 s): /nearest {with_feed['nearest']} and redirect "
            f"{with_feed['redirect']} the locator without a feed; p99 {combined['nearest+feed'].p99_ms:.1f} / "
            f"{combined['redirect+feed'].p99_ms:.1f} ms; {moved:,.0f} answers moved by load"
        )
    print(
        f"summary: service_load [{lk.http_parser()}] defaults (access log on, prober off): /nearest "
        f"{combined['nearest'].rps:,.0f} req/s = {nearest} bare ({combined['bare'].rps:,.0f} req/s), p99 "
        f"{nearest_p99:.1f} ms; redirect {combined['redirect'].rps:,.0f} req/s = {redirect} bare, p99 "
        f"{redirect_p99:.1f} ms; errors {combined['nearest'].unexpected() + combined['nearest'].socket_errors} / "
        f"{combined['redirect'].unexpected('3xx') + combined['redirect'].socket_errors}; {args.connections} "
        f"connections, {generator}"
    )


if __name__ == "__main__":
    main()
