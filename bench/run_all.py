"""Run every benchmark in sequence and print a summary block to paste into the README.

    python -m bench.run_all [--quick] [--only service_load,memory]      # also: make bench

Each benchmark runs as its own process (its full output streams through), then the `summary:` lines they
print are gathered into one block with the machine line and the date. `--quick` shortens every run (about
3 minutes instead of about 9) for trying the suite out; its figures are noisier. Not a test: nothing fails
on time. A benchmark that fails is reported in the block and the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time

from bench import loadkit as lk

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments); service_load runs once per HTTP parser
    "service_load": (["--load-feed"], ["--duration", "5", "--warmup", "1", "--load-feed"]),
    "service_load_h11": ([], ["--duration", "5", "--warmup", "1"]),
    "siege_shape": ([], ["--requests", "20000"]),
    "legacy_peer": ([], ["--duration", "5", "--warmup", "1"]),
    "geo_flood": ([], ["--connections", "200", "--duration", "15", "--quiet", "3"]),
    "decision_cost": ([], ["--seconds", "0.3", "--http-duration", "5", "--warmup", "1"]),
    "memory": ([], ["--burst", "2", "--clients", "10000", "--full-answers", "50"]),
    "score_throughput": ([], ["--records", "200000", "--baseline-sample", "5000"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, noisier figures")
    parser.add_argument("--only", help=f"comma list from: {', '.join(BENCHMARKS)}")
    parser.add_argument("--against", metavar="REF", help="service_load also serves this commit's locator (a ratio)")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    summary: list[str] = []
    started = time.perf_counter()
    for name in names:
        full, quick = BENCHMARKS[name]
        script = name.removesuffix("_h11")
        env = {**os.environ, "BENCH_HTTP": "h11"} if name.endswith("_h11") else dict(os.environ)
        argv = [lk.PYTHON, "-m", f"bench.{script}", *(quick if args.quick else full)]
        if args.against and name == "service_load":
            argv += ["--against", args.against]
        print(f"\n#### {name}: {' '.join(argv[1:])} (HTTP parser {env.get('BENCH_HTTP', 'auto')})", flush=True)
        began = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=lk.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
        status = process.wait()
        took = time.perf_counter() - began
        if status != 0:
            summary.append(f"{name}: FAILED with status {status} after {took:.0f} s (see its output above)")
            continue
        found = [line.removeprefix("summary: ") for line in lines if line.startswith("summary: ")]
        if name == "score_throughput":  # the older benchmark prints no summary line: take its ratio line
            found = [f"score_throughput {line}" for line in lines if line.startswith(("harness:", "harness /"))]
        summary += found or [f"{name}: no summary line"]

    print(f"\n#### all done in {time.perf_counter() - started:.0f} s\n")
    print("```text")
    kind = "quick" if args.quick else "full"
    print(f"Benchmarks ({kind} run, {datetime.date.today().isoformat()}); {lk.machine_line()}")
    for line in summary:
        print(f"- {line}")
    print("```")


if __name__ == "__main__":
    main()
