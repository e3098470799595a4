"""Service throughput and latency of `locator serve`, as a ratio to a bare Starlette app measured in the same run.

    python bench/service_load.py [--duration 15] [--connections 30] [--log-levels warning,info]
                                 [--generator wrk|python]

Both servers run as real subprocesses on free 127.0.0.1 ports, one at a time, under the same uvicorn
settings (one worker, `proxy_headers=False`, the same log level). The locator gets a realistic
Cloudflare-fronted mix on /nearest (see loadkit.cloudflare_mix); the bare app a fixed JSON body. Load
comes from wrk (installed with apt-get if missing), else from bench/pyload.py. Not a test: nothing fails
on time; it prints figures and ratios.

Access logs: `locator serve` has no setting for uvicorn's access log (it is always on); LOCATOR_LOG_LEVEL
decides whether its lines are written. `warning` drops them (the main figure), `info` writes one line per
request (to a file here), for both servers alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import loadkit as lk


def measure(
    generator: str, server: lk.Server, mix: list[lk.Request], duration: float, warmup: float, connections: int
) -> lk.LoadResult:
    lk.warm_up(generator, server, mix, warmup)
    return lk.load(generator, server, mix, duration, connections)


def log_lines(path: Path) -> int:
    return sum(1 for _ in path.open("rb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per server (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--log-levels", default="warning,info", help="comma list: warning (no access lines), info")
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    args = parser.parse_args()

    print(lk.machine_line())
    generator = lk.choose_generator(args.generator)
    mix = lk.cloudflare_mix()
    print(f"load: {generator}, {args.connections} connections, {args.duration:g} s per server after {args.warmup:g} s")
    print(f"locator mix on /nearest: {len(mix)} header sets rotated ({lk.describe_mix(mix)})")

    summary: list[str] = []
    with lk.workdir("service-load-") as scratch:
        for level in args.log_levels.split(","):
            level = level.strip()
            print(f"\n== log level {level} ({'access lines written' if level == 'info' else 'no access lines'})")
            bare_mix = [lk.Request("/", {}, "plain")]
            with lk.running(lk.start_bare(scratch, level, name=f"bare-{level}")) as bare:
                base = measure(generator, bare, bare_mix, args.duration, args.warmup, args.connections)
                bare_lines = log_lines(bare.log_path)
            print(base.line("bare Starlette, fixed JSON"))
            with lk.running(lk.start_locator(scratch, level, name=f"locator-{level}")) as locator:
                methods = lk.check_methods(locator, mix)
                result = measure(generator, locator, mix, args.duration, args.warmup, args.connections)
                locator_lines = log_lines(locator.log_path)
            print(result.line("locator /nearest, Cloudflare mix"))
            print(f"methods decided by the mix (one pass, checked against the plan): {methods}")
            if "bytes_per_request" in result.extra:
                print(
                    f"bytes per response incl. headers: bare {base.extra['bytes_per_request']:.0f}, "
                    f"locator {result.extra['bytes_per_request']:.0f}"
                )
            print(f"server log lines: bare {bare_lines:,}, locator {locator_lines:,}")
            print(lk.bottleneck_note(base) + " (bare)")
            print(lk.bottleneck_note(result) + " (locator)")
            share = lk.ratio(result.rps, base.rps)
            print(
                f"locator / bare throughput: {share:.2f}x; p99 latency {result.p99_ms:.2f} ms vs {base.p99_ms:.2f} ms"
            )
            summary.append(
                f"summary: service_load [{level}] locator /nearest {result.rps:,.0f} req/s "
                f"(p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors "
                f"{result.unexpected() + result.socket_errors}) = {share:.2f}x bare Starlette "
                f"{base.rps:,.0f} req/s, {args.connections} connections, {generator}"
            )
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
