"""Local GeoIP against real MaxMind-format files: the embedded GeoLite2-City and broken ones."""

from __future__ import annotations

import gc
import ipaddress
import json
import os
import shutil
import subprocess
import tracemalloc
import urllib.request
from pathlib import Path

import pytest
from mmdb_writer import MmdbU16, MMDBWriter
from netaddr import IPSet

from locator.geoip import MEMO_ENTRY_BYTES, MEMO_SIZE, NAME_CHARS, DamagedRecord, GeoIPDatabase, GeoIPError
from locator.settings import Settings
from scripts.soak import damaged_geoip
from tests.conftest import CACHES_CSV, ClientFactory
from tests.test_e2e import serve, stop, wait_until_responds
from tests.test_reload import reloader, settle
from tests.test_settings import README


@pytest.fixture(scope="module")
def embedded_path() -> Path:
    path = Settings.from_env({}).geoip_db
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
    assert embedded.database_type == "GeoLite2-City"


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
    client = make_client(geoip_db="embedded")
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
    assert ready["status"] == "degraded" and ready["geoip"] is False
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1", "cf-ray": "1-ORD"}).json()
    assert body["skipped"]["geoip"] == "no_database" and body["method"] == "colo"


def test_a_damaged_database_fails_its_check_and_is_never_used(embedded_path: Path, tmp_path: Path) -> None:
    """The issue's damage: 20,000 random bytes of the data section overwritten. It opens, and maxminddb's C
    reader crashes on some records; the check finds it before any lookup."""
    damaged = damaged_geoip(embedded_path, tmp_path / "damaged.mmdb")
    with pytest.raises(GeoIPError, match="damaged: (UnicodeDecodeError|InvalidDatabaseError)"):
        GeoIPDatabase(damaged)


def test_a_crash_of_the_reader_is_a_failed_check(embedded_path: Path, tmp_path: Path) -> None:
    """200 bytes (seed 9) that make the C reader crash on the first bad record of the sample: the check's child
    process dies, the server does not."""
    damaged = damaged_geoip(embedded_path, tmp_path / "crashes.mmdb", count=200, seed=9)
    with pytest.raises(GeoIPError, match=r"crashed the reader \(SIGSEGV\)"):
        GeoIPDatabase(damaged)


def test_a_record_damaged_under_a_running_server_is_an_error_not_a_crash(embedded_path: Path, tmp_path: Path) -> None:
    """The file overwritten in place (same size, so the memory map sees the new bytes) with the damage above,
    after its check: the record of 169.5.215.80 is the one that crashed the C reader; ours raises."""
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
    assert client.get("/readyz").json()["geoip"] is True  # the sample did not meet that one /24
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
    assert reloader(client).check() == []
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded" and "damaged" in ready["reload"]["geoip"]["error"]
    body = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.1"}).json()
    assert body["client"]["city"] == "Lincoln"  # the test database, still in service
    shutil.copyfile(embedded_path, tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", live)
    settle(live)
    assert reloader(client).check() == ["geoip"]
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
    assert ready["geoip"] is False and ready["status"] == "degraded"
    assert any(note.startswith("geoip: ") and "damaged" in note for note in ready["degraded"])
    shutil.copyfile(geoip_db, tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", live)
    settle(live)
    assert reloader(client).check() == ["geoip"]
    ready = client.get("/readyz").json()
    assert ready["geoip"] is True and ready["status"] == "ready" and ready["degraded"] == []


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
            with urllib.request.urlopen(url + "/nearest?ip=" + address, timeout=10) as response:
                assert response.status == 200
                assert json.load(response)["skipped"]["geoip"] == "no_database"
        with urllib.request.urlopen(url + "/readyz", timeout=10) as response:
            ready = json.load(response)
        assert ready["status"] == "degraded" and ready["geoip"] is False
        assert process.poll() is None
    finally:
        stop(process)
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    assert log.count('"message": "degraded: geoip: ') == 1, log  # once: the start-up check no longer loads it too
    assert "damaged: " in log


def test_the_memo_is_bounded_in_bytes_whatever_the_database_holds(tmp_path: Path) -> None:
    """The worst entry a database can make: an IPv6 key and a record with long names of four-byte characters
    (cut to NAME_CHARS). Traced allocations of 2,000 such entries stay within MEMO_ENTRY_BYTES each, so the
    memo holds at most MEMO_SIZE x MEMO_ENTRY_BYTES (the README's figure)."""
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
    assert f"{MEMO_SIZE:,} addresses × {MEMO_ENTRY_BYTES:,} bytes" in README.read_text()
