"""Resident memory of a running `locator serve`: idle, after the usual mix, and with a large federation asked by
many distinct clients.

    python -m bench.memory [--caches 10000] [--clients 100000] [--full-answers 300] [--hostile 20000]

One uvicorn process serves a synthetic federation of `--caches` caches (seeded positions over the US and
Europe, a fifth of them serving LIGO's namespaces too) with the shipped settings: the embedded GeoIP database,
the health prober on (their endpoints do not resolve here, so it soon distrusts itself: the worst case, a
probe of every cache every 30 s), the memo of answers at its default bound. Then:
1. the Cloudflare mix for a few seconds;
2. `--clients` requests, each from a client the service has not seen: its own /24 (CF-Connecting-IP) and
   its own edge position and city, `n=6`, one in ten for a LIGO path. Every answer is a new memo entry and a
   new GeoIP lookup: the memo fills to its bound and the other caches (addresses, networks, header texts)
   to theirs;
3. `--full-answers` more such clients asking for every cache (an answer of about 1.8 MB each at 10,000
   caches): the memo's bound in bytes must hold with large entries too;
4. `--hostile` requests whose header values are all new and as long as a head allows (X-Forwarded-For,
   CF-Connecting-IP, CF-IPCity and CF-IPCountry, 14 KB in all): nothing keyed by raw header text may grow
   past its bound (the answer memo counts header bytes; the address and header-text memos that kept them
   uncounted are gone).
RSS (psutil) after each step, the memo's bytes from /metrics, and the bare Starlette app as the baseline.
Target: under 300 MB. Load comes from wrk with a generated Lua script; it stops itself after the count.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench import loadkit as lk
from bench.decision_cost import synthetic_caches, write_caches_csv

TARGET_MB = 300.0
NAMESPACES = "path,require_token\n/igwn/ligo,true\n/gwdata,false\n"


def rss_mb(server: lk.Server) -> float:
    return psutil.Process(server.process.pid).memory_info().rss / 2**20


def metric(server: lk.Server, name: str) -> float:
    status, body = lk.http_get(server.url + "/metrics")
    found = re.search(rf"^{name} (\S+)$", body.decode(), re.MULTILINE)
    if status != 200 or found is None:
        raise RuntimeError(f"/metrics has no {name}")
    return float(found.group(1))


def counted_lua(count: int, offset: int, request: str) -> str:
    """A wrk script that stops after `count` answers and prints `DONE requests errors`; `request` is the body of
    its Lua `request` function, with `i` the request's number (from `offset`)."""
    return f"""
local sent, answered, limit, offset = 0, 0, {count}, {offset}
function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
function request()
  sent = sent + 1
  local i = offset + sent
{request}
end
function done(summary, latency, requests)
  io.write(string.format("DONE %d %d\\n", summary.requests, summary.errors.status + summary.errors.connect))
end
"""


def distinct_clients_lua(count: int, n: str, offset: int) -> str:
    """Every request from a new client: its own /24 in 11.0.0.0/8 and 20.0.0.0/8 (public), its own edge position
    and city. One in ten asks a LIGO path."""
    return counted_lua(
        count,
        offset,
        f"""
  local a = (i % 2 == 0) and 11 or 20
  local ip = string.format("%d.%d.%d.7", a, math.floor(i / 256) % 256, i % 256)
  local lat = 25 + (i * 7919 % 24000) / 1000
  local lon = -124 + (i * 104729 % 57000) / 1000
  local path = (i % 10 == 0) and "/nearest?n={n}&path=/igwn/ligo/O4/f.gwf" or "/nearest?n={n}"
  return wrk.format("GET", path, {{["cf-connecting-ip"] = ip, ["cf-iplatitude"] = string.format("%.4f", lat),
    ["cf-iplongitude"] = string.format("%.4f", lon), ["cf-ipcity"] = "City" .. i, ["cf-ray"] = "1-ORD"}})""",
    )


def hostile_lua(count: int, offset: int) -> str:
    """Every request's header values new and long: 5,000 + 5,000 + 2,000 + 2,000 characters, under the 16 KB
    head limit, so each is answered (the addresses do not parse, the texts are too long to use)."""
    return counted_lua(
        count,
        offset,
        """
  local long = string.rep(string.format("%010d", i), 500)
  return wrk.format("GET", "/nearest?n=6", {["x-forwarded-for"] = long, ["cf-ipcity"] = "c" .. long,
    ["cf-connecting-ip"] = long:sub(1, 2000), ["cf-ipcountry"] = "u" .. long:sub(1, 2000)})""",
    )


def wrk_clients(server: lk.Server, script: Path, seconds: int, connections: int) -> tuple[int, int]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script), server.url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("DONE ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}{done.stderr}")
    requests, errors = line.split()[1:3]
    return int(requests), int(errors)


def run_clients(server: lk.Server, scratch: Path, count: int, n: str, offset: int, connections: int) -> str:
    """`count` new clients. wrk stops sending after the count, but always runs for its whole -d: a short run
    first measures the rate (its clients are new too, and counted), then one long enough for the rest."""
    return run_script(server, scratch / f"clients-{n}.lua", count, lambda k, o: distinct_clients_lua(k, n, o),
                      offset, connections) + f" (n={n})"  # fmt: skip


def run_script(
    server: lk.Server, script: Path, count: int, lua: Callable[[int, int], str], offset: int, connections: int
) -> str:
    """`count` requests of a generated wrk script (`lua(count, offset)`), as `run_clients` says."""
    script.write_text(lua(count, offset))
    started = time.perf_counter()
    first, errors = wrk_clients(server, script, 3, connections)
    rest = max(0, count - first)
    if rest:
        script.write_text(lua(rest, offset + first + 1))
        more, more_errors = wrk_clients(server, script, int(rest / max(first / 3, 1) * 1.3) + 2, connections)
        first, errors = first + more, errors + more_errors
    return f"{first:,} requests in {time.perf_counter() - started:.0f} s, {errors} errors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caches", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--full-answers", type=int, default=300)
    parser.add_argument("--hostile", type=int, default=20_000, help="requests with new, long header values")
    parser.add_argument("--burst", type=float, default=5.0, help="seconds of the usual mix first")
    parser.add_argument("--connections", type=int, default=30)
    args = parser.parse_args()

    print(lk.machine_line())
    lk.require("wrk")
    mix = lk.cloudflare_mix("/nearest?n=6")
    rows: list[tuple[str, float]] = []
    with lk.workdir("memory-") as scratch:
        caches_file, namespaces_file = scratch / "caches.csv", scratch / "namespaces.csv"
        write_caches_csv(synthetic_caches(args.caches), caches_file)
        namespaces_file.write_text(NAMESPACES)
        settings = {"caches_file": str(caches_file), "namespaces_file": str(namespaces_file)}
        with (
            lk.running(lk.start_bare(scratch)) as bare,
            lk.running(lk.start_locator(scratch, **settings)) as locator,
        ):
            time.sleep(1.0)
            rows += [
                ("bare Starlette, idle", rss_mb(bare)),
                (f"locator, {args.caches:,} caches, idle", rss_mb(locator)),
            ]
            lk.run_wrk(locator, mix, args.burst, args.connections)
            locator.wait_idle()
            rows.append((f"after {args.burst:g} s of the Cloudflare mix", rss_mb(locator)))
            print(f"distinct clients: {run_clients(locator, scratch, args.clients, '6', 0, args.connections)}")
            locator.wait_idle()
            rows.append((f"after {args.clients:,} distinct clients", rss_mb(locator)))
            memo_bytes = metric(locator, "locator_memo_bytes")
            memo_entries = metric(locator, "locator_memo_entries")
            bound = metric(locator, "locator_memo_limit_bytes")
            whole = run_clients(locator, scratch, args.full_answers, str(args.caches), 10**6, 4)
            print(f"full answers: {whole}")
            locator.wait_idle()
            rows.append((f"after {args.full_answers} more asking for all {args.caches:,}", rss_mb(locator)))
            full_memo = metric(locator, "locator_memo_bytes"), metric(locator, "locator_memo_entries")
            hostile = run_script(locator, scratch / "hostile.lua", args.hostile, hostile_lua, 0, 4)
            print(f"hostile headers: {hostile}")
            locator.wait_idle()
            rows.append((f"after {args.hostile:,} with new 14 KB headers", rss_mb(locator)))
            distrusted = metric(locator, "locator_health_prober_distrusted")
            lk.run_wrk(bare, [lk.Request("/", {}, "plain")], args.burst, args.connections)
            rows.append(("bare Starlette, after a burst", rss_mb(bare)))
            peak = psutil.Process(locator.process.pid).memory_full_info()
    for label, value in rows:
        print(f"{label:<46} RSS {value:7.1f} MB")
    print(
        f"memo after the distinct clients: {memo_entries:,.0f} answers, {memo_bytes / 1e6:.1f} MB of its "
        f"{bound / 1e6:.0f} MB bound; after the full answers: {full_memo[1]:,.0f} answers, {full_memo[0] / 1e6:.1f} MB"
    )
    print(f"health prober distrusted (endpoints unreachable here): {'yes' if distrusted else 'no'}; "
          f"locator's unique set size at the end {peak.uss / 2**20:.1f} MB")  # fmt: skip
    worst = max(value for label, value in rows if not label.startswith("bare"))
    verdict = "met" if worst < TARGET_MB else "not met"
    print(
        f"summary: memory {args.caches:,} caches: RSS {rows[1][1]:.0f} MB idle, {rows[3][1]:.0f} MB after "
        f"{args.clients:,} distinct clients, {rows[4][1]:.0f} MB after {args.full_answers} full answers (memo "
        f"{full_memo[0] / 1e6:.0f} of {bound / 1e6:.0f} MB), {rows[5][1]:.0f} MB after {args.hostile:,} hostile "
        f"heads; bare Starlette {rows[-1][1]:.0f} MB; "
        f"target < {TARGET_MB:.0f} MB: {verdict}"
    )


if __name__ == "__main__":
    main()
