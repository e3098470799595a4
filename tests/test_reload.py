"""Live reload of the caches and overrides files: changes picked up, broken files keep the previous data,
no request fails while it happens, and SIGHUP works on a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import CACHES_CSV
from tests.test_e2e import serve, stop, wait_until_responds

ONE_CACHE = "name,endpoint,latitude,longitude\nOnly,https://only.example.org:8443,41.9,-87.6\n"


def settle(path: Path) -> None:
    """Backdate the file, as if written more than SETTLE_S ago (the reloader skips files still being written)."""
    past = time.time() - 10
    os.utime(path, (past, past))


def reloader(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.locator.reloader  # type: ignore[attr-defined]


def names(client: TestClient) -> list[str]:
    return [c["name"] for c in client.get("/caches").json()["caches"]]


def test_a_changed_cache_file_is_reloaded(client: TestClient, data_dir: Path) -> None:
    (data_dir / "caches.csv").write_text(ONE_CACHE)
    assert reloader(client).check() == []  # just written: wait until it settles
    settle(data_dir / "caches.csv")
    assert reloader(client).check() == ["caches"]
    assert names(client) == ["Only"]
    assert client.get("/nearest").json()["caches"][0]["name"] == "Only"
    assert reloader(client).check() == []  # unchanged: nothing to do


def test_a_broken_file_keeps_the_previous_list_and_is_reported(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "caches.csv"
    path.write_text("name,endpoint,latitude,longitude\nHalf,https://half.example,41.9")  # cut mid-line
    settle(path)
    assert reloader(client).check() == []
    assert len(names(client)) == 8  # the previous list is still served
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert "line 2" in ready["reload"]["caches"]["error"]
    metrics = client.get("/metrics").text
    assert 'locator_reload_failures_total{file="caches"} 1.0' in metrics
    assert 'locator_reload_error{file="caches"} 1.0' in metrics
    path.write_text(ONE_CACHE)  # fixed
    settle(path)
    assert reloader(client).check() == ["caches"]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["reload"]["caches"]["error"] is None


def test_deleted_then_restored(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "caches.csv"
    path.unlink()
    reloader(client).check()
    assert len(names(client)) == 8
    assert "not found" in client.get("/readyz").json()["reload"]["caches"]["error"]
    path.write_text(CACHES_CSV + "Extra,https://extra.example.org:8443,1,1,up,X\n")
    settle(path)
    assert reloader(client).check() == ["caches"]
    assert len(names(client)) == 9


def test_overrides_reload_and_disappear(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "overrides.csv"
    path.write_text("network,latitude,longitude\n129.93.0.0/16,29.76,-95.37\n")
    settle(path)
    assert reloader(client).check() == ["overrides"]
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["method"] == "override" and body["caches"][0]["name"] == "Houston"
    path.unlink()  # overrides are optional: no file, no overrides
    assert reloader(client).check() == ["overrides"]
    assert client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()["method"] == "geoip"


def test_no_request_fails_while_files_flip_between_good_and_broken(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "caches.csv"
    failures: list[str] = []
    served = 0
    stop_at = time.monotonic() + 3.0

    def hammer() -> None:
        nonlocal served
        while time.monotonic() < stop_at:
            for url in ("/nearest?lat=40&lon=-96", "/file.txt"):
                response = client.get(url)
                if response.status_code not in (200, 307):
                    failures.append(f"{url}: {response.status_code} {response.text}")
                served += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    contents = [ONE_CACHE, "garbage\x00\xff", CACHES_CSV, "name,endpoint\n", ""]
    flips = 0
    while time.monotonic() < stop_at:
        path.write_bytes(contents[flips % len(contents)].encode("latin-1"))
        settle(path)
        reloader(client).check()
        flips += 1
    for thread in threads:
        thread.join()
    assert failures == []
    assert served >= 20 and flips >= 5  # work happened on both sides (not a speed check)


@pytest.mark.e2e
def test_sighup_reloads_a_real_server(tmp_path: Path) -> None:
    caches = tmp_path / "caches.csv"
    caches.write_text(CACHES_CSV)
    process, port = serve(caches, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, reload_interval_s="0")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_responds(url + "/healthz", process)
        caches.write_text(ONE_CACHE)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url + "/caches", timeout=5) as response:
                if [c["name"] for c in json.load(response)["caches"]] == ["Only"]:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("SIGHUP did not reload the cache file")
    finally:
        stop(process)
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    assert '"message": "reloaded caches and namespaces and overrides' in log
