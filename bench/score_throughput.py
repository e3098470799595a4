"""Scoring throughput of the evaluation harness: 1,000,000 records, all three strategies computed.

    python -m bench.score_throughput [--records 1000000] [--caches data/caches.csv]

Prints records per second for the vectorised harness and, as the baseline measured in the same run, for
the per-record loop it replaces (each record located and every cache's distance computed with the
`haversine` package, one call per pair), timed on a sample. Not a test: nothing fails on time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from haversine import haversine

from evaluation.harness import build_harness
from evaluation.strategies import LocatorStrategy, record_context
from evaluation.synthetic import generate
from locator.core.locate import locate
from locator.settings import DATA_DIR


def naive_rate(records_count: int, caches_file: Path) -> float:
    """Records/s of a per-record Python loop: locate, then one haversine call per cache, for the locator only."""
    harness = build_harness(caches_file)
    sample = generate(records_count)
    federation = harness.federation
    caches = [
        (c.coordinate.latitude, c.coordinate.longitude)
        for c in federation.caches.in_service
        if c.coordinate is not None
    ]
    rows = list(sample[list(LocatorStrategy.COLUMNS[:6])].itertuples(index=False))
    started = time.perf_counter()
    for row in rows:
        where = locate(None, record_context(row), federation.sources, federation.policy)
        if where.coordinate is not None:
            origin = (where.coordinate.latitude, where.coordinate.longitude)
            min(range(len(caches)), key=lambda i: haversine(origin, caches[i]))
    elapsed = time.perf_counter() - started
    harness.close()
    return len(sample) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--caches", type=Path, default=DATA_DIR / "caches.csv")
    parser.add_argument("--baseline-sample", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; caches: {args.caches}")

    started = time.perf_counter()
    records = generate(args.records)
    print(
        f"generated {len(records):,} synthetic records in {time.perf_counter() - started:.1f} s "
        f"({records['client_ip'].nunique():,} client addresses, "
        f"{len(records[[*LocatorStrategy.COLUMNS[:6], 'path']].drop_duplicates()):,} distinct (client, edge, path))"
    )

    harness = build_harness(args.caches)
    started = time.perf_counter()
    scored, summary = harness.evaluate(records)
    elapsed = time.perf_counter() - started
    harness.close()
    computed = {s: summary["populations"]["synthetic"]["strategies"][s]["computed"] for s in harness.names}
    assert all(count == len(records) for count in computed.values()), computed  # nothing observed: all computed
    rate = len(records) / elapsed
    print(
        f"harness: {len(records):,} records, 3 strategies computed, scored in {elapsed:.2f} s = {rate:,.0f} records/s"
    )

    baseline = naive_rate(args.baseline_sample, args.caches)
    print(
        f"baseline (per-record loop, locator only, {args.baseline_sample:,}-record sample): {baseline:,.0f} records/s"
    )
    print(f"harness / baseline: {rate / baseline:.1f}x (the harness also runs legacy and worker-2022 and scores)")


if __name__ == "__main__":
    main()
