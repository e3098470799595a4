"""The seed's load-test shape: Siege, 100,000 requests at 30 concurrent clients, against /nearest and a redirect.

    python -m bench.siege_shape [--requests 100000] [--concurrency 30]

The seed measured Varnish at 2,377 and Squid at 430 transactions/s with Siege (100,000 requests, 30
concurrent, on other hardware); those numbers are printed for context only. Here the same shape runs against
`locator serve` (/nearest with a Cloudflare edge's headers, and a file path that answers 307) and, as the
baseline of the same run, against bench/bare_app.py before and after (their mean: the host's speed drifts).
Reported: transactions/s, availability (successful ÷ all, must be 100%), longest transaction, locator ÷ bare.

Siege follows redirects by default; a private siegerc (`--rc`) sets `follow-location = false`, and a
preflight proves it: a locator whose caches all point at a local sentinel port answers one 307, and the
sentinel must see no connection. Siege counts 3xx as success. Connections are kept alive (as wrk's are);
`--connection close` gives siege's own default.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import loadkit as lk

SEED = {"Varnish": 2377.0, "Squid": 430.0}
REDIRECT_PATH = "/ospool/uc-shared/public/file.txt"
EDGE = lk.CITY_CLIENTS[0]  # Lincoln, Nebraska, through OMA


def edge_headers() -> dict[str, str]:
    return {
        "cf-iplatitude": f"{EDGE.latitude}",
        "cf-iplongitude": f"{EDGE.longitude}",
        "cf-ipcity": EDGE.city,
        "cf-ipcountry": EDGE.country,
        "cf-ray": f"8f00aa00aa00aa00-{EDGE.colo}",
        "cf-connecting-ip": EDGE.ip,
    }


SIEGERC = """\
# private siegerc for bench/siege_shape.py: never follow a redirect, no log file, no delay, JSON summary
verbose = false
quiet = false
json_output = true
show-logfile = false
logging = false
parser = false
follow-location = false
protocol = HTTP/1.1
connection = {connection}
cache = false
benchmark = true
delay = 0
limit = 255
"""


@dataclass
class ShapeResult:
    tool: str
    transactions: int
    successful: int
    failed: int
    rate: float
    elapsed_s: float
    longest_s: float
    server_cpu: float
    tool_cpu: float

    @property
    def availability(self) -> float:
        total = self.transactions + self.failed
        return 100.0 * self.successful / total if total else 0.0

    def line(self, label: str) -> str:
        return (
            f"{label:<38} {self.rate:>8,.0f} trans/s  transactions {self.transactions:>7,}  "
            f"availability {self.availability:6.2f}%  failed {self.failed}  longest {self.longest_s:.3f} s  "
            f"elapsed {self.elapsed_s:.1f} s  CPU server {self.server_cpu:.2f} / {self.tool} {self.tool_cpu:.2f}"
        )


def run_siege(rc: Path, server: lk.Server, path: str, headers: dict[str, str], users: int, reps: int) -> ShapeResult:
    argv = ["siege", f"--rc={rc}", "-c", str(users), "-r", str(reps), "-b"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(server.url + path)
    server_before, children_before = server.cpu_seconds(), lk.children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=rc.parent)
    wall = time.perf_counter() - started
    server_cpu, tool_cpu = server.cpu_seconds() - server_before, lk.children_cpu() - children_before
    start = done.stdout.find("{")
    if done.returncode != 0 or start < 0:
        raise RuntimeError(f"siege failed ({done.returncode}): {done.stdout}\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout[start : done.stdout.rindex("}") + 1])
    return ShapeResult(
        tool="siege",
        transactions=int(data["transactions"]),
        successful=int(data["successful_transactions"]),
        failed=int(data["failed_transactions"]),
        rate=float(data["transaction_rate"]),
        elapsed_s=float(data["elapsed_time"]),
        longest_s=float(data["longest_transaction"]),
        server_cpu=server_cpu / wall,
        tool_cpu=tool_cpu / wall,
    )


class Sentinel:
    """A listener on 127.0.0.1 that counts connections: where a followed redirect would land."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((lk.HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.sock.close()


def preflight(rc: Path, scratch: Path) -> None:
    """Prove the private siegerc does not follow redirects before any full run (no traffic leaves 127.0.0.1)."""
    sentinel = Sentinel()
    try:
        caches = scratch / "sentinel-caches.csv"
        with (lk.ROOT / "data" / "caches.csv").open(newline="") as src, caches.open("w", newline="") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            for row in reader:
                writer.writerow({**row, "endpoint": f"http://{lk.HOST}:{sentinel.port}"})
        # The prober off: it would connect to every cache endpoint, all of them the sentinel here.
        preflight_locator = lk.start_locator(
            scratch,
            name="locator-preflight",
            caches_file=str(caches),
            health_interval_s="0",
            allow_private_endpoints="true",  # the sentinel is on 127.0.0.1
        )
        with lk.running(preflight_locator) as server:
            status, _ = lk.http_get(server.url + REDIRECT_PATH, edge_headers())
            result = run_siege(rc, server, REDIRECT_PATH, edge_headers(), 1, 1)
        time.sleep(0.5)
    finally:
        sentinel.close()
    if status != 307 or result.transactions != 1 or sentinel.connections:
        raise SystemExit(
            f"preflight failed: status {status}, {result.transactions} transactions, "
            f"{sentinel.connections} connections to the redirect target: siege followed the redirect"
        )
    print(f"preflight: 1 request -> {status}, 1 transaction, 0 connections to the redirect target: not followed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--connection", choices=["keep-alive", "close"], default="keep-alive")
    args = parser.parse_args()

    print(lk.machine_line())
    lk.require("siege")
    reps = math.ceil(args.requests / args.concurrency)
    count = reps * args.concurrency
    print(
        f"shape: {count:,} requests, {args.concurrency} concurrent, tool siege ({args.concurrency} users x "
        f"{reps:,} repetitions, connection {args.connection})"
    )
    print(
        "seed, for context (Siege, 100,000 requests, 30 concurrent, different hardware): "
        + ", ".join(f"{name} {rate:,.0f} transactions/s" for name, rate in SEED.items())
    )

    headers = edge_headers()
    with lk.workdir("siege-shape-") as scratch:
        rc = scratch / "siegerc"
        rc.write_text(SIEGERC.format(connection=args.connection))

        def shape(server: lk.Server, path: str, hdrs: dict[str, str]) -> ShapeResult:
            return run_siege(rc, server, path, hdrs, args.concurrency, reps)

        preflight(rc, scratch)
        with lk.running(lk.start_bare(scratch)) as bare, lk.running(lk.start_locator(scratch)) as locator:
            checks = {path: lk.http_get(locator.url + path, headers)[0] for path in ("/nearest", REDIRECT_PATH)}
            print(f"status check with the edge headers: {checks} (expected 200 and 307)")
            before = shape(bare, "/nearest", headers)  # the same requests: the bare app ignores headers
            bare.wait_idle()
            print(before.line("bare Starlette, fixed JSON (before)"))
            nearest = shape(locator, "/nearest", headers)
            locator.wait_idle()
            print(nearest.line("locator /nearest (edge headers)"))
            redirect = shape(locator, REDIRECT_PATH, headers)
            locator.wait_idle()
            print(redirect.line("locator redirect path (307)"))
            after = shape(bare, "/nearest", headers)
            print(after.line("bare Starlette, fixed JSON (after)"))
    base = dataclasses.replace(before, rate=(before.rate + after.rate) / 2)
    print(f"baseline: the mean of the bare runs before and after, {base.rate:,.0f} trans/s (the host's speed drifts)")
    print()
    summary = []
    for label, result in (("/nearest", nearest), ("redirect 307", redirect)):
        share = lk.ratio(result.rate, base.rate)
        print(
            f"locator {label}: {result.rate:,.0f} trans/s = {share:.2f}x bare; "
            f"{lk.ratio(result.rate, SEED['Varnish']):.2f}x the seed's Varnish figure, "
            f"{lk.ratio(result.rate, SEED['Squid']):.2f}x its Squid figure (different hardware)"
        )
        summary.append(
            f"summary: siege_shape locator {label} {result.rate:,.0f} trans/s, availability "
            f"{result.availability:.2f}%, longest {result.longest_s:.2f} s = {share:.2f}x bare {base.rate:,.0f} "
            f"trans/s ({result.transactions:,} requests, {args.concurrency} concurrent, siege)"
        )
    if any(r.availability < 100.0 for r in (before, after, nearest, redirect)):
        print("NOTE: availability below 100%: some transactions failed (see the lines above)")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
