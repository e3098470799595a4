"""Fallback load generator for when wrk (or siege) cannot be installed: asyncio streams, keep-alive, no httpx.

    python bench/pyload.py --port P --requests-file reqs.json (--duration S | --total N) [--connections 30]

Only ever connects to 127.0.0.1. Rotates through the requests in the file ([{"path", "headers"}]), one
HTTP/1.1 keep-alive connection per simulated client, and prints one JSON line with the totals, latency
percentiles, status classes, socket errors and its own CPU time, so the caller can show whether the
generator or the server was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import time
from pathlib import Path

HOST = "127.0.0.1"


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.socket_errors = 0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, server wants to close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


async def client(port: int, payloads: itertools.cycle[bytes], stats: Stats, deadline: float, budget: list[int]) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        if budget[0] <= 0:
            break
        budget[0] -= 1
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            started = time.perf_counter()
            writer.write(next(payloads))
            status, close = await read_response(reader)
            stats.latencies.append(time.perf_counter() - started)
            key = f"{status // 100}xx"
            stats.statuses[key] = stats.statuses.get(key, 0) + 1
            if close:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            stats.socket_errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    specs = json.loads(Path(args.requests_file).read_text())
    payloads = []
    for spec in specs:
        lines = [f"GET {spec['path']} HTTP/1.1", f"Host: {HOST}:{args.port}"]
        lines += [f"{name}: {value}" for name, value in spec["headers"].items()]
        payloads.append(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    stats = Stats()
    budget = [args.total if args.total is not None else 1 << 62]
    deadline = time.perf_counter() + (args.duration if args.duration is not None else 3600.0)
    cycle = itertools.cycle(payloads)
    started = time.perf_counter()
    await asyncio.gather(*(client(args.port, cycle, stats, deadline, budget) for _ in range(args.connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(stats.latencies)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": len(ordered),
        "duration_s": elapsed,
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "statuses": stats.statuses,
        "socket_errors": stats.socket_errors,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests-file", required=True)
    parser.add_argument("--connections", type=int, default=30)
    bound = parser.add_mutually_exclusive_group(required=True)
    bound.add_argument("--duration", type=float, help="seconds")
    bound.add_argument("--total", type=int, help="requests in all")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
