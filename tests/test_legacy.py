"""The legacy CVMFS GeoIP emulation: every sample and 400 case of ../shared/legacy-geo-api.md, its quirks,
its HTTP face and its command line. The samples use the real GeoLite2 2018-07 database they were taken with,
the emulation's default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from evaluation.legacy import LegacyGeo, legacy_api, open_legacy_geoip
from evaluation.legacy_server import create_legacy_app
from locator.core.caches import CacheSet
from locator.sources.caches_file import load_caches
from locator.sources.geoip import GeoIPDatabase

SERVERS = "128.142.1.1,131.225.1.1,132.239.1.1,128.104.1.1,129.93.1.1,192.170.227.1"
SAMPLES = [
    ("129.93.1.1", "5,4,2,6,3,1\n"),  # Lincoln NE
    ("128.104.1.1", "4,2,6,5,3,1\n"),  # Madison WI
    ("132.239.1.1", "3,5,4,2,6,1\n"),  # La Jolla CA
    ("8.8.8.8", "5,4,2,6,3,1\n"),  # US centroid in Kansas, no city: taken as a real position
]


@pytest.fixture(scope="module")
def real_db() -> GeoIPDatabase:
    """The emulation's own database: GeoLite2 2018, whatever the locator is given."""
    return open_legacy_geoip()


@pytest.fixture(scope="module")
def geo(real_db: GeoIPDatabase) -> LegacyGeo:
    return LegacyGeo(real_db)


def ask(geo: LegacyGeo, caller: str = "stashcp", servers: str = SERVERS, **environ: str) -> tuple[int, str]:
    answer = legacy_api(f"/cvmfs-config.cern.ch/v1.0/geo/{caller}/{servers}", environ, geo)
    return answer.status, answer.body


@pytest.mark.parametrize(("client", "expected"), SAMPLES, ids=[c for c, _ in SAMPLES])
def test_samples_by_caller_and_by_each_address_source(geo: LegacyGeo, client: str, expected: str) -> None:
    assert ask(geo, caller=client) == (200, expected)
    assert ask(geo, REMOTE_ADDR=client) == (200, expected)
    assert ask(geo, HTTP_CF_CONNECTING_IP=client, REMOTE_ADDR="127.0.0.1") == (200, expected)
    assert ask(geo, HTTP_X_FORWARDED_FOR=f"10.0.0.1, {client}") == (200, expected)


def test_sample_loopback_is_not_in_the_database(geo: LegacyGeo) -> None:
    assert ask(geo, REMOTE_ADDR="127.0.0.1") == (400, "Bad Request: remote addr not found in database\n")
    assert ask(geo, caller="127.0.0.1") == (400, "Bad Request: remote addr not found in database\n")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/nonsense", "Bad Request: malformed api URL: /nonsense\n"),
        ("/repo/v1.0/info/x/y", "Bad Request: unrecognized api function\n"),
        ("/repo/v1.0/geo/no-slash-here", "Bad Request: no slash in geo path\n"),
        (
            "/repo/v1.0/geo/129.93.1.1/unresolvable.example,10.0.0.1",
            "Bad Request: no server addr found in database\n",
        ),
    ],
    ids=["malformed", "unrecognized", "no-slash", "no-server"],
)
def test_400_cases(geo: LegacyGeo, path: str, body: str) -> None:
    answer = legacy_api(path, {}, geo)
    assert (answer.status, answer.body, answer.cache_control) == (400, body, "max-age=300")


def test_200_carries_an_hour_of_caching(geo: LegacyGeo) -> None:
    assert legacy_api(f"/r/v1.0/geo/129.93.1.1/{SERVERS}", {}, geo).cache_control == "max-age=3600"


def test_precedence_caller_then_cf_then_last_forwarded_then_remote(geo: LegacyGeo) -> None:
    lincoln, la_jolla, madison = "129.93.1.1", "132.239.1.1", "128.104.1.1"
    # a located caller wins over every header
    assert ask(geo, caller=lincoln, HTTP_CF_CONNECTING_IP=la_jolla)[1] == "5,4,2,6,3,1\n"
    # CF-Connecting-IP before X-Forwarded-For before REMOTE_ADDR
    assert ask(geo, HTTP_CF_CONNECTING_IP=la_jolla, HTTP_X_FORWARDED_FOR=lincoln)[1] == "3,5,4,2,6,1\n"
    assert ask(geo, HTTP_X_FORWARDED_FOR=madison, REMOTE_ADDR=lincoln)[1] == "4,2,6,5,3,1\n"
    # the LAST X-Forwarded-For entry: after the last space, else after the last comma
    assert ask(geo, HTTP_X_FORWARDED_FOR=f"{lincoln}, {madison}")[1] == "4,2,6,5,3,1\n"
    assert ask(geo, HTTP_X_FORWARDED_FOR=f"{lincoln},{madison}")[1] == "4,2,6,5,3,1\n"
    # unlocatable candidates fall through to the next one
    assert ask(geo, HTTP_CF_CONNECTING_IP="10.1.1.1", REMOTE_ADDR=lincoln)[1] == "5,4,2,6,3,1\n"


def test_known_defects_answer_500(geo: LegacyGeo) -> None:
    status, body = ask(geo, HTTP_X_FORWARDED_FOR="unknown")
    assert status == 500 and "does not appear to be an IPv4 or IPv6 address" in body
    status, body = ask(geo, REMOTE_ADDR="23.129.65.1")  # a record with no location at all
    assert status == 500 and "KeyError: 'location'" in body
    # as a caller name the same record is merely not located (name_geoinfo checks for 'location')
    assert ask(geo, caller="23.129.65.1")[0] == 400


def test_ties_keep_request_order_and_unknown_servers_go_last(geo: LegacyGeo) -> None:
    assert ask(geo, caller="129.93.1.1", servers="nowhere.example,129.93.1.1,129.93.1.1,10.0.0.1,128.104.1.1") == (
        200,
        "2,3,5,1,4\n",
    )


def test_servers_from_the_caches_file_ip_column_or_coordinates(real_db: GeoIPDatabase, tmp_path: Path) -> None:
    (tmp_path / "caches.csv").write_text(
        "name,endpoint,latitude,longitude,ip\n"
        "ByAddress,https://by-address.example:8443,0.5,0.5,129.93.1.1\n"  # the ip wins over coordinates
        "ByPosition,https://by-position.example:8443,32.88,-117.24,\n"
        "Sydney,https://ip.by-position.example:8443,-33.9,151.2,\n"
    )
    geo = LegacyGeo(real_db, load_caches(tmp_path / "caches.csv"))
    servers = "by-address.example,by-position.example"
    assert ask(geo, caller="128.104.1.1", servers=servers) == (200, "1,2\n")  # Madison: Lincoln first
    assert ask(geo, caller="132.239.1.1", servers=servers) == (200, "2,1\n")  # La Jolla: San Diego first
    # behind Cloudflare the service tries ip.<name> first: here that name sits in Sydney
    assert ask(geo, servers=servers, HTTP_CF_CONNECTING_IP="132.239.1.1") == (200, "1,2\n")


def test_http_face_at_both_url_layouts(geo: LegacyGeo) -> None:
    client = TestClient(create_legacy_app(geo), client=("129.93.1.1", 40000))
    for url in (
        f"/cvmfs/config-osg.opensciencegrid.org/api/v1.0/geo/stashcp/{SERVERS}",
        f"/api/v1.0/geo/stashcp/{SERVERS}",
    ):
        response = client.get(url)
        assert (response.status_code, response.text) == (200, "5,4,2,6,3,1\n")
        assert response.headers["cache-control"] == "max-age=3600"
    response = client.get(f"/api/v1.0/geo/stashcp/{SERVERS}", headers={"X-Forwarded-For": "132.239.1.1"})
    assert response.text == "3,5,4,2,6,1\n"
    response = TestClient(create_legacy_app(geo), client=("127.0.0.1", 1)).get(f"/api/v1.0/geo/x/{SERVERS}")
    assert (response.status_code, response.text) == (400, "Bad Request: remote addr not found in database\n")


def test_command_line_prints_the_wire_answer() -> None:
    run = [sys.executable, "-m", "evaluation", "legacy"]
    ok = subprocess.run([*run, "129.93.1.1", SERVERS], capture_output=True, text=True, timeout=60, check=False)
    assert (ok.returncode, ok.stdout) == (0, "5,4,2,6,3,1\n")
    bad = subprocess.run([*run, "127.0.0.1", SERVERS], capture_output=True, text=True, timeout=60, check=False)
    assert (bad.returncode, bad.stdout) == (1, "Bad Request: remote addr not found in database\n")
    names = subprocess.run(
        [*run, "129.93.1.1", "Stashcache-Kansas,NEBRASKA_NRP_OSDF_CACHE"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert names.stdout == "2,1\n"  # cache names from data/caches.csv, placed by their coordinates


def test_legacy_strategy_uses_the_same_emulation(real_db: GeoIPDatabase) -> None:
    from evaluation.records import from_rows
    from evaluation.strategies import LegacyStrategy
    from locator.core.caches import Cache
    from locator.core.federation import Federation

    # servers without coordinates: the emulation places them by their `ip` only
    caches = CacheSet(
        tuple(Cache(f"s{i}", f"https://s{i}.example", None, ip=ip) for i, ip in enumerate(SERVERS.split(","), start=1))
    )
    strategy = LegacyStrategy(LegacyGeo(real_db, caches), Federation(caches))
    records = from_rows(
        [{"client_ip": c} for c, _ in SAMPLES] + [{"client_ip": "127.0.0.1"}, {"client_ip": "23.129.65.1"}]
    )
    ranking = strategy.rank(records)
    for row, (_, expected) in enumerate(SAMPLES):
        assert ",".join(str(i + 1) for i in ranking.order[row]) + "\n" == expected
    assert ranking.error[-2] == "HTTP 400: remote addr not found in database"
    assert ranking.error[-1] == "HTTP 400: remote addr not found in database"  # as caller: not located
    assert (ranking.order[-2:] == -1).all()
