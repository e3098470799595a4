"""Shared fixtures: a small federation on disk, a real (tiny) MaxMind City database and app clients."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from mmdb_writer import MmdbU16, MMDBWriter
from netaddr import IPSet
from pytest_httpserver import HTTPServer
from starlette.testclient import TestClient
from werkzeug import Request, Response

from locator.resources import load_federation
from locator.service import create_app
from locator.settings import Settings
from locator.sources.geoip import GeoIPDatabase
from scripts.fake_dns import FakeDNS

# No test may fail on wall-clock time: Hypothesis's per-example deadline is off everywhere.
hypothesis_settings.register_profile("locator", deadline=None)
hypothesis_settings.load_profile("locator")

CACHES_CSV = """\
name,endpoint,latitude,longitude,status,site
Chicago,https://chicago.example.org:8443,41.8882,-87.6164,up,Internet2Chicago
Kansas,https://kansas.example.org:8443,39.1024,-94.5986,up,Internet2GreatPlains
Houston,https://houston.example.org:8443,29.8131,-95.3098,up,Internet2Houston
Sunnyvale,https://sunnyvale.example.org:8443,37.373779,-121.987513,up,Internet2Sunnyvale
NewYork,https://newyork.example.org:8443,40.7145,-74.0029,up,Internet2Manhattan
LincolnDown,https://lincoln.example.org:8443,40.82,-96.70,down,Nebraska
DenverDisabled,https://denver.example.org:8443,39.7458,-104.9795,disabled,Internet2Denver
Mystery,http://mystery.example.org:8000,,,up,Unknown
"""

AIRPORTS_CSV = """\
iata,name,city,country,continent,latitude,longitude
AMS,Amsterdam Airport Schiphol,Amsterdam,NL,EU,52.308601,4.76389
DEN,Denver International Airport,Denver,US,NA,39.861698,-104.672997
DFW,Dallas Fort Worth International Airport,Dallas-Fort Worth,US,NA,32.896801,-97.038002
IAH,George Bush Intercontinental Houston Airport,Houston,US,NA,29.984399,-95.341400
JFK,John F Kennedy International Airport,New York,US,NA,40.639801,-73.7789
LAX,Los Angeles International Airport,Los Angeles,US,NA,33.942501,-118.407997
MCI,Kansas City International Airport,Kansas City,US,NA,39.2976,-94.713898
ORD,Chicago O'Hare International Airport,Chicago,US,NA,41.9786,-87.9048
SJC,Norman Y. Mineta San Jose International Airport,San Jose,US,NA,37.362598,-121.929001
ZZZ,A broken row at null island,Nowhere,XX,AN,0,0
"""

OVERRIDES_CSV = """\
# test overrides
network,latitude,longitude,note
129.93.5.0/24,29.76,-95.37,a Lincoln network that really sits in Houston
10.1.0.0/16,41.88,-87.63,a private campus network in Chicago
2001:db8::/32,40.71,-74.0,documentation IPv6 in New York
"""


def city(
    name: str | None, lat: float | None, lon: float | None, accuracy: int | None, country: str | None = "US"
) -> dict[str, Any]:
    """A GeoIP2 City record as MaxMind writes it; None leaves a field out, as MaxMind does."""
    record: dict[str, Any] = {}
    if country:
        record["country"] = {"iso_code": country, "names": {"en": country}}
    if name:
        record["city"] = {"names": {"en": name}}
    location: dict[str, Any] = {}
    if lat is not None and lon is not None:
        location.update(latitude=float(lat), longitude=float(lon))
    if accuracy is not None:
        location["accuracy_radius"] = MmdbU16(accuracy)
    if location:
        record["location"] = location
    return record


# Public address blocks, so that the cascade's not-public rule does not hide them.
GEOIP_RECORDS: dict[str, dict[str, Any]] = {
    "129.93.0.0/16": city("Lincoln", 40.8, -96.667, 5),
    "8.8.8.0/24": city(None, 37.751, -97.822, 1000),  # MaxMind's US centroid ("Kansas"), no city
    "9.9.9.0/24": city(None, 37.751, -97.822, 100),  # the same centroid with a small radius
    "23.129.64.0/24": city(None, None, None, None, country=None),  # a record without a location
    "45.45.45.0/24": city("Nowhere", 0.0, 0.0, 5),  # null island with a city
    "3.3.3.0/24": city("Ashburn", 39.0438, -77.4874, 10),
    "2001:4860::/32": city("Mountain View", 37.4192, -122.0574, 1),
}


@pytest.fixture(scope="session")
def geoip_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="locator test database",
    )
    for network, record in GEOIP_RECORDS.items():
        writer.insert_network(IPSet([network]), record)
    path = tmp_path_factory.mktemp("geoip") / "test-City.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="session")
def geoip(geoip_db: Path) -> Iterator[GeoIPDatabase]:
    """The test database opened and checked once for every app of the session (the check is a child process)."""
    database = GeoIPDatabase(geoip_db)
    yield database
    database.close()


NAMESPACES_CSV = """\
path,require_token
/ligo/secret,true
/ligo/public,false
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "caches.csv").write_text(CACHES_CSV)
    (tmp_path / "namespaces.csv").write_text(NAMESPACES_CSV)
    (tmp_path / "airports.csv").write_text(AIRPORTS_CSV)
    (tmp_path / "overrides.csv").write_text(OVERRIDES_CSV)
    return tmp_path


# What the stand-in DNS server knows (the geo API's tests name these servers); any other name does not exist, and
# one starting with `never` is never answered.
DNS_NAMES = {
    "cern.example": "128.142.1.1",
    "fnal.example": "131.225.1.1",
    "ucsd.example": "132.239.1.1",
    "wisc.example": "128.104.1.1",
    "unl.example": "129.93.1.1",
    "squid.unl.example": "129.93.7.7",
    "v6only.example": "2001:4860::8888",
}


@pytest.fixture(scope="session")
def fake_dns() -> Iterator[FakeDNS]:
    """The DNS every test app asks (LOCATOR_GEO_DNS_SERVERS): the tests never reach the world's."""
    server = FakeDNS(DNS_NAMES)
    yield server
    server.close()


@pytest.fixture
def make_settings(data_dir: Path, geoip_db: Path, fake_dns: FakeDNS) -> Callable[..., Settings]:
    """Settings over the fixture files; keyword arguments override LOCATOR_* values by field name."""

    def build(**overrides: str) -> Settings:
        environ = {
            "LOCATOR_CACHES_FILE": str(data_dir / "caches.csv"),
            "LOCATOR_NAMESPACES_FILE": str(data_dir / "namespaces.csv"),
            "LOCATOR_HEALTH_INTERVAL_S": "0",  # the health tests turn probing on against their own servers
            "LOCATOR_OVERRIDES_FILE": str(data_dir / "overrides.csv"),
            "LOCATOR_AIRPORTS_CSV": str(data_dir / "airports.csv"),
            "LOCATOR_AIRPORTS_STORE": str(data_dir / "airports.sqlite"),
            "LOCATOR_GEOIP_DB": str(geoip_db),
            "LOCATOR_GEO_DNS_SERVERS": fake_dns.server,
        }
        return Settings.from_env(environ, **overrides)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings], geoip_db: Path, geoip: GeoIPDatabase
) -> Iterator[ClientFactory]:
    """TestClient factory: `make_client(peer="203.0.113.7", **settings_overrides)`; lifespan runs. Apps over
    the test database share its one open copy; the other files are read for each app, as tests change them."""
    clients: list[TestClient] = []

    def build(peer: str = "127.0.0.1", **overrides: str) -> TestClient:
        settings = make_settings(**overrides)
        federation = load_federation(settings, geoip if settings.geoip_db == geoip_db else None)
        client = TestClient(create_app(settings, federation), client=(peer, 50000), follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A client whose peer is 127.0.0.1: a trusted proxy under the default settings."""
    return make_client()


Handler = Callable[[Request], Response]  # what a stand-in answers a request (its path relative to its base URL)


@pytest.fixture(scope="session")
def stand_ins() -> Iterator[HTTPServer]:
    """One pytest-httpserver for the session, answering requests in threads (a slow stand-in must not hold the
    others up), on 127.0.0.1."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def local_http(stand_ins: HTTPServer) -> Iterator[Callable[[Handler], str]]:
    """Stand-ins on 127.0.0.1 for what lies outside the project (caches, a Pelican director, OSG Topology): each
    gets a base URL of its own, and `handler` answers every request under it, its path made relative to that
    base. Returns the base URL; every stand-in is gone after the test."""
    served = itertools.count()
    httpserver = stand_ins

    def start(handler: Handler) -> str:
        base = f"/stand-in-{next(served)}"

        def relative(request: Request) -> Response:
            request.environ["PATH_INFO"] = request.path.removeprefix(base) or "/"
            return handler(Request(request.environ))

        httpserver.expect_request(re.compile(f"^{re.escape(base)}(/.*)?$")).respond_with_handler(relative)
        return httpserver.url_for(base)

    yield start
    httpserver.clear()
