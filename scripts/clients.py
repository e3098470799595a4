"""Real data-transfer clients through a real `locator serve`: which fetch a file, and which still get it when the
nearest cache is down.

    python -m scripts.clients        # runs every client three times and prints the README's table (about 20 s)

Three local file servers stand in for caches in Lincoln, Kansas City and Chicago; the operator's overrides put
every 127.0.0.1 client in Lincoln, so the locator's order is Lincoln, Kansas City, Chicago. Each client fetches
`/ospool/test/file.txt` through the locator (1) with every cache up, (2) with Lincoln's server stopped while the
locator does not know it yet (its health prober off): only a client that fails over with what the locator sent
(the Link duplicates, the Metalink) gets the file, and (3) from a locator whose prober has demoted Lincoln: every
client gets it. The clients come from Debian's packages (`make test` installs them); their programs run with
the system's PATH, outside any virtualenv (gfal-copy is a Python program of Debian's).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from scripts.launch import HOST, Launched, free_port, launch, launch_locator, trusting

OBJECT = "/ospool/test/file.txt"
CACHES = {"Lincoln": (40.82, -96.70), "Kansas City": (39.10, -94.60), "Chicago": (41.88, -87.62)}
NEAREST = "Lincoln"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIMEOUT_S = 120
Results = dict[str, tuple[str | None, str | None, str | None]]  # per client: its cache, all up / nearest down / demoted


@dataclass(frozen=True)
class Client:
    name: str
    argv: tuple[str, ...]  # {url}, {out}, {dir} and {metalink} are filled in
    saves_as: str = "out"  # the file it writes, in {dir}: `out`, or the Metalink's file name

    def command(self, locator: str, directory: Path) -> list[str]:
        fields = {
            "url": locator + OBJECT,
            "metalink": f"{locator}/nearest?path={OBJECT}&format=metalink",
            "dir": str(directory),
            "out": str(directory / "out"),
        }
        return [part.format(**fields) for part in self.argv]


CLIENTS = (
    Client("curl -L <url>", ("curl", "-sS", "-L", "--max-time", "30", "-o", "{out}", "{url}")),
    Client("wget <url>", ("wget", "-q", "--tries=1", "--timeout=10", "-O", "{out}", "{url}")),
    Client("davix-get <url>", ("davix-get", "--conn-timeout", "5", "{url}", "{out}")),
    Client("gfal-copy <url>", ("gfal-copy", "-f", "-t", "60", "{url}", "file://{out}")),
    Client(
        "gfal-copy -D 'HTTP PLUGIN:METALINK=true' <url>",
        ("gfal-copy", "-f", "-t", "60", "-D", "HTTP PLUGIN:METALINK=true", "{url}", "file://{out}"),
    ),
    Client(
        "aria2c <url>", ("aria2c", "-q", "--allow-overwrite=true", "--max-tries=1", "-d", "{dir}", "-o", "out", "{url}")
    ),
    Client(
        "aria2c '<locator>/nearest?path=<object>&format=metalink'",
        ("aria2c", "-q", "--allow-overwrite=true", "--max-tries=1", "-d", "{dir}", "{metalink}"),
        saves_as="file.txt",
    ),
)
PROGRAMS = sorted({client.argv[0] for client in CLIENTS})


def fetch(client: Client, locator: str, scratch: Path) -> str | None:
    """The cache the client got the file from, or None when it did not get it."""
    directory = Path(tempfile.mkdtemp(dir=scratch))
    done = subprocess.run(
        client.command(locator, directory),
        env={"PATH": SYSTEM_PATH, "HOME": str(directory), "LANG": "C.UTF-8"},
        cwd=directory,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    saved = directory / client.saves_as
    if done.returncode != 0 or not saved.is_file():
        return None
    text = saved.read_text(errors="replace")
    return text.removeprefix("served by ").strip() if text.startswith("served by ") else None


@contextmanager
def cache(name: str, scratch: Path) -> Iterator[Launched]:
    """`python -m http.server` serving the object, which says which cache it came from."""
    root = scratch / name.replace(" ", "-")
    (root / OBJECT.lstrip("/")).parent.mkdir(parents=True)
    (root / OBJECT.lstrip("/")).write_text(f"served by {name}\n")
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", HOST, "--directory", str(root)]
    server = launch(argv, {"PATH": SYSTEM_PATH}, port, subprocess.DEVNULL, subprocess.DEVNULL)
    try:
        if not server.ready("/", 30):
            raise RuntimeError(f"the file server for {name} did not start")
        yield server
    finally:
        server.stop()


@contextmanager
def locator(scratch: Path, probing: bool, data: Mapping[str, str], ca: str | None = None) -> Iterator[Launched]:
    """`locator serve` over the stand-ins: `data` names its files (and any other setting), `probing` turns its
    health prober on (twice a second), `ca` is the authority of its certificate when `data` gives one."""
    settings = {
        **data,
        "airports_store": str(scratch / f"airports-{probing}.sqlite"),
        "health_interval_s": "0.5" if probing else "0",
        "health_timeout_s": "1",
        "access_log": "false",
        "allow_private_endpoints": "true",  # the stand-in caches are on 127.0.0.1
    }
    server = launch_locator(settings, subprocess.DEVNULL, subprocess.DEVNULL, cwd=scratch, inherit=False, ca=ca)
    try:
        if not server.ready("/healthz", 60):
            raise RuntimeError("locator serve did not start")
        yield server
    finally:
        server.stop()


def wait_demoted(server: Launched, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = httpx.get(server.url + "/caches", timeout=5, verify=trusting(server.ca)).json()["caches"]
        if any(entry["name"] == name and entry["health"]["state"] in ("degraded", "failed") for entry in listed):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the prober did not demote {name} within {timeout_s:g} s")


def run() -> Results:
    """Per client: the cache it got the file from with all up, with the nearest down, after the prober."""
    results: dict[str, list[str | None]] = {client.name: [] for client in CLIENTS}
    with tempfile.TemporaryDirectory(prefix="locator-clients-") as temporary, ExitStack() as stack:
        scratch = Path(temporary)
        servers = {name: stack.enter_context(cache(name, scratch)) for name in CACHES}
        caches = scratch / "caches.csv"
        caches.write_text(
            "name,endpoint,latitude,longitude\n"
            + "".join(f"{name},{servers[name].url},{lat},{lon}\n" for name, (lat, lon) in CACHES.items())
        )
        overrides = scratch / "overrides.csv"
        overrides.write_text("network,latitude,longitude,note\n127.0.0.0/8,40.81,-96.68,every test client\n")
        data = {"caches_file": str(caches), "overrides_file": str(overrides)}
        unaware = stack.enter_context(locator(scratch, False, data))
        probing = stack.enter_context(locator(scratch, True, data))
        for client in CLIENTS:
            results[client.name].append(fetch(client, unaware.url, scratch))
        servers[NEAREST].stop()
        for client in CLIENTS:
            results[client.name].append(fetch(client, unaware.url, scratch))
        wait_demoted(probing, NEAREST)
        for client in CLIENTS:
            results[client.name].append(fetch(client, probing.url, scratch))
    return {name: (got[0], got[1], got[2]) for name, got in results.items()}


def cell(got: str | None) -> str:
    return "no" if got is None else f"yes ({got})"


def table(results: Results) -> str:
    rows: list[Sequence[str]] = [
        (
            "client",
            "fetch (all up)",
            "failover: nearest down, the locator not aware",
            "nearest down, demoted by the prober",
        ),
        ("---", "---", "---", "---"),
    ]
    rows += [(f"`{name}`", *map(cell, got)) for name, got in results.items()]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"


if __name__ == "__main__":
    print(table(run()), end="")
