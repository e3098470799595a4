"""Service throughput and latency of `locator serve`, as a ratio to a bare Starlette app measured in the same run.

    python bench/service_load.py [--duration 15] [--rounds 5] [--connections 30]
                                 [--against REF]

Three servers run as real subprocesses on free 127.0.0.1 ports under the same uvicorn call (one worker,
the locator's logging configuration, uvicorn's access log off, `proxy_headers=False`, log level info): the
bare app (bench/bare_app.py, a fixed JSON body), the locator with its access log off
(LOCATOR_ACCESS_LOG=false: the main figure, no access log on either side), and the locator as shipped
(LOCATOR_ACCESS_LOG=true, one JSON line per request, written to a file here). Both get the same realistic
Cloudflare-fronted mix on /nearest (loadkit.cloudflare_mix): the bare app ignores its headers. The HTTP
parser is BENCH_HTTP (auto = httptools; `BENCH_HTTP=h11` for pure Python). They are loaded in turn, never together: the
duration is split into interleaved rounds (bare, locator, locator with log, bare, ...), because this shared
host changes speed in phases; each ratio is the median of the rounds' ratios. Load comes from wrk
(installed with apt-get if missing; without it the benchmark stops and says so). Not a test: nothing fails on time.

`--against REF` adds the locator of another commit (a git worktree of REF, with its own data files) to the
same interleaved rounds, with its access log off, so that this commit's ratio to the bare app and REF's are
measured in one run. This commit's locator then runs as shipped: namespace filtering (the mix asks for
`path=/ospool/...` too) and the health prober on (LOCATOR_HEALTH_INTERVAL_S at its default).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import loadkit as lk


def log_lines(path: Path) -> int:
    return sum(1 for _ in path.open("rb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per server (default 15)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--against", metavar="REF", help="also serve the locator of this git commit, for its ratio")
    args = parser.parse_args()

    print(lk.machine_line())
    print(f"HTTP parser (both servers): {lk.http_parser()} (BENCH_HTTP)")
    generator = lk.require("wrk")
    mix = lk.cloudflare_mix()
    print(
        f"load: {generator}, {args.connections} connections, {args.duration:g} s per server in {args.rounds} "
        f"interleaved rounds, after {args.warmup:g} s of warm-up"
    )
    print(f"mix on /nearest, sent to both servers: {len(mix)} header sets rotated ({lk.describe_mix(mix)})")

    if args.against:
        # Half the mix names an object path: only the caches serving its namespace are ranked.
        mix = [r if i % 2 else lk.Request("/nearest?path=/ospool/ap20/data/x.root", r.headers, r.kind, r.expect_method)
               for i, r in enumerate(mix)]  # fmt: skip
        print(f"against {args.against}: half the mix asks /nearest?path=/ospool/ap20/data/x.root (the other commit "
              "ignores the parameter); the health prober is on here")  # fmt: skip
    probes = [lk.speed_probe()]
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(lk.workdir("service-load-"))
        bare = stack.enter_context(lk.running(lk.start_bare(scratch)))
        quiet = stack.enter_context(lk.running(lk.start_locator(scratch, access_log=False, name="locator-nolog")))
        logged = stack.enter_context(lk.running(lk.start_locator(scratch, access_log=True, name="locator-log")))
        methods = lk.check_methods(quiet, mix)
        lk.check_methods(logged, mix)
        runs = [
            # The same requests, headers and all: the bare app ignores them, so the ratio isolates what the
            # locator does with them (the server's header parsing is paid by both).
            lk.Run("bare", bare, mix),
            lk.Run("locator", quiet, mix),
            lk.Run("locator+log", logged, mix),
        ]
        if args.against:
            tree = stack.enter_context(lk.worktree(args.against))
            other = stack.enter_context(lk.running(lk.start_locator(scratch, name="against", source=tree)))
            lk.check_methods(other, mix)
            runs.append(lk.Run("against", other, mix))
        series = lk.interleaved(runs, args.duration, args.rounds, args.warmup, args.connections)
        lines = {run.label: log_lines(run.server.log_path) for run in runs}
    probes.append(lk.speed_probe())
    base, result, with_log = (lk.combine(series[k]) for k in ("bare", "locator", "locator+log"))
    print(base.line("bare Starlette, fixed JSON"))
    print(result.line("locator /nearest, access log off"))
    print(with_log.line("locator /nearest, access log on"))
    for label, rounds in series.items():
        print(f"  {label} per round: " + ", ".join(f"{r.rps:,.0f}" for r in rounds) + " req/s")
    print(f"methods decided by the mix (one pass, checked against the plan): {methods}")
    if "bytes_per_request" in result.extra:
        print(
            f"bytes per response incl. headers: bare {base.extra['bytes_per_request']:.0f}, "
            f"locator {result.extra['bytes_per_request']:.0f}"
        )
    print("server log lines: " + ", ".join(f"{label} {count:,}" for label, count in lines.items()))
    for label, item in (("bare", base), ("locator", result), ("locator+log", with_log)):
        print(f"{lk.bottleneck_note(item)} ({label})")
    print(f"CPU speed probe (ms, lower is faster) before and after: {', '.join(f'{p:.0f}' for p in probes)}")
    share = lk.ratio_text(lk.round_ratios(series["locator"], series["bare"]))
    share_log = lk.ratio_text(lk.round_ratios(series["locator+log"], series["bare"]))
    log_cost = lk.ratio_text(lk.round_ratios(series["locator+log"], series["locator"]))
    print(f"\nlocator / bare throughput: {share}, access log off; p99 {result.p99_ms:.2f} ms vs {base.p99_ms:.2f} ms")
    print(f"locator with its access log / bare: {share_log}; with / without the access log: {log_cost}")
    if args.against:
        then = lk.combine(series["against"])
        print(then.line(f"locator at {args.against}, access log off"))
        then_share = lk.ratio_text(lk.round_ratios(series["against"], series["bare"]))
        print(
            f"summary: service_load [{lk.http_parser()}] against {args.against}: this commit / bare {share}, "
            f"{args.against} / bare {then_share}; this commit / {args.against} "
            f"{lk.ratio_text(lk.round_ratios(series['locator'], series['against']))}"
        )
    print(
        f"summary: service_load [{lk.http_parser()}] locator /nearest {result.rps:,.0f} req/s "
        f"(p50 {result.p50_ms:.1f} ms, p99 "
        f"{result.p99_ms:.1f} ms, errors {result.unexpected() + result.socket_errors}) = {share} bare Starlette "
        f"{base.rps:,.0f} req/s; with its access log {with_log.rps:,.0f} req/s = {share_log} bare; "
        f"{args.connections} connections, {generator}"
    )


if __name__ == "__main__":
    main()
