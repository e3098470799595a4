"""`locator geoip update` against a real HTTP server on 127.0.0.1 serving real (small) MaxMind-format files:
newer, gzipped, in MaxMind's tar.gz behind basic authentication, and corrupt, truncated, older and of the
wrong type. A running `locator serve` takes the new file without a restart."""

from __future__ import annotations

import base64
import datetime
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx2 as httpx
import pytest
from mmdb_writer import MMDBWriter, TreeWriter
from netaddr import IPSet
from werkzeug import Request, Response

from locator.settings import Settings
from locator.sources import geoipupdate
from locator.sources.geoipupdate import UpdateError, update
from tests.conftest import CACHES_CSV, GEOIP_RECORDS, Handler
from tests.test_e2e import serve, stop, wait_until_responds

ACCOUNT, KEY = "123456", "0123456789abcdef0123"


def epoch_of(day: datetime.date) -> int:
    return int(datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp())


def database(built: datetime.date | int, database_type: str = "GeoLite2-City") -> bytes:
    """A real MaxMind-format file built on `built` (a day, or a raw build_epoch); mmdb-writer stamps the current
    time, so its tree writer is given the metadata with the date asked for."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"])
    for network, record in GEOIP_RECORDS.items():
        writer.insert_network(IPSet([network]), record)
    epoch = built if isinstance(built, int) else epoch_of(built)
    meta = {**writer._build_meta(), "build_epoch": epoch}
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "City.mmdb"
        TreeWriter(writer.tree, meta, writer.int_type, writer.float_type).write(str(path))
        return path.read_bytes()


def tar_gz(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"GeoLite2-City_20261101/{name}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


OLD = datetime.date(2024, 1, 1)
NEW = datetime.date(2026, 11, 1)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    new = database(NEW)
    return {
        "/new.mmdb": new,
        "/new.mmdb.gz": gzip.compress(new),
        f"/dbip-city-lite-{datetime.datetime.now(datetime.UTC):%Y-%m}.mmdb.gz": gzip.compress(new),
        "/geoip/databases/GeoLite2-City/download": tar_gz("GeoLite2-City.mmdb", new),  # MaxMind, auth
        "/old.mmdb": database(OLD),
        "/older.mmdb": database(datetime.date(2020, 1, 1)),
        "/corrupt.mmdb": os.urandom(50_000),
        "/truncated.mmdb": new[: len(new) // 2],
        "/country.mmdb": database(NEW, database_type="GeoLite2-Country"),
        "/2106.mmdb": database(datetime.date(2106, 1, 1)),
        "/impossible.mmdb": database(2**63 - 1),
        "/bomb.mmdb.gz": gzip.compress(b"A" * (12 << 20), 9),  # 12 MB in 12 KB
        "/bomb.tar.gz": tar_gz("GeoLite2-City.mmdb", b"A" * (12 << 20)),
    }


@pytest.fixture
def server(local_http: Callable[[Handler], str], files: dict[str, bytes]) -> str:
    """The download server: every file by its path, MaxMind's behind basic authentication."""
    expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{KEY}".encode()).decode()

    def answer(request: Request) -> Response:
        if request.path.startswith("/geoip/") and request.headers.get("Authorization") != expected:
            return Response(b"", status=401)
        body = files.get(request.path)
        return Response(body or b"", status=200 if body is not None else 404)

    return local_http(answer)


def run_update(dest: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOCATOR_GEOIP_DB": str(dest),
        **{f"LOCATOR_{name.upper()}": value for name, value in settings.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "locator", "geoip", "update"], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def dest(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "geoip" / "City.mmdb"
    path.parent.mkdir()
    path.write_bytes(files["/old.mmdb"])
    return path


def test_a_newer_database_from_a_url_replaces_the_old_one(server: str, dest: Path, files: dict[str, bytes]) -> None:
    done = run_update(dest, geoip_update_url=server + "/new.mmdb")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"updated {dest}: GeoLite2-City built 2026-11-01 (was GeoLite2-City built 2024-01-01); "
        "a running service reloads it\n"
    )
    assert dest.read_bytes() == files["/new.mmdb"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["City.mmdb"]  # no download left beside it
    again = run_update(dest, geoip_update_url=server + "/new.mmdb")
    assert again.returncode == 0 and again.stdout == f"{dest} is current: GeoLite2-City built 2026-11-01\n"


def test_gzip_and_maxmind_tar_gz_with_basic_authentication(server: str, dest: Path, files: dict[str, bytes]) -> None:
    done = run_update(dest, geoip_update_url=server + "/dbip-city-lite-{month}.mmdb.gz")  # DB-IP's monthly name
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == files["/new.mmdb"]
    dest.write_bytes(files["/old.mmdb"])
    maxmind = server + "/geoip/databases/GeoLite2-City/download?suffix=tar.gz"
    done = run_update(dest, geoip_update_url=maxmind, maxmind_account_id=ACCOUNT, maxmind_license_key=KEY)
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == files["/new.mmdb"]
    assert KEY not in done.stdout + done.stderr
    refused = run_update(dest, geoip_update_url=maxmind)
    assert (refused.returncode, refused.stderr) == (2, f"locator: error: {maxmind}: HTTP 401\n")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/corrupt.mmdb", "refused: not a readable MaxMind database: Error opening database file (the download)"),
        ("/truncated.mmdb", "refused: not a readable MaxMind database: Error opening database file (the download)"),
        ("/older.mmdb", "refused: built 2020-01-01, older than the database in service (built 2024-01-01)"),
        ("/country.mmdb", "refused: is a GeoLite2-Country database; a City database is needed"),
        ("/2106.mmdb", "refused: its build date (2106-01-01) is impossible or in the future"),
        ("/impossible.mmdb", "refused: its build date (build_epoch 9223372036854775807) is impossible"),
        ("/missing.mmdb", "HTTP 404"),
    ],
)
def test_refusals_are_one_line_and_leave_the_database_in_service(
    server: str, dest: Path, files: dict[str, bytes], path: str, why: str
) -> None:
    done = run_update(dest, geoip_update_url=server + path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("locator: error: ") and why in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert dest.read_bytes() == files["/old.mmdb"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["City.mmdb"]


def test_without_a_source_or_a_file_of_its_own_it_says_what_to_set(tmp_path: Path) -> None:
    done = run_update(tmp_path / "City.mmdb")
    assert done.returncode == 2
    assert "set LOCATOR_GEOIP_UPDATE_URL, or LOCATOR_MAXMIND_ACCOUNT_ID and LOCATOR_MAXMIND_LICENSE_KEY" in done.stderr
    env = {**os.environ, "LOCATOR_GEOIP_DB": "embedded", "LOCATOR_GEOIP_UPDATE_URL": "http://127.0.0.1:9/x"}
    done = subprocess.run(
        [sys.executable, "-m", "locator", "geoip", "update"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "LOCATOR_GEOIP_DB names no file of its own" in done.stderr


@pytest.mark.e2e
def test_a_running_service_takes_the_new_database_without_a_restart(server: str, dest: Path, tmp_path: Path) -> None:
    caches = tmp_path / "caches.csv"
    caches.write_text(CACHES_CSV)
    process, port = serve(caches, tmp_path, geoip_db=str(dest), reload_interval_s="0.2")
    url = f"http://127.0.0.1:{port}"

    def ready() -> dict[str, object]:
        geoip: dict[str, object] = httpx.get(url + "/readyz", timeout=10).json()["geoip"]
        return geoip

    try:
        wait_until_responds(url + "/healthz", process)
        assert ready()["built"] == "2024-01-01"
        done = run_update(dest, geoip_update_url=server + "/new.mmdb")
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 20
        while ready()["built"] != "2026-11-01" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready() == {
            "path": str(dest),
            "database_type": "GeoLite2-City",
            "built": "2026-11-01",
            "licence": "GeoLite2 End User License Agreement; data created by MaxMind (https://www.maxmind.com)",
        }
        assert process.poll() is None  # the same process: no restart
    finally:
        stop(process)


@pytest.mark.parametrize("path", ["/bomb.mmdb.gz", "/bomb.tar.gz"])
def test_unpacking_stops_at_its_cap_and_leaves_nothing(
    server: str, dest: Path, files: dict[str, bytes], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 8: a small download that unpacks to more than the cap is refused while it is unpacked, counting the
    bytes as they are written (here a cap of 8 MB stands for the 1 GB one), and nothing is left beside the
    database in service."""
    monkeypatch.setattr(geoipupdate, "MAX_UNPACKED_BYTES", 8 << 20)
    written: list[int] = []
    real_copy = geoipupdate.copy_bounded

    def watched(source: IO[bytes] | io.BufferedIOBase, into: Path, limit: int) -> None:
        try:
            real_copy(source, into, limit)
        finally:
            written.append(into.stat().st_size)

    monkeypatch.setattr(geoipupdate, "copy_bounded", watched)
    settings = Settings.from_env({"LOCATOR_GEOIP_DB": str(dest), "LOCATOR_GEOIP_UPDATE_URL": server + path})
    with pytest.raises(UpdateError, match="unpacks to more than 8 MB|is 12 MB; at most 8 MB"):
        update(settings)
    assert all(size <= 8 << 20 for size in written)
    assert dest.read_bytes() == files["/old.mmdb"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["City.mmdb"]


def test_a_database_from_the_future_in_service_does_not_block_a_genuine_update(
    server: str, dest: Path, files: dict[str, bytes]
) -> None:
    """Finding 9: one dated 2106 is no database to compare with: the genuine one replaces it."""
    dest.write_bytes(files["/2106.mmdb"])
    done = run_update(dest, geoip_update_url=server + "/new.mmdb")
    assert done.returncode == 0, done.stderr
    assert "(was none)" in done.stdout and dest.read_bytes() == files["/new.mmdb"]


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/2106.mmdb", "/impossible.mmdb"])
def test_a_service_starts_degraded_on_a_database_with_an_impossible_date(
    dest: Path, tmp_path: Path, files: dict[str, bytes], path: str
) -> None:
    """Finding 9: `locator serve` on such a database serves without local GeoIP and says why in one line of its
    log and in /readyz; no traceback."""
    dest.write_bytes(files[path])
    caches = tmp_path / "caches.csv"
    caches.write_text(CACHES_CSV)
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process, port = serve(caches, tmp_path, stderr=handle, geoip_db=str(dest))
        try:
            wait_until_responds(f"http://127.0.0.1:{port}/healthz", process)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
        finally:
            stop(process)
    assert ready["status"] == "degraded" and ready["geoip"] is None
    assert any("build date" in note and "serving without local GeoIP" in note for note in ready["degraded"])
    text = log.read_text()
    assert "Traceback" not in text
    assert sum("build date" in line for line in text.splitlines()) == 1
