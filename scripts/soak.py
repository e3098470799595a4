"""Soak and fault suite: a real `locator serve` under sustained load while its data files and GeoIP database
are rewritten, cut short, damaged, replaced by garbage, deleted and restored, and reloaded by overlapping
SIGHUPs, while hostile clients send oversized heads, floods of headers and heads that never finish, and flood
the CVMFS geo API with requests naming 64 new names that the DNS (a stand-in on 127.0.0.1) never answers; and
started with missing, damaged or tampered GeoIP databases, key-value stores and data files.

    python -m scripts.soak                         # about 40 s: what CI runs (tests/test_soak.py)
    python -m scripts.soak --duration 3600 --concurrency 16  # the long run

Invariants, checked and printed: zero failed requests under load (every answer a 200 or a 307, no
connection error); every hostile request answered as documented (431 for an oversized head, 408 and a closed
connection for a head that does not finish in LOCATOR_HEAD_TIMEOUT_S; during the geo API flood, every
ordinary geo request, naming new names that resolve at once, ordered as without the flood and kept the legacy
hour, every flood answer kept only a minute, and at most a few DNS lookups per request); the server's memory
bounded; after the
load, the last file renamed into place is the one in service; every start either serves (ready, or degraded as
documented, and answers the addresses that crashed the C GeoIP reader) or refuses with one clear line; no
temporary or half-written file is left beside the data. Exit status 0 when all hold. Traffic goes to
127.0.0.1 only, and everything stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import maxminddb
import psutil

from locator.embedded import embedded_path
from locator.settings import DATA_DIR
from locator.sources.airports import NAMESPACE, ensure_store
from locator.sources.caches_file import load_caches
from locator.sources.files import replacing
from locator.sources.kv import KVNamespace
from locator.sources.resolver import LOOKUPS_PER_REQUEST, MAX_QUERIES_PER_REQUEST, TRIES
from scripts.fake_dns import FakeDNS
from scripts.launch import launch_locator

REQUESTS = [
    ("/nearest", {"cf-iplatitude": "40.01", "cf-iplongitude": "-105.27", "cf-ipcity": "Boulder", "cf-ray": "1-DEN"}),
    ("/nearest", {"cf-connecting-ip": "129.93.1.1", "cf-ray": "1-ORD"}),
    ("/nearest", {"cf-connecting-ip": "8.8.8.8", "cf-ray": "1-DFW", "cf-ipcountry": "US"}),
    ("/nearest?lat=41.9&lon=-87.6&n=3", {}),
    ("/nearest?format=text", {"x-forwarded-for": "128.138.129.1"}),
    ("/_caches", {"cf-ray": "1-LAX"}),
    ("/ospool/uc-shared/public/file.txt", {"cf-connecting-ip": "146.163.1.1"}),
    ("/data/a%20b.root?authz=x", {"cf-iplatitude": "52.3", "cf-iplongitude": "4.9", "cf-ipcity": "Amsterdam"}),
    ("/nearest?ip=81.239.25.34", {}),  # its record crashes the C reader in damaged_geoip's copy
    ("/nearest?ip=159.60.99.219", {}),
]
HEAD_TIMEOUT_S = 2.0
MEMORY_LIMIT_MB = 256.0  # the pod's limit (deploy/k8s)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
GARBAGE = [
    b"",
    b"\x00\xff\xfe garbage \x89PNG",
    b"name,endpoint\n",
    b"name,endpoint,latitude,longitude\nX,ftp://x,1,2\n",
]


class Server:
    """`python -m locator serve` on a free loopback port, with its stderr kept for the report."""

    def __init__(self, env: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile()
        settings = {name.removeprefix("LOCATOR_").lower(): value for name, value in env.items()}
        self.launched = launch_locator({**settings, "access_log": "false"}, subprocess.DEVNULL, self.log)
        self.process, self.port = self.launched.process, self.launched.port

    def started(self, timeout_s: float = 30.0) -> bool:
        """True once /healthz answers; False if the process exited first."""
        return self.launched.ready("/healthz", timeout_s)

    def get(self, path: str) -> tuple[int, dict[str, object]]:
        response = httpx.get(self.launched.url + path, timeout=10)
        return response.status_code, json.loads(response.content or b"{}")

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> int:
        return self.launched.stop()


def fresh_data(root: Path) -> dict[str, str]:
    """A private copy of the shipped data and GeoIP database, and the settings that point at them."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("caches.csv", "namespaces.csv", "overrides.csv", "airports.csv"):
        shutil.copyfile(DATA_DIR / name, root / name)
    shutil.copyfile(embedded_geoip(), root / "City.mmdb")
    return {
        "LOCATOR_CACHES_FILE": str(root / "caches.csv"),
        "LOCATOR_NAMESPACES_FILE": str(root / "namespaces.csv"),
        "LOCATOR_OVERRIDES_FILE": str(root / "overrides.csv"),
        "LOCATOR_AIRPORTS_CSV": str(root / "airports.csv"),
        "LOCATOR_AIRPORTS_STORE": str(root / "airports.sqlite"),
        "LOCATOR_GEOIP_DB": str(root / "City.mmdb"),
        "LOCATOR_RELOAD_INTERVAL_S": "0.2",
        "LOCATOR_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "LOCATOR_HEALTH_INTERVAL_S": "0",  # the caches are not reachable from here
    }


def embedded_geoip() -> Path:
    """GeoLite2 2018, the smaller embedded database, whose damaged copies the soak's requests were chosen for."""
    path = embedded_path("geolite2-2018")
    if path is None:
        raise SystemExit("the embedded GeoIP database (maxminddb-geolite2) is not installed")
    return path


def damaged_geoip(source: Path, dest: Path, count: int = 20_000, seed: int = 0) -> Path:
    """A copy of a MaxMind database with `count` random bytes of its data section overwritten, as a bad disk
    or a broken copy leaves it: it still opens, and maxminddb 2.x's C reader crashes on some of its records."""
    with maxminddb.open_database(str(source)) as reader:
        metadata = reader.metadata()
    data = bytearray(source.read_bytes())
    start = metadata.node_count * metadata.record_size * 2 // 8 + 16  # after the search tree and its separator
    end = data.rfind(b"\xab\xcd\xefMaxMind.com")  # the metadata, which stays readable
    rng = random.Random(seed)
    for _ in range(count):
        data[rng.randrange(start, end)] = rng.randrange(256)
    dest.write_bytes(data)
    return dest


def leftovers(root: Path) -> list[str]:
    """Temporary files beside the data: a write that was not finished and renamed."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


# --- faults at start ----------------------------------------------------------------------------------


def start_faults(work: Path) -> list[tuple[str, bool, str]]:
    """Each broken start: the expected outcome, whether it held, and what the server said. The starts run a few
    at a time (each in its own directory, on its own port): most of a start is waiting."""
    cases: list[Callable[[], tuple[str, bool, str]]] = []

    def case(name: str, expect: str, breakage: Callable[[Path, dict[str, str]], None]) -> None:
        cases.append(lambda: started(name, expect, breakage))

    def started(name: str, expect: str, breakage: Callable[[Path, dict[str, str]], None]) -> tuple[str, bool, str]:
        root = work / name.replace(" ", "-")
        env = fresh_data(root)
        breakage(root, env)
        server = Server(env)
        try:
            up = server.started()
            if up:
                _, ready = server.get("/readyz")
                outcome = f"serves: {ready['status']}; degraded: {ready['degraded'] or 'no'}"
                answers = [server.get(path)[0] for path, headers in REQUESTS if "?ip=" in path]
                held = expect == ready["status"] and answers == [200] * len(answers)
            else:
                lines = [line for line in server.stderr().splitlines() if line.strip()]
                outcome = f"refuses (exit {server.process.returncode}): {lines[-1] if lines else ''}"
                held = expect == "refuses" and server.process.returncode == 2 and len(lines) == 1
            if left := leftovers(root):
                outcome += f"; left behind: {', '.join(left)}"
            held = held and not left
        finally:
            server.stop()
        return name, held, outcome

    def truncated_geoip(root: Path, env: dict[str, str]) -> None:
        (root / "City.mmdb").write_bytes(embedded_geoip().read_bytes()[:4096])

    def damaged(root: Path, env: dict[str, str]) -> None:
        damaged_geoip(embedded_geoip(), root / "City.mmdb")

    def tampered_store(root: Path, env: dict[str, str]) -> None:
        ensure_store(root / "airports.csv", root / "airports.sqlite")
        with KVNamespace(root / "airports.sqlite", NAMESPACE) as store:
            store.put_many((code, "[" * 100_000 + "]" * 100_000) for code, _ in store.items())

    def corrupt_store(root: Path, env: dict[str, str]) -> None:
        (root / "airports.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))

    def corrupt_store_without_csv(root: Path, env: dict[str, str]) -> None:
        corrupt_store(root, env)
        (root / "airports.csv").unlink()

    def killed_while_building(root: Path, env: dict[str, str]) -> None:
        # A store build killed half-way (SIGKILL: no cleanup) must leave no half-written store; its
        # temporary file and SQLite's journal beside it, once stale, are removed by the next build, which this
        # start performs. The kill lands inside the build's one transaction (the journal exists then), the case
        # that leaves both behind.
        codes = [a + b + c for a in LETTERS for b in LETTERS for c in LETTERS]
        rows = "".join(
            f"{code},Airport {code},City,XX,NA,{10 + i % 70}.5,{i % 170}.25\n" for i, code in enumerate(codes)
        )
        (root / "airports.csv").write_text("iata,name,city,country,continent,latitude,longitude\n" + rows)
        # On a busy machine the kill can land just after the transaction ends (only the temporary file left) or
        # after the whole build: that run proves nothing, so it is cleared and tried again.
        for _ in range(5):
            builder = subprocess.Popen(
                [sys.executable, "-m", "locator", "airports", "load"],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 30
            while not any(p.name.endswith(".tmp-journal") for p in root.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.002)
            builder.kill()
            if builder.wait() != -signal.SIGKILL:
                (root / "airports.sqlite").unlink(missing_ok=True)
                continue  # it finished before the kill
            if (root / "airports.sqlite").exists():
                raise RuntimeError("a killed build left a store behind")
            left = sorted(p.suffix for p in root.glob(".*.tmp*"))
            if left == [".tmp", ".tmp-journal"]:
                break
            for temp in root.glob(".*.tmp*"):
                temp.unlink()
        else:
            raise RuntimeError("five kills in a row missed the build's transaction")
        for temp in root.glob(".*.tmp*"):
            os.utime(temp, (time.time() - 3600, time.time() - 3600))

    case("GeoIP database missing", "degraded", lambda r, e: e.update(LOCATOR_GEOIP_DB=str(r / "none.mmdb")))
    case("GeoIP database truncated", "degraded", truncated_geoip)
    case("GeoIP database damaged", "degraded", damaged)
    case("key-value store deleted", "ready", lambda r, e: None)  # fresh_data has no store: rebuilt at start
    case("key-value store corrupted", "ready", corrupt_store)
    case("store corrupted, CSV missing", "degraded", corrupt_store_without_csv)
    case("store values tampered (deeply nested JSON)", "degraded", tampered_store)
    case("store build killed half-way", "ready", killed_while_building)
    case("caches file missing", "refuses", lambda r, e: (r / "caches.csv").unlink())
    case("caches file garbage", "refuses", lambda r, e: (r / "caches.csv").write_bytes(GARBAGE[1]))
    case("overrides file garbage", "refuses", lambda r, e: (r / "overrides.csv").write_text("network\n300.1.1.1/8\n"))
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda run: run(), cases))


# --- load while the files change ------------------------------------------------------------------------


def load(port: int, stop_at: float, counts: Counter[str], failures: list[str], lock: threading.Lock) -> None:
    """One keep-alive client sending the request mix until `stop_at`."""
    rng = random.Random()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while time.monotonic() < stop_at:
            path, headers = rng.choice(REQUESTS)
            try:
                status = client.get(path, headers=headers).status_code
                outcome = str(status) if status in (200, 307) else f"failed {status}"
            except httpx.HTTPError as exc:
                outcome = f"failed {type(exc).__name__}"
            with lock:
                counts[outcome] += 1
                if outcome.startswith("failed") and len(failures) < 20:
                    failures.append(f"{path}: {outcome}")


def exchange(port: int, payload: bytes, wait_s: float) -> bytes:
    """Send `payload` as far as the server takes it; what comes back before the connection ends."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait_s)
        with contextlib.suppress(OSError):  # closed while we were still sending: its answer is waiting
            sock.sendall(payload)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


HEAD = b"GET /nearest?n=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
ATTACKS: dict[str, tuple[bytes, bytes]] = {  # name: (what is sent, the status line expected)
    "1 MB header": (HEAD + b"x-big: " + b"a" * (1 << 20) + b"\r\n\r\n", b"HTTP/1.1 431 "),
    "50,000 headers": (HEAD + b"".join(b"x-h%d: v\r\n" % i for i in range(50_000)) + b"\r\n", b"HTTP/1.1 431 "),
    "unfinished head": (HEAD + b"x-slow: never ends", b"HTTP/1.1 408 "),
}


def hostile(port: int, stop_at: float, counts: Counter[str], failures: list[str], lock: threading.Lock) -> None:
    """Oversized heads, header floods and heads that never finish, in turn, until `stop_at`."""
    names = list(ATTACKS)
    turn = 0
    while time.monotonic() < stop_at:
        name = names[turn % len(names)]
        turn += 1
        payload, expected = ATTACKS[name]
        answer = exchange(port, payload, HEAD_TIMEOUT_S * 3)
        with lock:
            counts[f"{name} -> {answer[:12].decode(errors='replace').strip() or 'nothing'}"] += 1
            if not answer.startswith(expected) and len(failures) < 20:
                failures.append(f"{name}: {answer[:60]!r}")


GEO = "/api/v1.0/geo"
LINCOLN = "129.93.1.1"  # the caching string: a client in Lincoln, Nebraska
# Servers named by new names each time, which the stand-in DNS resolves at once (`<x>.<a-b-c-d>.ip.example`):
# CERN, Fermilab, UCSD, Madison.
RESOLVABLE = ("128.142.1.1", "131.225.1.1", "132.239.1.1", "128.104.1.1")


def geo_flood(port: int, stop_at: float, counts: Counter[str], wrong: list[str], lock: threading.Lock) -> None:
    """One keep-alive client asking the geo API, until `stop_at`, to order 63 new names the DNS never answers and
    one address (64 servers, the most a request may name): each answer may only say that those did not resolve
    in time, and be kept a minute."""
    serial = itertools.count()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        while time.monotonic() < stop_at:
            batch = f"{threading.get_ident()}-{next(serial)}"
            names = ",".join(f"never-{batch}-{i}.example" for i in range(63))
            try:
                response = client.get(f"{GEO}/{LINCOLN}/{names},{LINCOLN}")
                outcome = f"{response.status_code} {response.headers.get('cache-control')}"
            except httpx.HTTPError as exc:
                outcome = f"failed {type(exc).__name__}"
            with lock:
                counts[outcome] += 1
                if outcome != "200 max-age=60" and len(wrong) < 20:
                    wrong.append(f"geo flood: {outcome}")


def geo_ordinary(port: int, stop_at: float, counts: Counter[str], wrong: list[str], lock: threading.Lock) -> None:
    """Ordinary geo requests during the flood, twice a second, each naming new names that resolve at once: each
    must be ordered as the same servers named by their addresses are (asked first), and kept the legacy hour."""
    rng = random.Random()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        expected = (client.get(f"{GEO}/{LINCOLN}/{','.join(RESOLVABLE)}").text, "max-age=3600")
        while time.monotonic() < stop_at:
            dashed = (address.replace(".", "-") for address in RESOLVABLE)
            names = ",".join(f"s{rng.getrandbits(48):x}.{address}.ip.example" for address in dashed)
            try:
                response = client.get(f"{GEO}/{LINCOLN}/{names}")
                outcome = (response.text, response.headers.get("cache-control"))
            except httpx.HTTPError as exc:
                outcome = (f"failed {type(exc).__name__}", None)
            with lock:
                right = outcome == expected
                counts["ordinary ordered right" if right else "ordinary ordered otherwise"] += 1
                if not right and len(wrong) < 20:
                    wrong.append(f"geo ordinary: {outcome}")
            time.sleep(0.5)


def chaos(root: Path, server: Server, stop_at: float, actions: Counter[str]) -> None:
    """Rewrite, cut, garble, delete and restore the data files, damage and restore the GeoIP database, and
    send SIGHUP, alone or two at once over two renames, until `stop_at`."""
    good_caches, good_overrides = (root / "caches.csv").read_bytes(), (root / "overrides.csv").read_bytes()
    good_geoip, bad_geoip = (
        (root / "City.mmdb").read_bytes(),
        damaged_geoip(root / "City.mmdb", root / "bad").read_bytes(),
    )
    (root / "bad").unlink()
    lines = good_caches.splitlines(keepends=True)
    fewer = b"".join(lines[:10])  # a cut too big for LOCATOR_RELOAD_MAX_SHRINK: refused
    most = b"".join(lines[:-3])  # three caches fewer: taken
    cut = good_caches[: good_caches.index(b"https://", len(good_caches) // 2) + 12]  # a writer stopped mid-URL
    rng = random.Random(1)

    def atomic(path: Path, content: bytes) -> None:
        with replacing(path) as temp:
            temp.write_bytes(content)

    def overlapping_reloads() -> None:
        atomic(root / "caches.csv", most)
        server.process.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        atomic(root / "caches.csv", good_caches)
        server.process.send_signal(signal.SIGHUP)

    steps: dict[str, Callable[[], None]] = {
        "caches replaced (rename)": lambda: atomic(root / "caches.csv", rng.choice([good_caches, most, fewer])),
        "caches rewritten in place": lambda: (root / "caches.csv").write_bytes(rng.choice([good_caches, fewer])),
        "caches cut mid-URL in place": lambda: (root / "caches.csv").write_bytes(cut),
        "caches replaced by garbage": lambda: (root / "caches.csv").write_bytes(rng.choice(GARBAGE)),
        "caches deleted": lambda: (root / "caches.csv").unlink(missing_ok=True),
        "caches restored": lambda: atomic(root / "caches.csv", good_caches),
        "two renames, two SIGHUPs 0.05 s apart": overlapping_reloads,
        "overrides garbage": lambda: (root / "overrides.csv").write_bytes(b"network,latitude,longitude\nnope,1,1\n"),
        "overrides restored": lambda: atomic(root / "overrides.csv", good_overrides),
        "GeoIP damaged (rename)": lambda: atomic(root / "City.mmdb", bad_geoip),
        "GeoIP restored (rename)": lambda: atomic(root / "City.mmdb", good_geoip),
        "SIGHUP": lambda: server.process.send_signal(signal.SIGHUP),
    }
    while time.monotonic() < stop_at:
        name = rng.choice(list(steps))
        steps[name]()
        actions[name] += 1
        time.sleep(rng.uniform(0.05, 0.4))
    atomic(root / "caches.csv", good_caches)
    atomic(root / "overrides.csv", good_overrides)
    atomic(root / "City.mmdb", good_geoip)


def soak(work: Path, duration_s: float, concurrency: int) -> tuple[bool, list[str]]:
    root = work / "soak"
    env = fresh_data(root)
    dns = FakeDNS({})
    env.update(LOCATOR_GEO_DNS_SERVERS=dns.server, LOCATOR_GEO_DNS_TIMEOUT_S="1")
    expected = len(load_caches(root / "caches.csv").in_service)
    server = Server(env)
    report = []
    try:
        if not server.started():
            return False, [f"the server did not start: {server.stderr()[-500:]}"]
        process = psutil.Process(server.process.pid)
        rss = [process.memory_info().rss / 2**20]
        counts: Counter[str] = Counter()
        attacks: Counter[str] = Counter()
        actions: Counter[str] = Counter()
        failures: list[str] = []
        wrong: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + duration_s
        threads = [
            threading.Thread(target=load, args=(server.port, stop_at, counts, failures, lock))
            for _ in range(concurrency)
        ]
        threads += [
            threading.Thread(target=hostile, args=(server.port, stop_at, attacks, wrong, lock))
            for _ in range(max(2, concurrency // 2))
        ]
        geo: Counter[str] = Counter()
        threads += [
            threading.Thread(target=geo_flood, args=(server.port, stop_at, geo, wrong, lock))
            for _ in range(max(2, concurrency))
        ]
        threads.append(threading.Thread(target=geo_ordinary, args=(server.port, stop_at, geo, wrong, lock)))
        threads.append(threading.Thread(target=chaos, args=(root, server, stop_at, actions)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            rss.append(process.memory_info().rss / 2**20)
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 10  # the restored files settle and reload (the GeoIP check included)
        while time.monotonic() < deadline:
            _, ready = server.get("/readyz")
            if ready["status"] == "ready" and ready["caches_in_service"] == expected:
                break
            time.sleep(0.2)
        total = sum(counts.values())
        failed = sum(n for outcome, n in counts.items() if outcome.startswith("failed"))
        ordinary = geo["ordinary ordered right"] + geo["ordinary ordered otherwise"]
        flood_requests = sum(geo.values()) - ordinary
        report += [
            f"load: {total:,} requests in {elapsed:.1f} s from {concurrency} clients ({total / elapsed:,.0f}/s): "
            + ", ".join(f"{outcome}: {n:,}" for outcome, n in sorted(counts.items())),
            f"failed requests: {failed}",
            *[f"  {line}" for line in failures],
            "hostile: " + ", ".join(f"{outcome} x{n:,}" for outcome, n in sorted(attacks.items())),
            "geo API flood: " + ", ".join(f"{outcome} x{n:,}" for outcome, n in sorted(geo.items())),
            f"geo API DNS queries: {dns.queries:,} for {flood_requests:,} flood and {ordinary:,} ordinary requests "
            f"(at most {MAX_QUERIES_PER_REQUEST} a request: {LOOKUPS_PER_REQUEST} names, A and AAAA, {TRIES} tries)",
            f"hostile requests answered otherwise: {len(wrong)}",
            *[f"  {line}" for line in wrong],
            f"server memory: RSS {rss[0]:.0f} MB at the start, at most {max(rss):.0f} MB "
            f"(limit {MEMORY_LIMIT_MB:.0f} MB)",
            "file changes: " + ", ".join(f"{name} x{n}" for name, n in sorted(actions.items())),
            f"after the load: /readyz {ready['status']}, {ready['caches_in_service']} caches in service "
            f"(the file renamed in last puts {expected} in service), "
            f"GeoIP {(ready['geoip'] or {}).get('database_type')}",
            f"temporary files left: {leftovers(root) or 'none'}",
        ]
        ok = (
            failed == 0
            and total > 0
            and not wrong
            and sum(attacks.values()) > 0
            and flood_requests > 0
            and geo["ordinary ordered right"] > 0
            and dns.queries <= MAX_QUERIES_PER_REQUEST * (flood_requests + ordinary)
            and max(rss) < MEMORY_LIMIT_MB
            and ready["status"] == "ready"
            and ready["caches_in_service"] == expected
            and ready["geoip"]
            and not leftovers(root)
        )
        return ok, report
    finally:
        server.stop()
        dns.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="locator-soak-") as scratch:
        work = Path(scratch)
        print("== faults at start")
        faults = start_faults(work)
        for name, held, outcome in faults:
            print(f"{'PASS' if held else 'FAIL'}  {name}: {outcome}")
        print(f"== soak: {args.duration:g} s, {args.concurrency} clients, files changing throughout")
        soaked, report = soak(work, args.duration, args.concurrency)
        print("\n".join(report))
    ok = soaked and all(held for _, held, _ in faults)
    print("== result:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
