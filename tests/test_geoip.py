"""Local GeoIP against real MaxMind-format files: the embedded GeoLite2-City and broken ones."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from locator.geoip import GeoIPDatabase, GeoIPError
from locator.settings import Settings
from tests.conftest import ClientFactory


@pytest.fixture(scope="module")
def embedded() -> GeoIPDatabase:
    path = Settings.from_env({}).geoip_db
    assert path is not None and path.is_file()
    return GeoIPDatabase(path)


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
