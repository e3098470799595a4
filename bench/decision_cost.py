"""Cost against size: one decision for 10 to 10,000 caches, in process and through HTTP.

    python -m bench.decision_cost [--sizes 10,100,1000,10000] [--seconds 1.0] [--http-duration 10]

In process: the whole decision (`locator.core.decide.decide()`: locate with the embedded GeoIP and airports, then
`locator.core.rank.rank`) for the edge contexts of the Cloudflare mix, with n=None (every cache) and n=6; `rank`
alone for one origin; and the decision plus the encoded /nearest body (what the service's memo of rendered
answers saves on a repeat). Each figure is the best of five slices taken round-robin over all sizes, in µs
per call, with its ratio to the 10-cache case.

Through HTTP: `locator serve` with a 1,000-cache file against bench/bare_app.py, wrk with the mix, on
/nearest?n=6, /nearest (1,000 caches in every answer) and a redirect path. The issue's targets: 1,000 caches
at least 0.5x the bare app; 10,000 caches under 1 ms per decision. Synthetic caches are seeded random
positions over the US (60%) and Europe (40%).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench import loadkit as lk
from locator.core.caches import Cache, CacheSet
from locator.core.decide import Decision, decide
from locator.core.edge import EdgeContext, read_edge
from locator.core.federation import Federation
from locator.core.geo import Coordinate
from locator.core.rank import rank
from locator.resources import close, load_federation
from locator.settings import Settings
from locator.web.bodies import nearest_json


def synthetic_caches(count: int, seed: int = 2024) -> CacheSet:
    """`count` caches at seeded random positions: 60% in the contiguous US, 40% in Europe."""
    rng = np.random.default_rng(seed + count)
    us = rng.random(count) < 0.6
    lat = np.where(us, rng.uniform(25.0, 49.0, count), rng.uniform(36.0, 60.0, count))
    lon = np.where(us, rng.uniform(-124.0, -67.0, count), rng.uniform(-10.0, 30.0, count))
    # One in five serves LIGO's namespaces as well, one in ten only those (OSG Topology: 26 of 44 serve /igwn/...).
    served = rng.choice(3, size=count, p=[0.7, 0.2, 0.1])
    ligo = frozenset({"/igwn/ligo", "/gwdata"})
    return CacheSet(
        tuple(
            Cache(
                f"SYN_{i:05d}",
                f"https://cache{i:05d}.example.org:8443",
                Coordinate(float(la), float(lo)),
                namespaces=ligo if kind else frozenset(),
                public=kind < 2,
            )
            for i, (la, lo, kind) in enumerate(zip(lat, lon, served.tolist(), strict=True))
        )
    )


def write_caches_csv(caches: CacheSet, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "endpoint", "latitude", "longitude", "namespaces"])
        for cache in caches.caches:
            assert cache.coordinate is not None
            row = [cache.name, cache.endpoint, cache.coordinate.latitude, cache.coordinate.longitude, cache.served]
            writer.writerow(row)


def best_us(call: Callable[[int], object], count: int, seconds: float) -> float:
    """µs per call, best of three rounds; each round runs about `seconds` (calls rotate through `count` inputs)."""
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < seconds / 10 or calls < 3:
        call(calls % count)
        calls += 1
    per_round = max(3, int(calls * 10 / 3))  # about seconds/3 per round
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(per_round):
            call(i % count)
        best = min(best, (time.perf_counter() - started) / per_round)
    return best * 1e6


Cell = tuple[Callable[[int], object], int]  # a call taking the input index, and how many inputs it rotates through


def ranked(decision: Decision) -> Decision:
    decision.ranking  # noqa: B018 - rank now
    return decision


def body(decision: Decision) -> bytes:
    return nearest_json(decision)


def size_cells(federation: Federation, contexts: Sequence[EdgeContext]) -> dict[str, Cell]:
    """The in-process figures for one cache set."""
    count = len(contexts)
    lincoln = Coordinate(40.8, -96.667)  # one origin
    return {
        "decide_all": (lambda i: ranked(decide(federation, contexts[i])), count),
        "decide_6": (lambda i: ranked(decide(federation, contexts[i], None, None, 6)), count),
        "rank_all": (lambda i: rank(federation, lincoln, None, "192.0.2.0/24"), 1),
        "rank_6": (lambda i: rank(federation, lincoln, None, "192.0.2.0/24", 6), 1),
        "body_all": (lambda i: body(decide(federation, contexts[i])), count),
        "body_6": (lambda i: body(decide(federation, contexts[i], None, None, 6)), count),
    }


def interleaved_best(cells: dict[tuple[int, str], Cell], seconds: float, rounds: int) -> dict[tuple[int, str], float]:
    """µs per call for every cell: the best of `rounds` slices of about seconds/rounds each, taken round-robin
    over all cells, so that a slow phase of the host does not land on one cache size only."""
    per_slice: dict[tuple[int, str], int] = {}
    for key, (call, count) in cells.items():
        started, calls = time.perf_counter(), 0
        while time.perf_counter() - started < seconds / rounds / 4 or calls < 2:
            call(calls % count)
            calls += 1
        per_slice[key] = max(2, calls * 4)
    best = dict.fromkeys(cells, float("inf"))
    for _ in range(rounds):
        for key, (call, count) in cells.items():
            started = time.perf_counter()
            for i in range(per_slice[key]):
                call(i % count)
            best[key] = min(best[key], (time.perf_counter() - started) / per_slice[key])
    return {key: value * 1e6 for key, value in best.items()}


def in_process(sizes: Sequence[int], seconds: float, rounds: int) -> dict[int, dict[str, float]]:
    settings = Settings.from_env({})
    base = load_federation(settings)
    contexts = [read_edge(r.headers, lk.HOST, settings.trusted_proxies) for r in lk.cloudflare_mix()]
    cells: dict[tuple[int, str], Cell] = {}
    for size in sizes:
        federation = base.replace(caches=synthetic_caches(size))
        cells.update({(size, key): cell for key, cell in size_cells(federation, contexts).items()})
    timings = interleaved_best(cells, seconds, rounds)
    rows = {size: {key: timings[(size, key)] for (s, key) in cells if s == size} for size in sizes}
    header = f"{'caches':>7} {'decide n=all':>14} {'decide n=6':>12} {'rank all':>10} {'rank 6':>8}"
    header += f" {'decide+body all':>16} {'decide+body 6':>14}"
    print(header + f"   (µs per call, best of {rounds} slices)")
    for size, row in rows.items():
        print(
            f"{size:>7,} {row['decide_all']:>14,.1f} {row['decide_6']:>12,.1f} {row['rank_all']:>10,.1f} "
            f"{row['rank_6']:>8,.1f} {row['body_all']:>16,.1f} {row['body_6']:>14,.1f}"
        )
    first = rows[sizes[0]]
    print(f"\nratio to the {sizes[0]:,}-cache case:")
    for size, row in rows.items():
        print(f"{size:>7,} " + "  ".join(f"{key} {row[key] / first[key]:6.1f}x" for key in row))
    close(base)
    return rows


def over_http(size: int, duration: float, rounds: int, warmup: float, connections: int) -> list[str]:
    mix_6 = lk.cloudflare_mix("/nearest?n=6")
    mix_all = lk.cloudflare_mix("/nearest")
    mix_redirect = [dataclasses.replace(r, path="/ospool/uc-shared/public/file.txt", expect_method="") for r in mix_6]
    labels = {"n6": "/nearest?n=6", "all": "/nearest (all)", "redirect": "redirect (307)"}
    with lk.workdir("decision-cost-") as scratch:
        caches_file = scratch / f"caches-{size}.csv"
        write_caches_csv(synthetic_caches(size), caches_file)
        with (
            lk.running(lk.start_bare(scratch)) as bare,
            lk.running(lk.start_locator(scratch, caches_file=str(caches_file))) as server,
        ):
            lk.check_methods(server, mix_6)
            runs = [
                lk.Run("bare", bare, mix_6),  # the same requests; the bare app ignores their headers
                lk.Run("n6", server, mix_6),
                lk.Run("all", server, mix_all),
                lk.Run("redirect", server, mix_redirect),
            ]
            series = lk.interleaved(runs, duration, rounds, warmup, connections)
    print(lk.combine(series["bare"]).line("bare Starlette, fixed JSON"))
    lines = []
    for key, label in labels.items():
        expected = "3xx" if key == "redirect" else "2xx"
        result = lk.combine(series[key])
        print(result.line(f"locator {size:,} caches {label}", expected))
        ratios = lk.round_ratios(series[key], series["bare"])
        met = "met" if sorted(ratios)[len(ratios) // 2] >= 0.5 else "not met"
        lines.append(
            f"summary: decision_cost HTTP {size:,} caches {label}: {result.rps:,.0f} req/s = {lk.ratio_text(ratios)} "
            f"bare {lk.combine(series['bare']).rps:,.0f} req/s (target >= 0.5x: {met})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per in-process figure")
    parser.add_argument("--slices", type=int, default=5, help="interleaved slices per in-process figure")
    parser.add_argument("--http-size", type=int, default=1000)
    parser.add_argument("--http-duration", type=float, default=10.0, help="seconds per HTTP run (0: skip HTTP)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each HTTP run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=30)
    args = parser.parse_args()

    print(lk.machine_line())
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"in process: decide() over the {len(lk.cloudflare_mix())} edge contexts of the Cloudflare mix")
    rows = in_process(sizes, args.seconds, args.slices)
    summary = []
    if 10000 in rows:
        row = rows[10000]

        def verdict(us: float) -> str:
            return "met" if us < 1000 else "not met"

        summary.append(
            f"summary: decision_cost 10,000 caches: decide {row['decide_all'] / 1000:.2f} ms (n=all, "
            f"{verdict(row['decide_all'])}), {row['decide_6'] / 1000:.2f} ms (n=6, {verdict(row['decide_6'])}); "
            f"target < 1 ms; {sizes[0]:,} caches: {rows[sizes[0]]['decide_all']:.0f} µs"
        )
    if args.http_duration > 0:
        generator = lk.require("wrk")
        print(
            f"\nthrough HTTP: {generator}, {args.connections} connections, {args.http_duration:g} s per series "
            f"in {args.rounds} interleaved rounds"
        )
        summary += over_http(args.http_size, args.http_duration, args.rounds, args.warmup, args.connections)
    print()
    print("\n".join(summary))


if __name__ == "__main__":
    main()
