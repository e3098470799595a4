"""The one way the tests, the benchmarks, the soak run and the README's generator start a real server on
127.0.0.1 (`locator serve`, or any other) and stop it: a free port, the process, a wait until it answers (or
exits first), and SIGTERM, then SIGKILL, to the process itself only.

Imported as `scripts.launch` everywhere: the scripts and the benchmarks run as modules from the repository's
root (`python -m scripts.soak`, `python -m bench.run_all`).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx2 as httpx

HOST = "127.0.0.1"
LOCATOR = [sys.executable, "-m", "locator", "serve"]


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel picks it; the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> int:
    """SIGTERM (uvicorn finishes the requests in flight), SIGKILL if it outlasts `timeout_s`; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def trusting(ca: str | None) -> ssl.SSLContext | bool:
    """What httpx verifies HTTPS with: the system's CAs, or one CA file (a certificate of the tests' own)."""
    return True if ca is None else ssl.create_default_context(cafile=ca)


def answers(url: str, timeout_s: float = 2.0, ca: str | None = None) -> bool:
    """True when `url` answers 200."""
    try:
        return httpx.get(url, timeout=timeout_s, verify=trusting(ca)).status_code == 200
    except httpx.HTTPError:
        return False


def wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0, ca: str | None = None) -> bool:
    """True once `url` answers 200; False if `process` exited first; TimeoutError if neither."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if answers(url, ca=ca):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"{url} neither answered nor its server exited within {timeout_s:g} s")


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    port: int
    ca: str | None = None  # the CA file of a server started with HTTPS

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://{HOST}:{self.port}"

    def ready(self, path: str = "/healthz", timeout_s: float = 60.0) -> bool:
        """True once `path` answers 200; False if the process exited first; TimeoutError if neither."""
        return wait(self.url + path, self.process, timeout_s, self.ca)

    def stop(self) -> int:
        return stop(self.process)


def launch(
    argv: Sequence[str],
    env: Mapping[str, str],
    port: int,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    cwd: Path | None = None,
) -> Launched:
    """Start `argv` (which must listen on `port`); returns at once: call `ready()` to wait for it."""
    process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=stdout, stderr=stderr)
    return Launched(process, port)


def launch_locator(
    settings: Mapping[str, str],
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    cwd: Path | None = None,
    inherit: bool = True,
    ca: str | None = None,
) -> Launched:
    """`python -m locator serve` on a free port with LOCATOR_<NAME> settings given by name (`{"caches_file":
    ...}`); the caller's LOCATOR_* variables are passed on only when `inherit`. `ca`: the CA that signed the
    certificate of `ssl_certfile`, for a server that speaks HTTPS."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if inherit or not k.startswith("LOCATOR_")}
    env = {**base, **{f"LOCATOR_{name.upper()}": value for name, value in settings.items()}}
    env["LOCATOR_PORT"] = str(port)
    launched = launch(LOCATOR, env, port, stdout, stderr, cwd)
    launched.ca = ca
    return launched
