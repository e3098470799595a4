"""Every endpoint of the HTTP API, through Starlette's TestClient."""

from __future__ import annotations

import math

import pytest
from starlette.testclient import TestClient

from locator.web.query import MAX_MEMO_QUERY_BYTES
from tests.conftest import ClientFactory

LINCOLN = {"lat": "40.8", "lon": "-96.667"}


def test_nearest_json_shape(client: TestClient) -> None:
    response = client.get("/nearest", params=LINCOLN)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"method", "client", "skipped", "edge", "namespace", "caches", "origins"}
    assert body["edge"] is None  # no edge headers
    assert body["namespace"] is None  # no path: public data
    assert set(body["client"]) == {"ip", "latitude", "longitude", "city", "country", "colo", "accuracy_km"}
    first = body["caches"][0]
    assert first == {
        "name": "Kansas",
        "endpoint": "https://kansas.example.org:8443",
        "latitude": 39.1024,
        "longitude": -94.5986,
        "distance_km": pytest.approx(258.283, abs=0.001),  # haversine package: 258.2827
        "weight": 1.0,
        "health": "unknown",  # the prober is off in these tests
        "reason": "nearest",
        "load": None,  # no load feed
    }


def test_nearest_echoes_what_the_edge_reported_even_when_unused(client: TestClient) -> None:
    headers = {
        "cf-iplatitude": "37.751",
        "cf-iplongitude": "-97.822",
        "cf-ipcountry": "us",
        "cf-ray": "1-DFW",
    }
    body = client.get("/nearest", headers=headers).json()
    assert body["method"] == "colo"
    assert body["edge"] == {
        "provider": "cloudflare",
        "latitude": "37.751",
        "longitude": "-97.822",
        "city": None,
        "country": "US",
        "region": None,
        "postal_code": None,
    }


def test_nearest_orders_by_distance_with_unknown_last(client: TestClient) -> None:
    caches = client.get("/nearest", params=LINCOLN).json()["caches"]
    known = [cache["distance_km"] for cache in caches if cache["distance_km"] is not None]
    assert known == sorted(known)
    assert caches[-1]["name"] == "Mystery"
    assert caches[-1]["distance_km"] is None and caches[-1]["latitude"] is None


def test_nearest_n_limits_the_list(client: TestClient) -> None:
    body = client.get("/nearest", params={**LINCOLN, "n": "2"}).json()
    assert [cache["name"] for cache in body["caches"]] == ["Kansas", "Chicago"]
    assert len(client.get("/nearest", params={**LINCOLN, "n": "100"}).json()["caches"]) == 6


def test_nearest_text_format_is_one_endpoint_per_line(client: TestClient) -> None:
    response = client.get("/nearest", params={**LINCOLN, "format": "text"})
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == "https://kansas.example.org:8443"
    assert len(lines) == 6
    assert response.text.endswith("\n")


def test_nearest_head(client: TestClient) -> None:
    response = client.head("/nearest", params=LINCOLN)
    assert response.status_code == 200
    assert response.content == b""


def test_unknown_parameters_are_ignored_and_empty_values_are_absent(client: TestClient) -> None:
    body = client.get("/nearest", params={"_": "12345", "lat": "", "lon": ""}).json()
    assert body["skipped"]["declared"] == "absent"


def test_worker_compatible_shape(client: TestClient) -> None:
    headers = {
        "cf-iplatitude": "40.015",
        "cf-iplongitude": "-105.27",
        "cf-ipcity": "Boulder",
        "cf-region": "Colorado",
        "cf-postal-code": "80302",
        "cf-ray": "8f00aa-DFW",
    }
    response = client.get("/_caches", headers=headers)
    body = response.json()
    assert list(body) == [
        "city",
        "latitude",
        "longitude",
        "postalCode",
        "region",
        "AITA",
        "caches",
        "matched",
    ]
    assert body["city"] == "Boulder"
    assert (body["latitude"], body["longitude"]) == ("40.015", "-105.27")
    assert (body["postalCode"], body["region"], body["AITA"]) == ("80302", "Colorado", "DFW")
    assert body["matched"] == "Using lat/log from GeoIP"
    assert body["caches"][0] == ["kansas.example.org:8443", pytest.approx(919.889, abs=0.001)]
    assert body["caches"][-1] == ["mystery.example.org:8000", None]


def test_worker_shape_for_colo_and_shuffle(client: TestClient) -> None:
    body = client.get("/_caches", headers={"cf-ray": "1-DFW"}).json()
    assert body["matched"] == "Using lat/log from Airport Code"
    body = client.get("/_caches").json()
    assert body["matched"] == "Using random shuffle of caches"
    assert all(km == 0 for _, km in body["caches"])


def test_caches_lists_every_configured_cache_with_status(client: TestClient) -> None:
    body = client.get("/caches").json()
    assert body["count"] == 8 and body["in_service"] == 6
    caches = {cache["name"]: cache for cache in body["caches"]}
    assert caches["LincolnDown"]["status"] == "down" and caches["DenverDisabled"]["status"] == "disabled"
    assert not caches["LincolnDown"]["in_service"]
    assert caches["LincolnDown"]["reason"] == "out of service: status down in the caches file"
    assert caches["Chicago"] == {
        "name": "Chicago",
        "endpoint": "https://chicago.example.org:8443",
        "latitude": 41.8882,
        "longitude": -87.6164,
        "status": "up",
        "downtime": False,
        "weight": 1.0,
        "namespaces": [],
        "public": True,
        "site": "Internet2Chicago",
        "in_service": True,
        "health": {"state": "unknown", "score": 1.0, "probes": 0, "last": "not probed", "checked_at": None},
        "reason": "ranked as healthy: not probed (probing is off)",
    }


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["caches_in_service"] == 6
    assert ready["overrides"] == 3
    assert ready["airports"] == 9  # the 0,0 row is never loaded
    assert ready["geoip"]["database_type"] == "GeoLite2-City" and ready["geoip"]["built"]
    assert ready["degraded"] == []
    assert ready["namespaces"] == 2
    assert ready["health"] == {
        "probing": False,
        "interval_s": 0.0,
        "distrusted": False,
        "reason": "",
        "states": {"unknown": 0, "ok": 0, "degraded": 0, "failed": 0},
    }


def test_index_describes_the_service(client: TestClient) -> None:
    body = client.get("/").json()
    assert "/nearest" in body["endpoints"]


# --- redirect mode -----------------------------------------------------------------------------------


def test_redirect_is_307_to_nearest_cache_with_path_and_query(client: TestClient) -> None:
    headers = {"cf-iplatitude": "41.9", "cf-iplongitude": "-87.6", "cf-ipcity": "Chicago"}
    response = client.get("/ospool/data/file.root?authz=abc&x=1", headers=headers)
    assert response.status_code == 307
    assert response.headers["location"] == "https://chicago.example.org:8443/ospool/data/file.root?authz=abc&x=1"
    assert response.headers["cache-control"] == "no-store"


def test_redirect_link_header_lists_six_caches_in_order(client: TestClient) -> None:
    headers = {"cf-iplatitude": "41.9", "cf-iplongitude": "-87.6", "cf-ipcity": "Chicago"}
    nearest = client.get("/nearest", headers=headers).json()["caches"]
    response = client.get("/a/b", headers=headers)
    links = response.headers["link"].split(", ")
    assert len(links) == 6 and response.headers.get_list("link") == [response.headers["link"]]  # nothing else
    for rank, (link, cache) in enumerate(zip(links, nearest, strict=False), start=1):
        assert link == f'<{cache["endpoint"]}/a/b>; rel="duplicate"; pri={rank}; depth=1'


def test_redirect_head_and_percent_encoding_are_kept(client: TestClient) -> None:
    response = client.head("/data/a%20b%2Fc.txt", headers={"cf-ray": "1-JFK"})
    assert response.status_code == 307
    assert response.headers["location"] == "https://newyork.example.org:8443/data/a%20b%2Fc.txt"


IN_SERVICE = {
    "https://chicago.example.org:8443",
    "https://kansas.example.org:8443",
    "https://houston.example.org:8443",
    "https://sunnyvale.example.org:8443",
    "https://newyork.example.org:8443",
    "http://mystery.example.org:8000",
}


def test_redirect_follows_the_cascade_for_fallback_too(client: TestClient) -> None:
    response = client.get("/file")
    assert response.status_code == 307
    endpoint, _, path = response.headers["location"].rpartition("/")
    assert (endpoint in IN_SERVICE, path) == (True, "file")  # unlocated: a cache in service, in sticky order


def test_never_a_permanent_redirect(client: TestClient) -> None:
    for path, target in (("/x", "/x"), ("/nearest/", "/nearest/"), ("/a/b/c?d=e", "/a/b/c?d=e")):
        response = client.get(path)
        endpoint = response.headers["location"].removesuffix(target)
        assert (response.status_code, endpoint in IN_SERVICE) == (307, True)


def test_json_never_contains_nan_or_infinity(client: TestClient) -> None:
    text = client.get("/nearest", params={"lat": "-90", "lon": "180"}).text
    assert "NaN" not in text and "Infinity" not in text
    body = client.get("/nearest", params={"lat": "-90", "lon": "180"}).json()
    assert all(c["distance_km"] is None or math.isfinite(c["distance_km"]) for c in body["caches"])


def test_all_caches_down_is_a_clear_startup_error(make_client: ClientFactory, data_dir: object) -> None:
    from pathlib import Path

    from locator.sources.caches_file import CacheFileError

    path = Path(str(data_dir)) / "caches.csv"
    path.write_text("name,endpoint,latitude,longitude,status\nA,https://a.example:8443,1,1,down\n")
    with pytest.raises(CacheFileError, match="no cache is in service"):
        make_client()


def test_repeated_and_oversized_query_strings_answer_alike(client: TestClient) -> None:
    """Query strings are memoised up to MAX_MEMO_QUERY_BYTES; past it they are parsed each time, alike."""
    query = "lat=40.8&lon=-96.7&n=3"
    busters = "&".join(f"bust{i}=1" for i in range(100))
    assert len(busters) > MAX_MEMO_QUERY_BYTES
    answers = [client.get(f"/nearest?{q}").json() for q in (query, query, f"{query}&{busters}")]
    assert len(answers[0]["caches"]) == 3
    assert answers[0]["method"] == answers[1]["method"] == answers[2]["method"] == "declared"
    assert answers[0]["caches"] == answers[1]["caches"] == answers[2]["caches"]
    assert [client.get("/nearest?n=0").status_code for _ in range(2)] == [400, 400]  # errors are not memoised
