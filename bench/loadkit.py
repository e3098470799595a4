"""Shared plumbing for the HTTP benchmarks: servers as real subprocesses, the request mix, wrk and its fallback.

Every load goes to 127.0.0.1 only and every run is bounded (a duration or a request count), so a benchmark
always stops by itself. Results carry the CPU time of the server and of the load generator, measured over
the same interval, so that a reader can see which of the two was the bottleneck.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2 as httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from locator.settings import DATA_DIR
from locator.sources.caches_file import load_caches
from scripts.launch import HOST, free_port, launch, stop  # the one server launcher

ROOT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_line() -> str:
    """The line every benchmark prints first: figures only compare on the same machine."""
    return f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().release}"


def speed_probe() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 3): this host's CPU speed right now.

    Shared virtual machines change speed in phases (here up to 2x for seconds at a time); a probe that moves
    during a run says the absolute figures moved with it, which is why results are ratios of interleaved rounds.
    """
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000


# --- the request mix -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A real public address the embedded databases know, where its edge would place it, its colo."""

    ip: str
    latitude: float
    longitude: float
    city: str
    country: str
    colo: str


# City-level in the default database (tests/test_bench_smoke.py checks), with the Cloudflare colo nearby.
CITY_CLIENTS: tuple[Client, ...] = (
    Client("129.93.1.1", 40.8, -96.667, "Lincoln", "US", "OMA"),
    Client("128.138.129.1", 40.015, -105.2706, "Boulder", "US", "DEN"),
    Client("129.219.10.1", 33.4148, -111.9093, "Tempe", "US", "PHX"),
    Client("146.163.1.1", 38.8114, -89.9532, "Edwardsville", "US", "STL"),
    Client("128.104.1.1", 43.0731, -89.4012, "Madison", "US", "ORD"),
    Client("132.239.1.1", 32.8807, -117.2359, "La Jolla", "US", "SAN"),
    Client("131.225.1.1", 41.88, -88.3587, "Batavia", "US", "ORD"),
    Client("128.112.1.1", 40.3756, -74.6597, "Princeton", "US", "EWR"),
    Client("128.141.1.1", 46.2324, 6.0502, "Geneva", "CH", "GVA"),
    Client("192.16.199.1", 52.3556, 4.9135, "Amsterdam", "NL", "AMS"),
    Client("192.108.45.1", 49.0047, 8.3858, "Karlsruhe", "DE", "FRA"),
    Client("141.108.1.1", 41.9, 12.4833, "Rome", "IT", "FCO"),
    Client("130.246.1.1", 51.5833, -1.4, "Wantage", "GB", "LHR"),
)
# Anycast: DB-IP places it at its registrant in Mountain View, GeoLite2 2018 only at the US centroid. Received
# in Dallas, the cross-check refuses DB-IP's answer (2,300 km from the colo) and the colo decides; asked with
# the address alone, DB-IP's answer is taken.
ANYCAST_CLIENT = Client("8.8.8.8", 37.751, -97.822, "", "US", "DFW")


@dataclass(frozen=True)
class Request:
    """One request of a mix: path and headers, and what the locator is expected to do with it."""

    path: str
    headers: Mapping[str, str]
    kind: str  # edge | colo_only | ip_only | legacy | plain
    expect_method: str = ""  # the /nearest `method` this request should produce ("" = not checked)


def cf_ray(rng: random.Random, colo: str) -> str:
    return f"{rng.getrandbits(64):016x}-{colo}"


def cloudflare_mix(path: str = "/nearest", seed: int = 7) -> list[Request]:
    """A realistic Cloudflare-fronted mix, 40 requests rotated in a seeded order.

    70% the edge's own GeoIP (lat/lon/city/country, CF-Ray with a colo, CF-Connecting-IP); 20% the edge's
    GeoIP failed (CF-IPCountry `XX`, only the colo and the client address); 10% only CF-Connecting-IP.
    """
    rng = random.Random(seed)
    mix: list[Request] = []
    for i in range(28):
        c = CITY_CLIENTS[i % len(CITY_CLIENTS)]
        headers = {
            "cf-iplatitude": f"{c.latitude + 0.01:.4f}",
            "cf-iplongitude": f"{c.longitude - 0.01:.4f}",
            "cf-ipcity": c.city,
            "cf-ipcountry": c.country,
            "cf-ray": cf_ray(rng, c.colo),
            "cf-connecting-ip": c.ip,
        }
        mix.append(Request(path, headers, "edge", "edge"))
    colo_only = [*CITY_CLIENTS[:4], ANYCAST_CLIENT, CITY_CLIENTS[8], CITY_CLIENTS[9], ANYCAST_CLIENT]
    for c in colo_only:
        headers = {"cf-ipcountry": "XX", "cf-ray": cf_ray(rng, c.colo), "cf-connecting-ip": c.ip}
        mix.append(Request(path, headers, "colo_only", "colo" if c is ANYCAST_CLIENT else "geoip"))
    for c in (CITY_CLIENTS[0], CITY_CLIENTS[8], ANYCAST_CLIENT, CITY_CLIENTS[4]):
        mix.append(Request(path, {"cf-connecting-ip": c.ip}, "ip_only", "geoip"))
    rng.shuffle(mix)
    return mix


def client_ips() -> list[str]:
    return [c.ip for c in CITY_CLIENTS] + [ANYCAST_CLIENT.ip]


def describe_mix(mix: Sequence[Request]) -> str:
    kinds: dict[str, int] = {}
    for request in mix:
        kinds[request.kind] = kinds.get(request.kind, 0) + 1
    return ", ".join(f"{kind} {100 * count / len(mix):.0f}%" for kind, count in kinds.items())


# --- servers ----------------------------------------------------------------------------------------------


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET that never follows redirects: (status, body)."""
    response = httpx.get(url, headers=dict(headers or {}), timeout=timeout)
    return response.status_code, response.content


@dataclass
class Server:
    """A server running as a real subprocess on 127.0.0.1; stop() ends it (only it: by its own pid)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def memory_kb(self) -> dict[str, int]:
        """VmRSS, VmHWM, RssAnon, RssFile and RssShmem in kB, from /proc/<pid>/status (psutil has no peak,
        VmHWM, nor the anonymous/file split)."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                values[key] = int(rest.split()[0])
        return values

    def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until the server stops burning CPU: requests a load generator left in flight when it stopped
        are still being answered, and would otherwise slow down whatever is measured next."""
        deadline = time.monotonic() + timeout_s
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu_seconds()
            if now - before <= 1.0 / CLOCK_TICKS:
                return
            before = now

    def stop(self) -> None:
        stop(self.process)


def start_server(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    port: int,
    ready_path: str,
    log_dir: Path,
    cwd: Path = ROOT,
) -> Server:
    """Start a server and wait until `ready_path` answers 200 (60 s at most)."""
    log_path = log_dir / f"{name.replace(' ', '_')}.log"
    with log_path.open("wb") as log:
        launched = launch(argv, env, port, log, subprocess.STDOUT, cwd)
    server = Server(name, launched.process, port, log_path)
    try:
        if launched.ready(ready_path):
            return server
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"{name} was not ready on port {port} within 60 s") from None
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{name} exited with status {launched.process.returncode} before it was ready:\n{tail}")


def base_env(**locator: str) -> dict[str, str]:
    """The parent environment without stray LOCATOR_* variables, plus the given ones (as LOCATOR_<NAME>)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCATOR_")}
    env.update({f"LOCATOR_{key.upper()}": value for key, value in locator.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def http_parser() -> str:
    """The HTTP parser every server of a run uses (BENCH_HTTP: auto, h11 or httptools; auto by default)."""
    return os.environ.get("BENCH_HTTP", "auto")


def start_locator(
    log_dir: Path, access_log: bool = False, name: str = "locator", source: Path = ROOT, **settings: str
) -> Server:
    """`python -m locator serve`, one worker, on a free port, log level info (the default).

    The access log (LOCATOR_ACCESS_LOG, on by default) is off unless asked for, as the bare app has none;
    extra LOCATOR_* settings by keyword. `source` is the source tree to serve (another commit's worktree,
    for a comparison within one run); its own data/ directory comes with it.
    """
    port = free_port()
    env = base_env(
        host=HOST, port=str(port), workers="1", access_log=str(access_log).lower(), http=http_parser(), **settings
    )
    if source != ROOT:
        env["PYTHONPATH"] = str(source)
    return start_server(name, [PYTHON, "-m", "locator", "serve"], env, port, "/healthz", log_dir, cwd=source)


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A detached git worktree of `ref` (to serve another commit's locator beside this one), removed after."""
    with tempfile.TemporaryDirectory(prefix="locator-ref-") as parent:
        path = Path(parent) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True, capture_output=True
        )
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def start_bare(log_dir: Path, name: str = "bare") -> Server:
    """bench/bare_app.py with the same uvicorn call as `locator serve` (see bare_app.py)."""
    port = free_port()
    argv = [PYTHON, "-m", "bench.bare_app", "--port", str(port), "--http", http_parser()]
    return start_server(name, argv, base_env(), port, "/", log_dir)


def start_legacy(log_dir: Path, name: str = "legacy") -> Server:
    """The legacy CVMFS GeoIP emulation over HTTP: `python -m evaluation legacy-serve --quiet`."""
    port = free_port()
    argv = [PYTHON, "-m", "evaluation", "legacy-serve", "--host", HOST, "--port", str(port), "--quiet"]
    ready = "/api/v1.0/geo/129.93.1.1/129.93.1.1"
    return start_server(name, argv, base_env(), port, ready, log_dir)


# The caches a stand-in director reports above Pelican's load threshold: the Midwest ones nearest the largest pools.
LOADED_CACHES = ("Stashcache-Chicago", "CHTC_PELICAN_CACHE", "Stashcache-Kansas", "NEBRASKA_NRP_OSDF_CACHE")


@contextlib.contextmanager
def stand_in_director() -> Iterator[str]:
    """A Pelican director's server list on 127.0.0.1, for LOCATOR_LOAD_URL: every shipped cache, those in
    LOADED_CACHES above the load threshold, and every answer's loads different from the last, so that each poll
    installs a new snapshot as a live director's would. Yields its base URL."""
    caches = load_caches(DATA_DIR / "caches.csv").caches
    polls = itertools.count()

    class Director(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            poll = next(polls)
            body = json.dumps(
                [
                    {
                        "name": cache.name,
                        "type": "Cache",
                        "url": cache.endpoint,
                        "ioLoad": 400.0 + 25 * (poll % 8) if cache.name in LOADED_CACHES else 40.0 + poll % 8,
                        "statusWeight": 1.0,
                    }
                    for cache in caches
                ]
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            """Quiet: the benchmark prints what matters."""

    server = ThreadingHTTPServer((HOST, 0), Director)
    thread = threading.Thread(target=server.serve_forever, name="stand-in director", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for_load(server: Server, timeout_s: float = 30.0) -> None:
    """Until the locator's /nearest shows a cache's load: its feed has been read."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = http_get(f"{server.url}/nearest?lat=41.9&lon=-87.6&n=3&format=json")
        if status == 200 and any(cache.get("load") is not None for cache in json.loads(body)["caches"]):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} showed no load from its feed within {timeout_s:g} s")


def metric(server: Server, name: str) -> float:
    """One unlabelled counter or gauge from the server's /metrics, read by prometheus_client's own parser (0 when
    absent)."""
    _, body = http_get(f"{server.url}/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return 0.0


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A private temporary directory for logs, Lua scripts and rc files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# --- load generators --------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One load run: throughput, latency, errors, and who was busy."""

    generator: str
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]  # "2xx" -> count, ...
    socket_errors: int
    server_cpu: float  # CPU seconds of the server / wall seconds (1.0 = one core busy)
    generator_cpu: float  # the same for the load generator
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def unexpected(self, expected: str = "2xx") -> int:
        return sum(count for key, count in self.statuses.items() if key != expected)

    def line(self, label: str, expected: str = "2xx") -> str:
        return (
            f"{label:<34} {self.rps:>9,.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"max {self.max_ms:7.1f} ms  requests {self.requests:>8,}  non-{expected} {self.unexpected(expected)}  "
            f"socket errors {self.socket_errors}  CPU server {self.server_cpu:4.2f} / {self.generator} "
            f"{self.generator_cpu:4.2f}"
        )


def ensure_tool(name: str, package: str) -> bool:
    """True if `name` is on PATH, installing the Debian package once if it is missing and we may."""
    if shutil.which(name):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"setup: {name} missing; apt-get install -y {package}", flush=True)
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            if subprocess.run(command, capture_output=True, timeout=600).returncode != 0:
                break
    return shutil.which(name) is not None


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_lua(requests: Sequence[Request]) -> str:
    """A wrk script that rotates through the requests (each thread from its own offset), counts status
    classes per thread and prints one JSON line (`WRKJSON {...}`) with the totals and latency percentiles."""
    specs = []
    for request in requests:
        headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items())
        specs.append(f"  {{path = {lua_string(request.path)}, headers = {{{headers}}}}},")
    body = "\n".join(specs)
    return f"""-- generated by bench/loadkit.py: {len(requests)} requests, rotated
local specs = {{
{body}
}}
local prepared = {{}}
local index = 0
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads - 1)
end

function init(args)
  for i, spec in ipairs(specs) do
    prepared[i] = wrk.format("GET", spec.path, spec.headers)
  end
  index = ((offset or 0) * 7) % #prepared
  s1, s2, s3, s4, s5 = 0, 0, 0, 0, 0
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end

function response(status, headers, body)
  local k = math.floor(status / 100)
  if k == 2 then s2 = s2 + 1 elseif k == 3 then s3 = s3 + 1 elseif k == 4 then s4 = s4 + 1
  elseif k == 5 then s5 = s5 + 1 else s1 = s1 + 1 end
end

function done(summary, latency, requests)
  local c = {{0, 0, 0, 0, 0}}
  for _, t in ipairs(threads) do
    c[1] = c[1] + t:get("s1"); c[2] = c[2] + t:get("s2"); c[3] = c[3] + t:get("s3")
    c[4] = c[4] + t:get("s4"); c[5] = c[5] + t:get("s5")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %f, ' ..
    '"1xx": %d, "2xx": %d, "3xx": %d, "4xx": %d, "5xx": %d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    c[1], c[2], c[3], c[4], c[5]))
end
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    server: Server,
    requests: Sequence[Request],
    duration_s: float,
    connections: int = 30,
    threads: int = 1,
    scratch: Path | None = None,
) -> LoadResult:
    """Load `server` with wrk for `duration_s` seconds, rotating through `requests`."""
    with contextlib.ExitStack() as stack:
        folder = scratch or stack.enter_context(workdir("wrk-"))
        script = folder / "mix.lua"
        script.write_text(wrk_lua(requests))
        # wrk takes whole seconds only
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--timeout", "10s"]
        argv += ["-s", str(script), server.url + requests[0].path]
        server_before, children_before = server.cpu_seconds(), children_cpu()
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 120)
        wall = time.perf_counter() - started
        server_cpu, generator_cpu = server.cpu_seconds() - server_before, children_cpu() - children_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    return LoadResult(
        generator="wrk",
        requests=data["requests"],
        duration_s=duration,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        statuses={k: data[k] for k in ("1xx", "2xx", "3xx", "4xx", "5xx") if data[k]},
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        server_cpu=server_cpu / wall,
        generator_cpu=generator_cpu / wall,
        extra={"bytes_per_request": data["bytes"] / max(1, data["requests"])},
    )


def require(tool: str) -> str:
    """`tool` on PATH (installed with apt-get here if missing), or exit saying so: the benchmarks measure
    with wrk and siege only."""
    if not ensure_tool(tool, tool):
        raise SystemExit(f"{tool} is needed: install the Debian package {tool}")
    return tool


def warm_up(server: Server, requests: Sequence[Request], seconds: float) -> None:
    """A short unrecorded run first, so that memos, imports and sockets are warm for the measured one."""
    if seconds > 0:
        run_wrk(server, requests, seconds)
        server.wait_idle()


def bottleneck_note(result: LoadResult) -> str:
    """Which side was busy: the server (one uvicorn worker = at most one core) or the generator."""
    if result.generator_cpu >= 0.9:
        return f"WARNING: the load generator used {result.generator_cpu:.2f} cores; it may be the bottleneck"
    return f"generator used {result.generator_cpu:.2f} cores, server {result.server_cpu:.2f}: the server is the limit"


def check_methods(server: Server, mix: Sequence[Request]) -> dict[str, int]:
    """Send each distinct request once and check the cascade step the locator reports against the plan."""
    methods: dict[str, int] = {}
    for request in mix:
        status, body = http_get(server.url + request.path, request.headers)
        if status != 200:
            raise RuntimeError(f"{request.path} {dict(request.headers)} answered {status}: {body[:200]!r}")
        method = json.loads(body)["method"]
        if request.expect_method and method != request.expect_method:
            raise RuntimeError(f"{dict(request.headers)} decided by {method}, expected {request.expect_method}")
        methods[method] = methods.get(method, 0) + 1
    return methods


@dataclass(frozen=True)
class Run:
    """One series of an interleaved comparison: a label, a server and the requests to rotate through."""

    label: str
    server: Server
    requests: Sequence[Request]


def combine(rounds: Sequence[LoadResult]) -> LoadResult:
    """One result from several rounds: counts and time summed, latency percentiles the median of the rounds'."""
    statuses: dict[str, int] = {}
    for result in rounds:
        for key, count in result.statuses.items():
            statuses[key] = statuses.get(key, 0) + count
    return LoadResult(
        generator=rounds[0].generator,
        requests=sum(r.requests for r in rounds),
        duration_s=sum(r.duration_s for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        max_ms=max(r.max_ms for r in rounds),
        statuses=statuses,
        socket_errors=sum(r.socket_errors for r in rounds),
        server_cpu=statistics.fmean(r.server_cpu for r in rounds),
        generator_cpu=statistics.fmean(r.generator_cpu for r in rounds),
        extra={k: statistics.fmean(r.extra.get(k, 0.0) for r in rounds) for k in rounds[0].extra},
    )


def interleaved(
    runs: Sequence[Run], duration_s: float, rounds: int, warmup_s: float, connections: int = 30
) -> dict[str, list[LoadResult]]:
    """Run each series for `duration_s / rounds` seconds, round-robin, `rounds` times: every series sees the
    same phases of the host, and each round's ratio compares neighbours in time."""
    for run in runs:
        warm_up(run.server, run.requests, warmup_s)
    results: dict[str, list[LoadResult]] = {run.label: [] for run in runs}
    for _ in range(rounds):
        for run in runs:
            results[run.label].append(run_wrk(run.server, run.requests, duration_s / rounds, connections))
            run.server.wait_idle()
    return results


def round_ratios(subject: Sequence[LoadResult], baseline: Sequence[LoadResult]) -> list[float]:
    return [ratio(a.rps, b.rps) for a, b in zip(subject, baseline, strict=True)]


def ratio_text(ratios: Sequence[float]) -> str:
    """`0.27x (rounds 0.25-0.29)`: the median of per-round ratios and their spread."""
    return f"{statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")
