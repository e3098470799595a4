"""End to end: a real `locator serve` process, a real file server standing in for a cache, and curl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from scripts.launch import free_port, launch_locator, stop, wait

pytestmark = pytest.mark.e2e

CHICAGO_EDGE = ["-H", "cf-iplatitude: 41.9", "-H", "cf-iplongitude: -87.6", "-H", "cf-ipcity: Chicago"]


def wait_until_responds(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """`url` answers, or the test fails saying the process exited."""
    if not wait(url, process, timeout_s):
        raise RuntimeError(f"{process.args} exited with {process.returncode}")


def log_messages(log: str) -> list[str]:
    """The `message` of each JSON log line a server wrote."""
    return [json.loads(line)["message"] for line in log.splitlines() if line.startswith("{")]


def serve(
    caches: Path, data: Path, stdout: int | None = None, stderr: int | None = None, **settings: str
) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m locator serve` on a free port: `caches`, its airports store under `data`, and LOCATOR_<NAME>
    settings by keyword. Returns the process and its port."""
    launched = launch_locator(
        {
            "caches_file": str(caches),
            "airports_store": str(data / "airports.sqlite"),
            "health_interval_s": "0",  # no probes of the fixture caches unless a test asks for them
            "allow_private_endpoints": "true",  # the stand-in caches listen on 127.0.0.1
            **settings,
        },
        stdout,
        stderr,
    )
    return launched.process, launched.port


@pytest.fixture(scope="module")
def cache_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m http.server` serving one file: the stand-in for an OSDF cache."""
    root = tmp_path_factory.mktemp("cache")
    (root / "ospool" / "data").mkdir(parents=True)
    (root / "ospool" / "data" / "hello.txt").write_text("hello from the nearest cache\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_responds(url + "/", process)
    yield url
    stop(process)


@pytest.fixture(scope="module")
def locator_url(cache_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m locator serve` as a real process, with a cache file naming the local file server."""
    data = tmp_path_factory.mktemp("locator")
    (data / "caches.csv").write_text(
        "name,endpoint,latitude,longitude\n"
        "FarAway,http://127.0.0.1:9,-33.9,151.2\n"  # Sydney; port 9 (discard) never answers HTTP
        f"LocalChicago,{cache_server},41.8882,-87.6164\n"
    )
    process, port = serve(data / "caches.csv", data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_responds(url + "/healthz", process)
    yield url
    # uvicorn shuts down gracefully, then re-raises SIGTERM so that the exit status says why it stopped.
    assert stop(process) in (0, -signal.SIGTERM)
    assert process.stdout is not None
    with process.stdout:
        log = process.stdout.read().decode()
    assert "Application startup complete" in log and "Finished server process" in log
    assert "Traceback" not in log


def test_curl_follows_the_redirect_to_the_nearest_cache_and_gets_the_file(locator_url: str) -> None:
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-L",
            "--max-time",
            "20",
            *CHICAGO_EDGE,
            f"{locator_url}/ospool/data/hello.txt?job=42",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the nearest cache\n"


def test_curl_sees_a_307_with_location_and_links(locator_url: str, cache_server: str) -> None:
    result = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", "/dev/null", *CHICAGO_EDGE, f"{locator_url}/a/b?x=1"],
        capture_output=True,
        text=True,
        check=True,
    )
    headers = result.stdout.lower()
    assert headers.startswith("http/1.1 307")
    assert f"location: {cache_server}/a/b?x=1" in headers
    assert 'rel="duplicate"; pri=2' in headers
    assert "cache-control: no-store" in headers


def test_trust_is_judged_on_the_real_socket_peer(locator_url: str) -> None:
    """uvicorn must not rewrite the peer from X-Forwarded-For: our app applies the trust rule itself."""
    headers = {"X-Forwarded-For": "129.93.1.1", "CF-Ray": "6c3f0f0a9e1b2c3d-ORD"}
    body = httpx.get(f"{locator_url}/nearest?n=1", headers=headers, timeout=10).json()
    assert body["client"]["ip"] == "129.93.1.1"  # forwarded by a trusted peer (loopback)
    assert body["client"]["colo"] == "ORD"  # so the colo header counts too


def test_nearest_over_real_http(locator_url: str, cache_server: str) -> None:
    body = httpx.get(f"{locator_url}/nearest?lat=41.8&lon=-87.7", timeout=10).json()
    assert body["method"] == "declared"
    assert [cache["name"] for cache in body["caches"]] == ["LocalChicago", "FarAway"]
    assert body["caches"][0]["endpoint"] == cache_server
    text = httpx.get(f"{locator_url}/nearest?lat=41.8&lon=-87.7&format=text", timeout=10).text
    assert text.splitlines()[0] == cache_server


def test_serve_refuses_to_start_with_a_broken_cache_file(tmp_path: Path) -> None:
    (tmp_path / "caches.csv").write_text("name,endpoint,latitude,longitude\nA,ftp://x,1,2\n")
    env = {
        **os.environ,
        "LOCATOR_CACHES_FILE": str(tmp_path / "caches.csv"),
        "LOCATOR_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "locator", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("locator: error: ")
    assert "line 2: endpoint 'ftp://x' is not an http:// or https:// URL" in result.stderr
    assert "Traceback" not in result.stderr
