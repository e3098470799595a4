"""The location cascade, through HTTP: every step, every skip reason, the trust rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from locator.settings import DATA_DIR
from tests.conftest import ClientFactory

CF_BOULDER = {
    "cf-iplatitude": "40.01500",
    "cf-iplongitude": "-105.27000",
    "cf-ipcity": "Boulder",
    "cf-ipcountry": "US",
    "cf-region": "Colorado",
    "cf-postal-code": "80302",
}


def nearest(client: TestClient, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    response = client.get("/nearest", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [cache["name"] for cache in body["caches"]]


# --- 1. declared -------------------------------------------------------------------------------------


def test_declared_position_wins_over_everything(client: TestClient) -> None:
    body = nearest(client, {**CF_BOULDER, "cf-connecting-ip": "129.93.1.1"}, lat="29.7", lon="-95.4")
    assert body["method"] == "declared"
    assert body["skipped"] == {}
    assert names(body)[0] == "Houston"
    assert (body["client"]["latitude"], body["client"]["longitude"]) == (29.7, -95.4)


def test_declared_null_island_is_skipped(client: TestClient) -> None:
    body = nearest(client, CF_BOULDER, lat="0", lon="0")
    assert body["skipped"]["declared"] == "null_island"
    assert body["method"] == "edge"


# --- 2. override -------------------------------------------------------------------------------------


def test_override_beats_edge_and_geoip(client: TestClient) -> None:
    body = nearest(client, {**CF_BOULDER, "cf-connecting-ip": "129.93.5.20"})
    assert body["method"] == "override"
    assert names(body)[0] == "Houston"
    assert body["skipped"] == {"declared": "absent"}


def test_override_matches_private_addresses(make_client: ClientFactory) -> None:
    body = nearest(make_client(peer="10.1.2.3"))
    assert body["method"] == "override"
    assert names(body)[0] == "Chicago"


def test_override_matches_ipv6(make_client: ClientFactory) -> None:
    body = nearest(make_client(peer="2001:db8::42"))
    assert body["method"] == "override"
    assert names(body)[0] == "NewYork"


def test_override_no_match_and_no_table(make_client: ClientFactory) -> None:
    body = nearest(make_client(), {"cf-connecting-ip": "129.93.1.1"})
    assert body["skipped"]["override"] == "no_match"
    body = nearest(make_client(overrides_file=""), {"cf-connecting-ip": "129.93.1.1"})
    assert body["skipped"]["override"] == "no_overrides"


# --- 3. edge -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "city"),
    [
        (CF_BOULDER, "Boulder"),
        (
            {
                "cloudfront-viewer-latitude": "40.015",
                "cloudfront-viewer-longitude": "-105.27",
                "cloudfront-viewer-city": "Boulder",
                "cloudfront-viewer-country": "US",
            },
            "Boulder",
        ),
        (
            {
                "x-edge-latitude": "40.015",
                "x-edge-longitude": "-105.27",
                "x-edge-city": "Boulder",
                "x-edge-country": "US",
            },
            "Boulder",
        ),
    ],
    ids=["cloudflare", "cloudfront", "generic"],
)
def test_edge_position_from_each_provider(client: TestClient, headers: dict[str, str], city: str) -> None:
    body = nearest(client, headers)
    assert body["method"] == "edge"
    assert body["client"]["city"] == city
    assert body["client"]["country"] == "US"
    assert names(body)[0] == "Kansas"  # Denver is disabled, Lincoln is down
    assert "DenverDisabled" not in names(body) and "LincolnDown" not in names(body)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"cf-iplatitude": "37.751", "cf-iplongitude": "-97.822", "cf-ipcountry": "US"}, "no_city"),
        ({"cf-iplatitude": "abc", "cf-iplongitude": "-97.8", "cf-ipcity": "X"}, "not_a_number"),
        ({"cf-iplatitude": "NaN", "cf-iplongitude": "-97.8", "cf-ipcity": "X"}, "not_a_number"),
        ({"cf-iplatitude": "95", "cf-iplongitude": "-97.8", "cf-ipcity": "X"}, "out_of_range"),
        ({"cf-iplatitude": "0", "cf-iplongitude": "0", "cf-ipcity": "X"}, "null_island"),
        ({"cf-ipcountry": "US"}, "missing_coordinates"),
        ({"cf-ipcity": "Boulder", "cf-iplatitude": "40.0"}, "missing_coordinates"),
    ],
    ids=["no-city", "not-a-number", "nan", "out-of-range", "null-island", "country-only", "no-longitude"],
)
def test_unusable_edge_positions_fall_through(client: TestClient, headers: dict[str, str], reason: str) -> None:
    body = nearest(client, {**headers, "cf-connecting-ip": "129.93.1.1"})
    assert body["skipped"]["edge"] == reason
    assert body["method"] == "geoip"
    assert body["client"]["city"] == "Lincoln"


def test_edge_headers_from_untrusted_peer_are_ignored(make_client: ClientFactory) -> None:
    client = make_client(peer="129.93.1.1")
    body = nearest(client, {**CF_BOULDER, "cf-connecting-ip": "3.3.3.3", "cf-ray": "8f00aa-DFW"})
    assert body["skipped"]["edge"] == "untrusted_peer"
    assert body["client"]["ip"] == "129.93.1.1"  # the peer, not the forwarded address
    assert body["method"] == "geoip"
    assert body["client"]["colo"] is None


def test_trusted_proxies_setting_decides_trust(make_client: ClientFactory) -> None:
    client = make_client(peer="198.51.100.7", trusted_proxies="198.51.100.0/24")
    body = nearest(client, CF_BOULDER)
    assert body["method"] == "edge"


# --- cross-check ---------------------------------------------------------------------------------------


def test_edge_far_from_colo_is_skipped_and_colo_decides(client: TestClient) -> None:
    ashburn = {
        "cf-iplatitude": "39.04",
        "cf-iplongitude": "-77.49",
        "cf-ipcity": "Ashburn",
        "cf-ray": "1-LAX",
    }
    body = nearest(client, ashburn)
    assert body["skipped"]["edge"] == "far_from_colo"
    assert body["method"] == "colo"
    assert body["client"]["colo"] == "LAX"
    assert names(body)[0] == "Sunnyvale"


def test_geoip_far_from_colo_is_skipped(client: TestClient) -> None:
    body = nearest(client, {"cf-connecting-ip": "3.3.3.3", "cf-ray": "1-DEN"})
    assert body["skipped"]["geoip"] == "far_from_colo"
    assert body["method"] == "colo"


def test_cross_check_within_distance_keeps_position(client: TestClient) -> None:
    body = nearest(client, {**CF_BOULDER, "cf-ray": "8f00aa-DFW"})  # Boulder-DFW is about 1,030 km
    assert body["method"] == "edge"


def test_cross_check_can_be_disabled(make_client: ClientFactory) -> None:
    body = nearest(make_client(far_from_colo_km="0"), {"cf-connecting-ip": "3.3.3.3", "cf-ray": "1-DEN"})
    assert body["method"] == "geoip"


def test_cross_check_distance_is_a_setting(make_client: ClientFactory) -> None:
    body = nearest(make_client(far_from_colo_km="500"), {**CF_BOULDER, "cf-ray": "8f00aa-DFW"})
    assert body["skipped"]["edge"] == "far_from_colo"


# --- 4. geoip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", "low_accuracy"),
        ("9.9.9.9", "no_city"),
        ("23.129.64.1", "no_location"),
        ("45.45.45.45", "null_island"),
        ("4.4.4.4", "not_found"),
        ("192.168.1.10", "not_public"),
        ("::1", "not_public"),
    ],
    ids=[
        "kansas-default-radius",
        "centroid-no-city",
        "no-location",
        "null-island",
        "not-in-db",
        "private",
        "loopback-v6",
    ],
)
def test_unusable_geoip_answers(client: TestClient, address: str, reason: str) -> None:
    body = nearest(client, {"cf-connecting-ip": address})
    assert body["skipped"]["geoip"] == reason
    assert body["method"] == "fallback"


def test_geoip_locates_ipv4_and_ipv6(client: TestClient) -> None:
    body = nearest(client, {"cf-connecting-ip": "129.93.1.1"})
    assert body["method"] == "geoip"
    assert body["client"]["accuracy_km"] == 5.0
    assert names(body)[0] == "Kansas"
    body = nearest(client, {"cf-connecting-ip": "2001:4860:4860::8888"})
    assert body["method"] == "geoip"
    assert names(body)[0] == "Sunnyvale"


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4(client: TestClient) -> None:
    body = nearest(client, {"cf-connecting-ip": "::ffff:129.93.1.1"})
    assert body["client"]["ip"] == "129.93.1.1"
    assert body["method"] == "geoip"


def test_accuracy_threshold_is_a_setting(make_client: ClientFactory) -> None:
    body = nearest(make_client(max_accuracy_km="5"), {"cf-connecting-ip": "129.93.1.1"})
    assert body["skipped"]["geoip"] == "low_accuracy"


def test_no_geoip_database(make_client: ClientFactory) -> None:
    client = make_client(geoip_db="")
    body = nearest(client, {"cf-connecting-ip": "129.93.1.1"})
    assert body["skipped"]["geoip"] == "no_database"
    assert client.get("/readyz").json()["status"] == "degraded"


# --- 5. colo -----------------------------------------------------------------------------------------


def test_colo_from_cf_ray_when_geoip_fails(client: TestClient) -> None:
    # The 2022 study's UColorado_HEP case: the edge had no city and the request landed in Dallas.
    headers = {
        "cf-iplatitude": "37.751",
        "cf-iplongitude": "-97.822",
        "cf-ipcountry": "US",
        "cf-connecting-ip": "8.8.8.8",
        "cf-ray": "6c3f0f0a9e1b2c3d-DFW",
    }
    body = nearest(client, headers)
    assert body["method"] == "colo"
    assert body["skipped"] == {
        "declared": "absent",
        "override": "no_match",
        "edge": "no_city",
        "geoip": "low_accuracy",
    }
    assert names(body)[0] == "Houston"
    assert body["client"]["colo"] == "DFW"


def test_colo_from_generic_header_and_query(client: TestClient) -> None:
    assert nearest(client, {"x-edge-colo": "jfk"})["client"]["colo"] == "JFK"
    body = nearest(client, {"x-edge-colo": "JFK"}, colo="LAX")
    assert body["client"]["colo"] == "LAX"
    assert names(body)[0] == "Sunnyvale"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"cf-ray": "6c3f0f0a9e1b2c3d-QQQ"}, "unknown_colo"),
        ({"cf-ray": "6c3f0f0a9e1b2c3d-ZZZ"}, "unknown_colo"),  # stored at 0,0: never served
        ({"cf-ray": "6c3f0f0a9e1b2c3d"}, "malformed_colo"),
        ({"cf-ray": "abc-12"}, "malformed_colo"),
        ({}, "absent"),
    ],
    ids=["unknown-code", "null-island-airport", "no-suffix", "digits", "absent"],
)
def test_unusable_colos(client: TestClient, headers: dict[str, str], reason: str) -> None:
    body = nearest(client, headers)
    assert body["skipped"]["colo"] == reason
    assert body["method"] == "fallback"


def test_default_colo_setting(make_client: ClientFactory) -> None:
    body = nearest(make_client(default_colo="ord"))
    assert body["method"] == "colo"
    assert body["client"]["colo"] == "ORD"
    assert names(body)[0] == "Chicago"


def test_missing_airports_degrades_to_no_colo(make_client: ClientFactory, data_dir: Any) -> None:
    (data_dir / "airports.csv").unlink()
    client = make_client()
    body = nearest(client, {"cf-ray": "1-DFW"})
    assert body["skipped"]["colo"] == "no_airport_table"
    assert any(note.startswith("airports:") for note in client.get("/readyz").json()["degraded"])


# --- 6. fallback -------------------------------------------------------------------------------------


def test_fallback_is_sticky_per_client_network(make_client: ClientFactory) -> None:
    first = nearest(make_client(), {"cf-connecting-ip": "192.168.7.1"})
    again = nearest(make_client(), {"cf-connecting-ip": "192.168.7.200"})  # same /24, another replica
    assert first["method"] == "fallback"
    assert names(first) == names(again)
    assert all(cache["distance_km"] is None for cache in first["caches"])
    assert sorted(names(first)) == ["Chicago", "Houston", "Kansas", "Mystery", "NewYork", "Sunnyvale"]


def test_fallback_differs_between_networks(client: TestClient) -> None:
    orders = {tuple(names(nearest(client, {"cf-connecting-ip": f"192.168.{i}.1"}))) for i in range(20)}
    assert len(orders) > 5


def test_ip_query_looks_up_that_address_without_the_callers_edge(client: TestClient) -> None:
    body = nearest(client, {**CF_BOULDER, "cf-ray": "1-SJC"}, ip="129.93.1.1")
    assert body["method"] == "geoip"
    assert body["skipped"]["edge"] == "ip_override"
    assert body["client"]["ip"] == "129.93.1.1"
    assert body["client"]["colo"] is None


def test_outside_north_america_and_europe_the_cross_check_allows_farther(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """An Auckland client served from Sydney (2,150 km, as Cloudflare does for free plans): kept under the
    rule for colos elsewhere (5,000 km), skipped when that distance is set to North America's."""
    shipped = {"airports_csv": str(DATA_DIR / "airports.csv"), "airports_store": str(tmp_path / "airports.sqlite")}
    auckland = {"cf-iplatitude": "-36.85", "cf-iplongitude": "174.76", "cf-ipcity": "Auckland", "cf-ray": "1-SYD"}
    body = nearest(make_client(**shipped), auckland)
    assert body["method"] == "edge" and body["client"]["city"] == "Auckland"
    body = nearest(make_client(**shipped, far_from_colo_elsewhere_km="1500"), auckland)
    assert body["skipped"]["edge"] == "far_from_colo" and body["method"] == "colo"
    # Denver's colo is in North America: Ashburn, 2,400 km from it, is too far under the default 1,500.
    ashburn = {"cf-iplatitude": "39.04", "cf-iplongitude": "-77.49", "cf-ipcity": "Ashburn", "cf-ray": "1-DEN"}
    assert nearest(make_client(**shipped), ashburn)["skipped"]["edge"] == "far_from_colo"
