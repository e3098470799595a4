"""Service throughput and latency of `locator serve`, as a ratio to a bare Starlette app measured in the same run.

    python bench/service_load.py [--duration 15] [--connections 30] [--log-levels warning,info]
                                 [--generator wrk|python]

Both servers run as real subprocesses on free 127.0.0.1 ports under the same uvicorn settings (one worker,
`proxy_headers=False`, the same log level) and are loaded in turn, never together: the duration is split
into interleaved rounds (bare, locator, bare, locator, ...), because this shared host changes speed in
phases; the ratio is the median of the rounds' ratios. The locator gets a realistic
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


def log_lines(path: Path) -> int:
    return sum(1 for _ in path.open("rb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per server (default 15)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--log-levels", default="warning,info", help="comma list: warning (no access lines), info")
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    args = parser.parse_args()

    print(lk.machine_line())
    generator = lk.choose_generator(args.generator)
    mix = lk.cloudflare_mix()
    print(
        f"load: {generator}, {args.connections} connections, {args.duration:g} s per server in {args.rounds} "
        f"interleaved rounds, after {args.warmup:g} s of warm-up"
    )
    print(f"locator mix on /nearest: {len(mix)} header sets rotated ({lk.describe_mix(mix)})")

    summary: list[str] = []
    probes = [lk.speed_probe()]
    with lk.workdir("service-load-") as scratch:
        for level in args.log_levels.split(","):
            level = level.strip()
            print(f"\n== log level {level} ({'access lines written' if level == 'info' else 'no access lines'})")
            with (
                lk.running(lk.start_bare(scratch, level, name=f"bare-{level}")) as bare,
                lk.running(lk.start_locator(scratch, level, name=f"locator-{level}")) as locator,
            ):
                methods = lk.check_methods(locator, mix)
                runs = [lk.Run("bare", bare, [lk.Request("/", {}, "plain")]), lk.Run("locator", locator, mix)]
                series = lk.interleaved(generator, runs, args.duration, args.rounds, args.warmup, args.connections)
                lines = {"bare": log_lines(bare.log_path), "locator": log_lines(locator.log_path)}
            probes.append(lk.speed_probe())
            base, result = lk.combine(series["bare"]), lk.combine(series["locator"])
            print(base.line("bare Starlette, fixed JSON"))
            print(result.line("locator /nearest, Cloudflare mix"))
            for label, rounds in series.items():
                print(f"  {label} per round: " + ", ".join(f"{r.rps:,.0f}" for r in rounds) + " req/s")
            print(f"methods decided by the mix (one pass, checked against the plan): {methods}")
            if "bytes_per_request" in result.extra:
                print(
                    f"bytes per response incl. headers: bare {base.extra['bytes_per_request']:.0f}, "
                    f"locator {result.extra['bytes_per_request']:.0f}"
                )
            print(f"server log lines: bare {lines['bare']:,}, locator {lines['locator']:,}")
            print(lk.bottleneck_note(base) + " (bare)")
            print(lk.bottleneck_note(result) + " (locator)")
            share = lk.ratio_text(lk.round_ratios(series["locator"], series["bare"]))
            print(f"locator / bare throughput: {share}; p99 {result.p99_ms:.2f} ms vs {base.p99_ms:.2f} ms")
            summary.append(
                f"summary: service_load [{level}] locator /nearest {result.rps:,.0f} req/s "
                f"(p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors "
                f"{result.unexpected() + result.socket_errors}) = {share} bare Starlette "
                f"{base.rps:,.0f} req/s; {args.connections} connections, {generator}"
            )
    print(
        f"CPU speed probe (ms, lower is faster) at start and after each level: {', '.join(f'{p:.0f}' for p in probes)}"
    )
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
