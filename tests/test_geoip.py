"""Local GeoIP against real MaxMind-format files: the embedded GeoLite2-City and broken ones."""

from __future__ import annotations

import gc
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time
import tracemalloc
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest
from mmdb_writer import MmdbU16, MMDBWriter
from netaddr import IPSet

from locator.core.lookups import DamagedRecord, GeoIPRecord
from locator.settings import Settings
from locator.sources import geoipcheck
from locator.sources.geoip import MEMO_ENTRY_BYTES, MEMO_SIZE, NAME_CHARS, GeoIPDatabase, GeoIPError
from locator.sources.geoipcheck import GeoIPCheckFailed, check
from scripts.soak import damaged_geoip
from tests.conftest import CACHES_CSV, ClientFactory
from tests.test_e2e import log_messages, serve, stop, wait_until_responds
from tests.test_reload import reload_files, settle

BENCHMARKS_DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@pytest.fixture(scope="module")
def embedded_path() -> Path:
    """GeoLite2 2018: a real MaxMind file, and the one whose answers the tests below know."""
    path = Settings.from_env({"LOCATOR_GEOIP_DB": "geolite2-2018"}).geoip_db
    assert path is not None and path.is_file()
    return path


@pytest.fixture(scope="module")
def embedded(embedded_path: Path) -> GeoIPDatabase:
    return GeoIPDatabase(embedded_path)


def test_real_database_knows_lincoln(embedded: GeoIPDatabase) -> None:
    record = embedded.lookup(ipaddress.ip_address("129.93.1.1"))
    assert record is not None
    assert (record.city, record.country) == ("Lincoln", "US")
    assert (record.latitude, record.longitude, record.accuracy_km) == (40.8, -96.667, 5)
    assert (embedded.info.database_type, embedded.info.built) == ("GeoLite2-City", "2018-07-03")
    assert embedded.info.licence.startswith("CC BY-SA 4.0")


def test_the_default_database_is_db_ip_with_no_accuracy_radius() -> None:
    """DB-IP City Lite: GeoIP2's layout without `accuracy_radius`, so only the city check and the colo
    cross-check judge its answers (docs/evaluation.md, "Which GeoIP database")."""
    path = Settings.from_env({}).geoip_db
    assert path is not None
    database = GeoIPDatabase(path)
    assert (database.info.database_type, database.info.built) == ("DBIP-City-Lite", "2023-04-01")
    assert database.info.licence == "CC BY 4.0; IP Geolocation by DB-IP (https://db-ip.com)"
    assert database.lookup(ipaddress.ip_address("129.93.1.1")) == GeoIPRecord(40.8169, -96.7007, None, "Lincoln", "US")
    # The University of Colorado's block, which GeoLite2 2018 knows only by country.
    record = database.lookup(ipaddress.ip_address("128.138.129.1"))
    assert record is not None and record.city == "Boulder"
    assert database.lookup(ipaddress.ip_address("10.0.0.1")) is None
    database.close()


def test_the_flat_layout_of_republished_databases_reads_the_same(tmp_path: Path) -> None:
    """ip-location-db republishes DB-IP and GeoLite2 monthly with flat records and type `city`."""
    writer = MMDBWriter(ip_version=4, database_type="city", description="flat")
    writer.insert_network(
        IPSet(["129.93.0.0/16"]),
        {"city": "Lincoln", "country_code": "US", "latitude": 40.8169, "longitude": -96.7007, "state1": "Nebraska"},
    )
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"city": "", "country_code": "US"})
    path = tmp_path / "flat.mmdb"
    writer.to_db_file(str(path))
    database = GeoIPDatabase(path)
    assert database.lookup(ipaddress.ip_address("129.93.1.1")) == GeoIPRecord(40.8169, -96.7007, None, "Lincoln", "US")
    assert database.lookup(ipaddress.ip_address("8.8.8.8")) == GeoIPRecord(None, None, None, None, "US")
    assert database.info.licence.startswith("not known")


def test_real_database_puts_8888_at_the_us_centroid_without_a_city(embedded: GeoIPDatabase) -> None:
    record = embedded.lookup(ipaddress.ip_address("8.8.8.8"))
    assert record is not None
    assert (record.latitude, record.longitude, record.city, record.accuracy_km) == (
        37.751,
        -97.822,
        None,
        1000,
    )


def test_real_database_has_records_without_location_and_misses_private(embedded: GeoIPDatabase) -> None:
    record = embedded.lookup(ipaddress.ip_address("23.129.65.1"))
    assert record is not None and record.latitude is None
    assert embedded.lookup(ipaddress.ip_address("10.0.0.1")) is None


def test_cascade_with_the_real_database(make_client: ClientFactory) -> None:
    client = make_client(geoip_db="geolite2-2018")
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["method"] == "geoip" and body["client"]["city"] == "Lincoln"
    body = client.get("/nearest", headers={"cf-connecting-ip": "8.8.8.8"}).json()
    assert body["skipped"]["geoip"] == "low_accuracy" and body["method"] == "fallback"
    body = client.get("/nearest", headers={"cf-connecting-ip": "23.129.65.1"}).json()
    assert body["skipped"]["geoip"] == "no_location"


def test_missing_truncated_and_wrong_databases(tmp_path: Path, geoip_db: Path) -> None:
    with pytest.raises(GeoIPError, match="not found"):
        GeoIPDatabase(tmp_path / "missing.mmdb")
    truncated = tmp_path / "truncated.mmdb"
    truncated.write_bytes(geoip_db.read_bytes()[:200])
    with pytest.raises(GeoIPError, match="not a readable MaxMind database"):
        GeoIPDatabase(truncated)
    writer = MMDBWriter(database_type="GeoLite2-ASN")
    writer.insert_network(IPSet(["1.0.0.0/24"]), {"autonomous_system_number": 1})
    asn = tmp_path / "asn.mmdb"
    writer.to_db_file(str(asn))
    with pytest.raises(GeoIPError, match="a City database is needed"):
        GeoIPDatabase(asn)


def test_broken_database_degrades_instead_of_refusing(make_client: ClientFactory, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"\x00" * 1000)
    client = make_client(geoip_db=str(broken))
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded" and ready["geoip"] is None
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1", "cf-ray": "1-ORD"}).json()
    assert body["skipped"]["geoip"] == "no_database" and body["method"] == "colo"


def test_a_damaged_database_fails_its_check_and_is_never_used(embedded_path: Path, tmp_path: Path) -> None:
    """The issue's damage: 20,000 random bytes of the data section overwritten. It opens, and maxminddb's C
    reader crashes on some records; the check finds it before any lookup."""
    damaged = damaged_geoip(embedded_path, tmp_path / "damaged.mmdb")
    with pytest.raises(GeoIPError, match="damaged: (UnicodeDecodeError|InvalidDatabaseError)"):
        GeoIPDatabase(damaged)


def test_damage_that_crashes_the_c_reader_fails_the_check(embedded_path: Path, tmp_path: Path) -> None:
    """200 bytes (seed 9) on which maxminddb 2.x's C reader crashes (SIGSEGV): the reader installed here
    reports the first bad record of the sample, and the database is refused."""
    damaged = damaged_geoip(embedded_path, tmp_path / "crashes.mmdb", count=200, seed=9)
    with pytest.raises(GeoIPError, match="damaged: TypeError"):
        GeoIPDatabase(damaged)


def test_a_reader_killed_by_a_signal_is_a_failed_check(embedded_path: Path) -> None:
    """The check's child killed by a signal (the C reader's SIGSEGV, the kernel's OOM killer): one line says
    so, and the caller carries on."""
    failures: list[str] = []

    def run() -> None:
        try:
            check(embedded_path)
        except GeoIPCheckFailed as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=run)
    thread.start()
    for _ in range(200):
        children = [c for c in psutil.Process().children() if "locator.sources.geoipcheck" in c.cmdline()]
        if children:
            break
        time.sleep(0.01)
    children[0].send_signal(signal.SIGSEGV)
    thread.join(timeout=30)
    assert failures == ["damaged: reading a sample of addresses killed the reader (SIGSEGV)"]


def test_a_pass_is_remembered_for_the_same_bytes_only(
    embedded_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check's verdict depends on the bytes alone: a database that passed is not checked again (a server's
    restart, each `locator nearest`), a copy with one byte changed is, and a failure is never remembered."""
    passes = tmp_path / "passes"
    copy = tmp_path / "copy.mmdb"
    shutil.copyfile(embedded_path, copy)
    check(copy, passes)  # a real child process
    assert [entry.name for entry in passes.iterdir()] == [geoipcheck.digest(copy)]
    ran: list[Path] = []
    monkeypatch.setattr(geoipcheck, "run_check", ran.append)
    check(copy, passes)
    assert ran == []  # remembered: no child
    with copy.open("r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    check(copy, passes)
    assert ran == [copy]  # other bytes: checked again
    monkeypatch.undo()
    damaged = damaged_geoip(embedded_path, tmp_path / "damaged.mmdb")
    before = set(passes.iterdir())
    with pytest.raises(GeoIPCheckFailed):
        check(damaged, passes)
    assert set(passes.iterdir()) == before  # a failure leaves nothing


def test_remembered_passes_are_few_and_an_unwritable_place_only_costs_a_check(
    embedded_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = tmp_path / "passes"
    passes.mkdir()
    for age in range(12):
        old = passes / f"{age:064x}"
        old.touch()
        os.utime(old, (1_000_000 + age, 1_000_000 + age))
    ran: list[Path] = []
    monkeypatch.setattr(geoipcheck, "run_check", ran.append)
    check(embedded_path, passes)
    kept = sorted(entry.name for entry in passes.iterdir())
    assert len(kept) == geoipcheck.PASSES_KEPT and geoipcheck.digest(embedded_path) in kept
    assert f"{11:064x}" in kept and f"{0:064x}" not in kept  # the newest stay
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    check(embedded_path, blocked)
    assert ran == [embedded_path, embedded_path]  # checked each time, no error


def test_a_record_damaged_under_a_running_server_is_an_error_not_a_crash(embedded_path: Path, tmp_path: Path) -> None:
    """The file overwritten in place (same size, so the memory map sees the new bytes) with the damage above,
    after its check: the record of 169.5.215.80 is the one that crashes the C reader; ours raises."""
    live = tmp_path / "live.mmdb"
    shutil.copyfile(embedded_path, live)
    database = GeoIPDatabase(live)
    damaged = damaged_geoip(embedded_path, tmp_path / "crashes.mmdb", count=200, seed=9).read_bytes()
    with live.open("r+b") as handle:
        handle.write(damaged)
    with pytest.raises(DamagedRecord):
        database.lookup(ipaddress.ip_address("169.5.215.80"))
    record = database.lookup(ipaddress.ip_address("129.93.1.1"))  # an undamaged record still answers
    assert record is not None and record.city == "Lincoln"


def test_a_damaged_record_the_check_missed_is_a_skip_not_a_crash(
    make_client: ClientFactory, geoip_db: Path, tmp_path: Path
) -> None:
    data = geoip_db.read_bytes()
    assert data.count(b"\x47Ashburn") == 1  # the UTF-8 string "Ashburn" with its control byte
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(data.replace(b"\x47Ashburn", b"\x00\xffshburn"))  # an extended type that does not exist
    client = make_client(geoip_db=str(bad))
    assert client.get("/readyz").json()["geoip"] is not None  # the sample did not meet that one /24
    body = client.get("/nearest", headers={"cf-connecting-ip": "3.3.3.3", "cf-ray": "1-ORD"}).json()
    assert body["skipped"]["geoip"] == "damaged_record" and body["method"] == "colo"
    assert 'locator_skips_total{reason="damaged_record",source="geoip"} 1.0' in client.get("/metrics").text
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["method"] == "geoip" and body["client"]["city"] == "Lincoln"  # the rest still answers


def test_a_damaged_database_on_reload_keeps_the_previous_one_in_service(
    make_client: ClientFactory, geoip_db: Path, embedded_path: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live.mmdb"
    shutil.copyfile(geoip_db, live)
    client = make_client(geoip_db=str(live))
    os.replace(damaged_geoip(embedded_path, tmp_path / "damaged.mmdb"), live)
    settle(live)
    assert reload_files(client) == []
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded" and "damaged" in ready["reload"]["geoip"]["error"]
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["client"]["city"] == "Lincoln"  # the test database, still in service
    shutil.copyfile(embedded_path, tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", live)
    settle(live)
    assert reload_files(client) == ["geoip"]
    body = client.get("/nearest?ip=159.60.99.219").json()
    assert body["method"] == "geoip" and body["client"]["city"] == "The Hague"  # only the real one knows it
    assert client.get("/readyz").json()["status"] == "ready"


def test_a_start_without_a_usable_database_recovers_when_one_arrives(
    make_client: ClientFactory, geoip_db: Path, embedded_path: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live.mmdb"
    damaged_geoip(embedded_path, live)
    client = make_client(geoip_db=str(live))
    ready = client.get("/readyz").json()
    assert ready["geoip"] is None and ready["status"] == "degraded"
    assert any(note.startswith("geoip: ") and "damaged" in note for note in ready["degraded"])
    shutil.copyfile(geoip_db, tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", live)
    settle(live)
    assert reload_files(client) == ["geoip"]
    ready = client.get("/readyz").json()
    assert ready["geoip"]["path"] == str(live) and ready["status"] == "ready" and ready["degraded"] == []


@pytest.mark.e2e
def test_a_real_server_given_a_damaged_database_keeps_answering(embedded_path: Path, tmp_path: Path) -> None:
    """The issue's reproduction: the damaged copy served, /nearest?ip=159.60.99.219 asked. It used to kill
    the process (SIGSEGV, no log line) while /readyz said ready."""
    caches = tmp_path / "caches.csv"
    caches.write_text(CACHES_CSV)
    damaged = damaged_geoip(embedded_path, tmp_path / "damaged.mmdb")
    process, port = serve(caches, tmp_path, stderr=subprocess.PIPE, geoip_db=str(damaged))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_responds(url + "/healthz", process)
        for address in ("159.60.99.219", "81.239.25.34", "81.239.25.34"):  # the second crashed the C reader
            response = httpx.get(url + "/nearest?ip=" + address, timeout=10)
            assert response.status_code == 200
            assert response.json()["skipped"]["geoip"] == "no_database"
        ready = httpx.get(url + "/readyz", timeout=10).json()
        assert ready["status"] == "degraded" and ready["geoip"] is None
        assert process.poll() is None
    finally:
        stop(process)
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    degraded = [message for message in log_messages(log) if message.startswith("degraded: geoip: ")]
    assert len(degraded) == 1, log  # once: the start-up check no longer loads it too
    assert "damaged: " in log


def test_the_memo_is_bounded_in_bytes_whatever_the_database_holds(tmp_path: Path) -> None:
    """The worst entry a database can make: an IPv6 key and a record with long names of four-byte characters
    (cut to NAME_CHARS). Traced allocations of 2,000 such entries stay within MEMO_ENTRY_BYTES each, so the
    memo holds at most MEMO_SIZE x MEMO_ENTRY_BYTES (docs/benchmarks.md's figure)."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", languages=["en"], description="worst")
    worst = {
        "city": {"names": {"en": "\U0001f30d" * 500}},
        "country": {"iso_code": "\U0001f30d" * 50, "names": {"en": "x"}},
        "location": {"latitude": 1.5, "longitude": 2.5, "accuracy_radius": MmdbU16(5)},
    }
    writer.insert_network(IPSet(["2001:db8::/32"]), worst)
    path = tmp_path / "worst-City.mmdb"
    writer.to_db_file(str(path))
    database = GeoIPDatabase(path)
    base = int(ipaddress.ip_address("2001:db8::"))
    database.lookup(ipaddress.ip_address(base))  # warm
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(1, 2001):
        record = database.lookup(ipaddress.ip_address(base + (i << 64) + i))
        assert record is not None and record.city is not None and len(record.city) == NAME_CHARS
    gc.collect()
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / 2000
    tracemalloc.stop()
    assert database.lookup.cache_info().currsize == 2001
    assert 0.3 * MEMO_ENTRY_BYTES < per_entry <= MEMO_ENTRY_BYTES, per_entry
    assert f"{MEMO_SIZE:,} addresses × {MEMO_ENTRY_BYTES:,} bytes" in BENCHMARKS_DOC.read_text()
