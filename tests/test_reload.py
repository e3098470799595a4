"""Live reload of the caches and overrides files: changes picked up, broken files keep the previous data,
no request fails while it happens, and SIGHUP works on a real server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from locator.settings import DATA_DIR
from locator.web.lifespan import check_files
from tests.conftest import CACHES_CSV, ClientFactory
from tests.test_e2e import log_messages, serve, stop, wait_until_responds

ONE_CACHE = "name,endpoint,latitude,longitude\nOnly,https://only.example.org:8443,41.9,-87.6\n"


def settle(path: Path) -> None:
    """Backdate the file, as if written more than SETTLE_S ago (the reloader skips files still being written)."""
    past = time.time() - 10
    os.utime(path, (past, past))


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """These tests swap whole lists (one cache for eight): the shrink guard, tested on its own, is off."""
    return make_client(reload_max_shrink="1")


def reload_files(client: TestClient, force: bool = False) -> list[str]:
    """What the watch and SIGHUP do: reload the files that changed, and count it. The names reloaded."""
    reloaded: list[str] = check_files(client.app.state.shared, force)[0]  # type: ignore[attr-defined]
    return reloaded


def names(client: TestClient) -> list[str]:
    return [c["name"] for c in client.get("/caches").json()["caches"]]


def test_a_changed_cache_file_is_reloaded(client: TestClient, data_dir: Path) -> None:
    (data_dir / "caches.csv").write_text(ONE_CACHE)
    assert reload_files(client) == []  # just written: wait until it settles
    settle(data_dir / "caches.csv")
    assert reload_files(client) == ["caches"]
    assert names(client) == ["Only"]
    assert client.get("/nearest").json()["caches"][0]["name"] == "Only"
    assert reload_files(client) == []  # unchanged: nothing to do


def test_a_broken_file_keeps_the_previous_list_and_is_reported(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "caches.csv"
    path.write_text("name,endpoint,latitude,longitude\nHalf,https://half.example,north\n")
    settle(path)
    assert reload_files(client) == []
    assert len(names(client)) == 8  # the previous list is still served
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert "line 2" in ready["reload"]["caches"]["error"]
    metrics = client.get("/metrics").text
    assert 'locator_reload_failures_total{file="caches"} 1.0' in metrics
    assert 'locator_reload_error{file="caches"} 1.0' in metrics
    path.write_text(ONE_CACHE)  # fixed
    settle(path)
    assert reload_files(client) == ["caches"]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["reload"]["caches"]["error"] is None


def test_a_file_cut_short_is_refused_until_a_restart_confirms_it(make_client: ClientFactory, data_dir: Path) -> None:
    """A writer cut off (or paused) mid-file: mid-line is refused; at a line boundary it still parses, so
    a reload that takes more than half of the listed caches away is refused; a restart takes the file."""
    client = make_client()
    path = data_dir / "caches.csv"
    lines = CACHES_CSV.splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][:20])  # header, two caches, the third cut in its URL
    settle(path)
    assert reload_files(client) == []
    assert "does not end with a newline" in client.get("/readyz").json()["reload"]["caches"]["error"]
    path.write_text("".join(lines[:4]))  # three of eight, cut at a line boundary
    settle(path)
    assert "caches" not in reload_files(client, force=True)  # SIGHUP, which skips the settle wait, too
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded" and len(names(client)) == 8
    assert "lists 3 caches where 8 are listed now" in ready["reload"]["caches"]["error"]
    assert "LOCATOR_RELOAD_MAX_SHRINK=0.5" in ready["reload"]["caches"]["error"]
    path.write_text("".join(lines[:5]))  # four of eight: half may go at once
    settle(path)
    assert reload_files(client) == ["caches"]
    assert len(names(client)) == 4
    path.write_text("".join(lines[:2]))
    settle(path)
    assert reload_files(client) == []
    assert len(names(make_client())) == 1  # a restart confirms the cut


def test_deleted_then_restored(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "caches.csv"
    path.unlink()
    reload_files(client)
    assert len(names(client)) == 8
    assert "not found" in client.get("/readyz").json()["reload"]["caches"]["error"]
    path.write_text(CACHES_CSV + "Extra,https://extra.example.org:8443,1,1,up,X\n")
    settle(path)
    assert reload_files(client) == ["caches"]
    assert len(names(client)) == 9


def test_overrides_reload_and_disappear(client: TestClient, data_dir: Path) -> None:
    path = data_dir / "overrides.csv"
    path.write_text("network,latitude,longitude\n129.93.0.0/16,29.76,-95.37\n")
    settle(path)
    assert reload_files(client) == ["overrides"]
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["method"] == "override" and body["caches"][0]["name"] == "Houston"
    path.unlink()  # overrides are optional: no file, no overrides
    assert reload_files(client) == ["overrides"]
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
        reload_files(client)
        flips += 1
    for thread in threads:
        thread.join()
    assert failures == []
    assert served >= 20 and flips >= 5  # work happened on both sides (not a speed check)


def serve_on_sighup(caches: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real server over `caches` (the fixture list), reloading on SIGHUP only, the shrink guard off (these
    tests swap whole lists); its stderr is kept for the log. Returns the process and its URL."""
    caches.write_text(CACHES_CSV)
    process, port = serve(
        caches, caches.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, reload_interval_s="0",
        reload_max_shrink="1",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until_responds(url + "/healthz", process)
    return process, url


@pytest.mark.e2e
def test_sighup_reloads_a_real_server(tmp_path: Path) -> None:
    caches = tmp_path / "caches.csv"
    process, url = serve_on_sighup(caches)
    try:
        caches.write_text(ONE_CACHE)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if [c["name"] for c in httpx.get(url + "/caches", timeout=5).json()["caches"]] == ["Only"]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("SIGHUP did not reload the cache file")
    finally:
        stop(process)
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    assert any(m.startswith("reloaded caches and namespaces and overrides") for m in log_messages(log)), log


def reload_state(url: str) -> dict[str, Any]:
    ready: dict[str, Any] = httpx.get(url + "/readyz", timeout=30).json()
    return ready


def reloads_of_caches(url: str) -> float:
    """How many reloads of the caches file have ended (locator_reloads_total)."""
    text = httpx.get(url + "/metrics", timeout=30).text
    found = re.search(r'^locator_reloads_total\{file="caches"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def wait_for_reload_error(url: str, text: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = reload_state(url)
        if text in (ready["reload"]["caches"]["error"] or ""):
            return ready
        time.sleep(0.1)
    pytest.fail(f"no reload error {text!r}: {ready['reload']}")


@pytest.mark.e2e
def test_a_half_written_caches_file_never_goes_into_service(tmp_path: Path) -> None:
    """A writer that pauses mid-file (or a SIGHUP mid-write, which skips the settle wait): the shipped list cut
    inside a URL once loaded as 20 caches, the last with endpoint `https://osdf1.`, and /readyz said ready."""
    shipped = (DATA_DIR / "caches.csv").read_text()
    caches = tmp_path / "caches.csv"
    caches.write_text(shipped)
    process, port = serve(caches, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, reload_interval_s="0")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_responds(url + "/healthz", process)
        assert reload_state(url)["caches_in_service"] == 41
        cut = shipped.index("https://osdf1.newy32aoa") + len("https://osdf1.")
        caches.write_text(shipped[:cut])  # in place, as a slow writer would
        process.send_signal(signal.SIGHUP)
        ready = wait_for_reload_error(url, "does not end with a newline")
        assert ready["status"] == "degraded" and ready["caches_in_service"] == 41
        caches.write_text(shipped[: shipped.rindex("\n", 0, cut) + 1])  # cut at a line boundary: it parses
        process.send_signal(signal.SIGHUP)
        ready = wait_for_reload_error(url, "lists 20 caches where 42 are listed now")
        assert ready["status"] == "degraded" and ready["caches_in_service"] == 41
    finally:
        stop(process)


def many_caches(count: int, prefix: str) -> str:
    rows = (
        f"{prefix}{i},https://{prefix.lower()}{i}.example.org:8443,{30 + i % 20},{-120 + i % 50}" for i in range(count)
    )
    return "name,endpoint,latitude,longitude\n" + "\n".join(rows) + "\n"


@pytest.mark.e2e
def test_two_reloads_at_once_never_leave_the_older_file_in_service(tmp_path: Path) -> None:
    """A slow reload of a big file, then a quick one of a newer, smaller file, overlapping: the newer must stay.

    Before reloads were serialised, the quick one finished first and the slow one then put the older list
    back for good (a 120,042-row file, then a 41-row one, kept 120,042 in service; 40,000 rows take long enough).
    """
    caches = tmp_path / "caches.csv"
    process, url = serve_on_sighup(caches)  # the shrink guard would refuse 41 after 120,042 (rightly)
    try:
        for name, text in (("big.csv", many_caches(40_000, "OLD")), ("new.csv", many_caches(41, "NEW"))):
            (tmp_path / name).write_text(text)
        os.replace(tmp_path / "big.csv", caches)  # rename in, as the README says to
        process.send_signal(signal.SIGHUP)
        time.sleep(0.15)
        os.replace(tmp_path / "new.csv", caches)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while reloads_of_caches(url) < 2 and time.monotonic() < deadline:  # both reloads over, whatever their order
            time.sleep(0.2)
        assert reloads_of_caches(url) == 2
        assert reload_state(url)["caches_in_service"] == 41
    finally:
        stop(process)
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    assert sum(m.startswith("reloaded caches") for m in log_messages(log)) == 2, log[-2000:]
