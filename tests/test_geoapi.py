"""The CVMFS geo API answered by the locator: the legacy wire format (checked against the project's emulation
of the legacy service, case by case of ../shared/legacy-geo-api.md), this project's cascade, names placed by
the caches file or by DNS."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from starlette.testclient import TestClient

from evaluation.cli import DEFAULT_CACHES
from evaluation.databases import campus_records
from evaluation.defaults import LEGACY_GEOIP
from evaluation.geoapi import campus_requests, compare, summary
from evaluation.harness import build_harness
from evaluation.legacy import LegacyGeo, open_legacy_geoip
from evaluation.legacy_server import create_legacy_app
from locator.core.caches import Cache, CacheSet
from locator.core.geo import Coordinate
from locator.core.rank import listed, order
from locator.resources import load_federation
from locator.service import create_app
from locator.settings import Settings
from locator.sources.geoip import GeoIPDatabase
from scripts.fake_dns import FakeDNS
from tests.conftest import ClientFactory
from tests.test_metrics import samples, value

SERVERS = "128.142.1.1,131.225.1.1,132.239.1.1,128.104.1.1,129.93.1.1,192.170.227.1"
LINCOLN, MADISON, LA_JOLLA = "129.93.1.1", "128.104.1.1", "132.239.1.1"
GEO = "/api/v1.0/geo"


@pytest.fixture(scope="module")
def legacy_db() -> Iterator[GeoIPDatabase]:
    database = open_legacy_geoip()
    yield database
    database.close()


@pytest.fixture(scope="module")
def legacy(legacy_db: GeoIPDatabase) -> TestClient:
    return TestClient(create_legacy_app(LegacyGeo(legacy_db)), client=(LINCOLN, 40000))


@pytest.fixture
def same_database(make_settings: Callable[..., Settings], legacy_db: GeoIPDatabase) -> Iterator[ClientFactory]:
    """Locators over the legacy service's own database (GeoLite2 2018, opened once), so that only the rules
    differ."""
    clients: list[TestClient] = []

    def build(peer: str = "127.0.0.1") -> TestClient:
        settings = make_settings(geoip_db=legacy_db.info.path)
        client = TestClient(create_app(settings, load_federation(settings, legacy_db)), client=(peer, 40000))
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def wire(client: TestClient, url: str, **headers: str) -> tuple[int, str, str, str]:
    response = client.get(url, headers=headers)
    return (
        response.status_code,
        response.text,
        response.headers["content-type"],
        response.headers.get("cache-control", ""),
    )


def legacy_as(legacy: TestClient, peer: str) -> TestClient:
    return TestClient(legacy.app, client=(peer, 40000))


CASES = [
    ("lincoln-caller", f"{GEO}/{LINCOLN}/{SERVERS}", "127.0.0.1", "5,4,2,6,3,1\n"),
    ("madison-caller", f"/cvmfs/config-osg.opensciencegrid.org/api/v1.0/geo/{MADISON}/{SERVERS}", LINCOLN, None),
    ("la-jolla-peer", f"{GEO}/stashcp/{SERVERS}", LA_JOLLA, "3,5,4,2,6,1\n"),
    ("loopback", f"{GEO}/x/{SERVERS}", "127.0.0.1", "Bad Request: remote addr not found in database\n"),
    ("malformed", "/api/nonsense", LINCOLN, "Bad Request: malformed api URL: //nonsense\n"),
    ("unrecognized", "/api/v1.0/info/x/y", LINCOLN, "Bad Request: unrecognized api function\n"),
    ("no-slash", f"{GEO}/no-slash-here", LINCOLN, "Bad Request: no slash in geo path\n"),
    (
        "no-server",
        f"{GEO}/{LINCOLN}/nowhere.invalid,10.0.0.1",
        LINCOLN,
        "Bad Request: no server addr found in database\n",
    ),
    (
        "ties-unknown-last",
        f"{GEO}/{LINCOLN}/nowhere.invalid,{LINCOLN},{LINCOLN},10.0.0.1,{MADISON}",
        LINCOLN,
        "2,3,5,1,4\n",
    ),
    # Madison's nearest proxy is Lincoln's; the hosts are then ordered from Lincoln, the separator last
    ("proxies", f"{GEO}/{MADISON}/128.142.1.1,131.225.1.1,+PXYSEP+,{LA_JOLLA},{LINCOLN}", LINCOLN, "2,1,5,4,3\n"),
]


# The lifetimes that differ from the legacy service's: these answers depend on who asks (the caching string names
# no address), so no shared cache may keep them for everyone.
ASKER_LIFETIMES = {"la-jolla-peer": "private, max-age=300", "loopback": "private, max-age=300"}


@pytest.mark.parametrize(("url", "peer", "body"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_wire_format_is_the_legacy_services(
    legacy: TestClient,
    same_database: ClientFactory,
    url: str,
    peer: str,
    body: str | None,
    request: pytest.FixtureRequest,
) -> None:
    """Status, body and content type, byte for byte, for every case of the legacy document; the cache lifetime
    too, except where the answer depends on who asks (module docstring of locator.web.geoapi)."""
    ours = wire(same_database(peer), url)
    theirs = wire(legacy_as(legacy, peer), url)
    assert ours[:3] == theirs[:3]
    if body is not None:
        assert ours[1] == body
    assert ours[2].startswith("text/plain")
    assert theirs[3] == ("max-age=3600" if ours[0] == 200 else "max-age=300")
    assert ours[3] == ASKER_LIFETIMES.get(request.node.callspec.id, theirs[3])


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": f"10.0.0.1, {LA_JOLLA}"},
        {"x-forwarded-for": f"10.0.0.1,{LA_JOLLA}"},
        {"cf-connecting-ip": LA_JOLLA},
        {"cf-connecting-ip": LA_JOLLA, "x-forwarded-for": LINCOLN},
    ],
    ids=["forwarded", "forwarded-no-space", "cloudflare", "cloudflare-first"],
)
def test_addresses_from_a_proxy_agree(
    legacy: TestClient, same_database: ClientFactory, headers: dict[str, str]
) -> None:
    """Through a reverse proxy on the same host (trusted by default), the client is who the proxy says."""
    url = f"{GEO}/stashcp/{SERVERS}"
    ours = wire(same_database("127.0.0.1"), url, **headers)
    assert ours[:3] == wire(legacy_as(legacy, "127.0.0.1"), url, **headers)[:3]
    assert ours[:2] == (200, "3,5,4,2,6,1\n")  # La Jolla's order
    assert ours[3] == "private, max-age=300"  # the order is the asker's: no shared cache may keep it


def test_the_kansas_default_is_not_a_position(legacy: TestClient, same_database: ClientFactory) -> None:
    """8.8.8.8 is known to GeoLite2 only as the US: the legacy service orders from central Kansas, the locator
    does not; with the colo that received the request it orders from there (Chicago's O'Hare)."""
    url = f"{GEO}/8.8.8.8/{SERVERS}"
    assert wire(legacy, url)[:2] == (200, "5,4,2,6,3,1\n")
    assert wire(same_database(), url)[:2] == (400, "Bad Request: remote addr not found in database\n")
    received = {"cf-connecting-ip": "8.8.8.8", "cf-ray": "0-ORD"}
    assert wire(same_database(), f"{GEO}/8.8.8.8/{SERVERS}", **received)[:2] == (200, "6,2,4,5,3,1\n")


def test_the_caching_string_locates_whoever_asks(same_database: ClientFactory) -> None:
    """Site proxies keep answers under the caching string: asked from La Jolla or with a Boulder edge report, a
    Lincoln caching string is answered for Lincoln."""
    url = f"{GEO}/{LINCOLN}/{SERVERS}"
    boulder = {
        "cf-connecting-ip": LA_JOLLA,
        "cf-iplatitude": "40.0",
        "cf-iplongitude": "-105.3",
        "cf-ipcity": "Boulder",
    }
    assert wire(same_database(LA_JOLLA), url)[1] == "5,4,2,6,3,1\n"
    assert wire(same_database(), url, **boulder)[1] == "5,4,2,6,3,1\n"


def test_the_edge_locates_a_caching_string_that_names_no_address(same_database: ClientFactory) -> None:
    """`squid.site.invalid` does not resolve: the request is located by the cascade, here the edge's report."""
    near_la_jolla = {"cf-iplatitude": "32.9", "cf-iplongitude": "-117.2", "cf-ipcity": "San Diego", "cf-ray": "0-LAX"}
    assert wire(same_database(), f"{GEO}/squid.site.invalid/{SERVERS}", **near_la_jolla)[1] == "3,5,4,2,6,1\n"


def test_an_answer_that_depends_on_the_asker_is_never_shared(same_database: ClientFactory) -> None:
    """Finding 3: a caching string that names no address, asked for from two places, gets two orders: each is
    private (no shared cache keeps it) and never kept for the legacy hour. One located by the caching string's
    own address is the same for everyone, and keeps the hour."""
    url = f"{GEO}/stashcp/{SERVERS}"
    from_lincoln = same_database().get(url, headers={"cf-connecting-ip": LINCOLN})
    from_la_jolla = same_database().get(url, headers={"cf-connecting-ip": LA_JOLLA})
    assert from_lincoln.text != from_la_jolla.text
    for answer in (from_lincoln, from_la_jolla):
        assert answer.headers["cache-control"] == "private, max-age=300"
    by_address = [
        same_database().get(f"{GEO}/{LINCOLN}/{SERVERS}", headers={"cf-connecting-ip": ip})
        for ip in (LINCOLN, LA_JOLLA)
    ]
    assert by_address[0].text == by_address[1].text == "5,4,2,6,3,1\n"
    assert {answer.headers["cache-control"] for answer in by_address} == {"max-age=3600"}


def test_a_caching_string_name_is_resolved_and_locates_the_client(same_database: ClientFactory) -> None:
    """`squid.unl.example` resolves (through the stand-in DNS) to an address in Lincoln: asked from La Jolla, the
    answer is Lincoln's, for everyone."""
    answer = same_database(LA_JOLLA).get(f"{GEO}/squid.unl.example/{SERVERS}")
    assert (answer.text, answer.headers["cache-control"]) == ("5,4,2,6,3,1\n", "max-age=3600")


def test_without_the_ip_override_the_caching_string_locates_nobody(make_client: ClientFactory) -> None:
    """Finding 3: LOCATOR_ALLOW_IP_OVERRIDE=false governs the caching string too, whether it is an address or a
    name: the request locates the client (here an edge report in Houston), and the answer is private."""
    houston = {"cf-iplatitude": "29.8", "cf-iplongitude": "-95.3", "cf-ipcity": "Houston", "cf-ray": "0-IAH"}
    servers = "chicago.example.org,houston.example.org"
    for allowed, expected in (("true", "1,2\n"), ("false", "2,1\n")):
        client = make_client(allow_ip_override=allowed)
        for caching in ("129.93.1.1", "unl.example"):
            answer = client.get(f"{GEO}/{caching}/{servers}", headers=houston)
            assert answer.text == expected  # Lincoln is nearer Chicago; Houston nearer Houston
            assert answer.headers["cache-control"] == ("max-age=3600" if allowed == "true" else "private, max-age=300")


def test_an_answer_naming_a_name_not_resolved_in_time_is_kept_briefly(client: TestClient) -> None:
    """Finding 2: a server whose name did not resolve in time goes last, and the answer that says so is kept a
    minute, not the hour: the next one may know better."""
    servers = "chicago.example.org,never-answers.example,houston.example.org"
    houston = {"cf-iplatitude": "29.8", "cf-iplongitude": "-95.3", "cf-ipcity": "Houston", "cf-ray": "0-IAH"}
    answer = client.get(f"{GEO}/129.93.1.1/{servers}", headers=houston)
    assert answer.text == "1,3,2\n"
    assert answer.headers["cache-control"] == "max-age=60"
    private = client.get(f"{GEO}/x/{servers}", headers=houston)
    assert (private.text, private.headers["cache-control"]) == ("3,1,2\n", "private, max-age=60")


def test_configured_caches_are_placed_where_the_caches_file_says(client: TestClient) -> None:
    """No DNS for the caches' own names (host or name); a name that does not resolve goes last."""
    servers = "chicago.example.org,houston.example.org,Sunnyvale,nowhere.invalid"
    san_diego = {"cf-iplatitude": "32.9", "cf-iplongitude": "-117.2", "cf-ipcity": "San Diego", "cf-ray": "0-LAX"}
    assert wire(client, f"{GEO}/x/{servers}", **san_diego)[:2] == (200, "3,2,1,4\n")
    houston = {"cf-iplatitude": "29.8", "cf-iplongitude": "-95.3", "cf-ipcity": "Houston", "cf-ray": "0-IAH"}
    assert wire(client, f"{GEO}/x/{servers}", **houston)[:2] == (200, "2,1,3,4\n")


def test_too_many_servers_is_a_bad_request(client: TestClient) -> None:
    servers = ",".join(["129.93.1.1"] * 65)
    assert wire(client, f"{GEO}/x/{servers}")[:2] == (400, "Bad Request: more than 64 servers\n")


def test_counted_and_logged_under_its_route(client: TestClient) -> None:
    houston = {"cf-iplatitude": "29.8", "cf-iplongitude": "-95.3", "cf-ipcity": "Houston", "cf-ray": "0-IAH"}
    client.get(f"{GEO}/x/chicago.example.org,houston.example.org", headers=houston)
    client.get(f"{GEO}/x/chicago.example.org,houston.example.org")  # unlocated: a 400
    data = samples(client)
    assert value(data, "locator_http_requests_total", route="/api/{rest:path}", status="200") == 1
    assert value(data, "locator_http_requests_total", route="/api/{rest:path}", status="400") == 1
    assert value(data, "locator_decisions_total", method="edge") == 1
    assert value(data, "locator_decisions_total", method="fallback") == 1


def test_the_servers_are_ordered_by_the_one_ranking_ties_kept_and_the_unknown_last() -> None:
    """The geo API's servers are places of their own for THE ranking (no weights, no spread): nearest first,
    equal distances in request order, unknown positions last in request order."""
    here = Coordinate(40.8, -96.7)
    far, near = Coordinate(41.9, -87.6), Coordinate(40.8, -96.7)
    positions = [None, far, near, None, near]
    ranking = order(listed(positions), np.arange(len(positions)), here, "")
    assert ranking.indices.tolist() == [2, 4, 1, 0, 3]
    assert [place.reason for place in ranking] == ["spread", "spread", "distance", "no_position", "no_position"]


def test_cache_set_names_a_cache_by_name_host_authority_or_endpoint() -> None:
    cache = Cache("Chicago", "https://chicago.example.org:8443", Coordinate(41.9, -87.6))
    caches = CacheSet((cache,))
    for text in ("Chicago", "CHICAGO", "chicago.example.org", "chicago.example.org:8443", cache.endpoint):
        assert caches.named(text) is cache
    assert caches.named("example.org") is None


def test_the_evaluation_puts_both_answers_side_by_side() -> None:
    """The 2022 OSPool sites from their campus addresses: where the orders differ, the locator's cascade placed
    the client closer (the legacy service's Kansas centroid skipped as no_city, the colo deciding), but once."""
    harness = build_harness(DEFAULT_CACHES, {"LOCATOR_GEOIP_DB": LEGACY_GEOIP})
    try:
        table = compare(harness, campus_requests())
    finally:
        harness.close()
    assert len(table) == len(campus_records())
    same = table[table["same_order"]]
    assert (same["legacy_answer"] == same["locator_answer"]).all()
    differ = table[~table["same_order"]]
    closer = differ[differ["locator_off_km"] < differ["legacy_off_km"]]
    kansas = closer[closer["locator_skipped"].str.contains("geoip:no_city") & (closer["locator_method"] == "colo")]
    assert len(kansas) >= 5 and (kansas["legacy_first"] == "Stashcache-Kansas").sum() >= 3
    assert len(closer) == len(differ) - 1
    assert "7 different" in summary(table) and "in 6 of 7" in summary(table)


def test_only_answers_anyone_gets_are_kept_in_the_memo(make_client: ClientFactory, fake_dns: FakeDNS) -> None:
    """A shared answer (the caching string's own address located it, every name resolved) is kept and served
    again without its names being looked up; one that depends on the asker, or names a name not resolved in
    time, never is."""
    client = make_client()
    shared = client.app.state.shared  # type: ignore[attr-defined]
    servers = "chicago.example.org,cern.example,houston.example.org"
    asked = fake_dns.queries
    first = client.get(f"{GEO}/129.93.1.1/{servers}")
    assert first.headers["cache-control"] == "max-age=3600" and shared.memo.stats[0] == 1
    looked_up = fake_dns.queries
    assert looked_up > asked
    again = client.get(f"{GEO}/129.93.1.1/{servers}", headers={"cf-connecting-ip": "132.239.1.1"})
    assert again.text == first.text and fake_dns.queries == looked_up  # the memo's, for whoever asks
    client.get(f"{GEO}/stashcp/{servers}")  # the asker's: private
    client.get(f"{GEO}/129.93.1.1/chicago.example.org,never-here.example")  # a name late: a minute
    assert shared.memo.stats[0] == 1
