"""Resident memory of a running `locator serve` with the embedded GeoIP database: idle, and after a load burst.

    python bench/memory.py [--burst 10] [--connections 30]

Reads VmRSS (and VmHWM, RssAnon, RssFile) from /proc/<pid>/status of the one uvicorn process, after
start-up and again after a burst of the Cloudflare mix on /nearest plus some redirects; the bare Starlette
app under the same settings is the baseline. The GeoIP database is memory-mapped, so the pages it touched
show in RssFile (shared with the page cache), the Python heap in RssAnon. A second burst sends each request
from a different random public address, which grows the GeoIP lookup memo (locator.geoip.MEMO_SIZE entries
at most) and the mapped pages: the worst case. Target: under 200 MB.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

import loadkit as lk

from locator.geoip import MEMO_SIZE
from locator.settings import Settings

TARGET_MB = 200.0


def mb(kb: int) -> float:
    return kb / 1024


def describe(label: str, memory: dict[str, int]) -> str:
    return (
        f"{label:<34} VmRSS {mb(memory['VmRSS']):6.1f} MB  (anon {mb(memory['RssAnon']):6.1f}, file "
        f"{mb(memory['RssFile']):5.1f}, shmem {mb(memory['RssShmem']):4.1f})  VmHWM {mb(memory['VmHWM']):6.1f} MB"
    )


def distinct_addresses(count: int, seed: int = 11) -> list[lk.Request]:
    """Requests from `count` different random public IPv4 addresses (CF-Connecting-IP only): each one is a
    GeoIP lookup the memo has not seen, so the memo and the mapped database pages grow as far as they can."""
    rng = random.Random(seed)
    seen: set[ipaddress.IPv4Address] = set()
    requests: list[lk.Request] = []
    while len(requests) < count:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast and address not in seen:
            seen.add(address)
            requests.append(lk.Request("/nearest?n=6", {"cf-connecting-ip": str(address)}, "ip_only"))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--wide", type=int, default=20_000, help="distinct client addresses in the second burst")
    parser.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    args = parser.parse_args()

    print(lk.machine_line())
    geoip = Settings.from_env({}).geoip_db
    if geoip is not None:
        print(f"GeoIP database: {geoip} ({geoip.stat().st_size / 2**20:.1f} MB on disk, memory-mapped)")
    generator = lk.choose_generator(args.generator)
    mix = lk.cloudflare_mix()
    redirects = [lk.Request("/ospool/uc-shared/public/file.txt", r.headers, r.kind) for r in mix[:10]]
    with (
        lk.workdir("memory-") as scratch,
        lk.running(lk.start_bare(scratch)) as bare,
        lk.running(lk.start_locator(scratch)) as locator,
    ):
        time.sleep(1.0)
        bare_idle, idle = bare.memory_kb(), locator.memory_kb()
        print(describe("bare Starlette, idle", bare_idle))
        print(describe("locator, idle after start-up", idle))
        lk.check_methods(locator, mix)
        loaded = lk.load(generator, locator, mix + redirects, args.burst, args.connections)
        locator.wait_idle()
        after = locator.memory_kb()
        print(
            f"burst: {loaded.requests:,} requests in {loaded.duration_s:.1f} s ({loaded.rps:,.0f} req/s), "
            f"{loaded.unexpected('2xx') - loaded.statuses.get('3xx', 0)} errors besides the 307s"
        )
        print(describe("locator, after the burst", after))
        wide = lk.load(generator, locator, distinct_addresses(args.wide), args.wide / 1000.0, args.connections)
        locator.wait_idle()
        after_wide = locator.memory_kb()
        fresh = min(wide.requests, args.wide)
        print(
            f"wide burst: {wide.requests:,} requests from {fresh:,} distinct random public addresses "
            f"({wide.rps:,.0f} req/s), {wide.unexpected() + wide.socket_errors} errors"
        )
        print(describe("locator, after the wide burst", after_wide))
        anon = after_wide["RssAnon"] - after["RssAnon"]
        per_thousand = anon / max(1, fresh) * 1000
        db_kb = geoip.stat().st_size // 1024 if geoip is not None else 0
        capped_anon = after_wide["RssAnon"] + per_thousand * max(0, MEMO_SIZE - fresh) / 1000
        capped_file = max(after_wide["RssFile"], idle["RssFile"] + db_kb)  # mapped pages: at most the whole file
        capped = int(capped_anon + capped_file + after_wide["RssShmem"])
        print(
            f"growth: anon {mb(anon):.1f} MB for {fresh:,} new addresses = {per_thousand:.0f} kB per 1,000 (the memo); "
            f"file {mb(after_wide['RssFile'] - after['RssFile']):.1f} MB (database pages, at most the whole file). "
            f"At the memo's cap ({MEMO_SIZE:,} addresses) with every page mapped: about {mb(capped):.0f} MB"
        )
        lk.load(generator, bare, [lk.Request("/", {}, "plain")], args.burst, args.connections)
        bare.wait_idle()
        bare_after = bare.memory_kb()
        print(describe("bare Starlette, after a burst", bare_after))
    peak = max(after_wide["VmHWM"], after_wide["VmRSS"])
    print(
        f"locator over bare: {mb(after['VmRSS'] - bare_after['VmRSS']):.1f} MB more resident after the burst "
        f"({lk.ratio(after['VmRSS'], bare_after['VmRSS']):.2f}x)"
    )
    verdict = "met" if mb(peak) < TARGET_MB else "not met"
    print(
        f"summary: memory locator serve RSS {mb(idle['VmRSS']):.0f} MB idle, {mb(after['VmRSS']):.0f} MB after a "
        f"{args.burst:g} s burst, {mb(after_wide['VmRSS']):.0f} MB after {fresh:,} distinct addresses (peak "
        f"{mb(peak):.0f} MB, ~{mb(int(capped)):.0f} MB extrapolated to a full GeoIP memo; bare Starlette "
        f"{mb(bare_after['VmRSS']):.0f} MB); target < {TARGET_MB:.0f} MB: {verdict}"
    )


if __name__ == "__main__":
    main()
