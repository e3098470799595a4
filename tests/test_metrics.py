"""/metrics: decisions by method, skip reasons, redirects, HTTP counts and latency, the data's size and age."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.conftest import ClientFactory


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(data: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return data.get((name, tuple(sorted(labels.items()))), 0.0)


def test_decisions_skips_redirects_and_http_counts(client: TestClient) -> None:
    client.get("/nearest", params={"lat": "40", "lon": "-96"})
    client.get("/nearest", headers={"cf-connecting-ip": "8.8.8.8", "cf-ray": "1-DFW"})
    client.get("/some/file", headers={"cf-connecting-ip": "129.93.1.1"})
    client.get("/nearest", params={"lat": "abc", "lon": "1"})
    client.post("/nearest")
    data = samples(client)
    assert value(data, "locator_decisions_total", method="declared") == 1
    assert value(data, "locator_decisions_total", method="colo") == 1
    assert value(data, "locator_decisions_total", method="geoip") == 1
    assert value(data, "locator_skips_total", source="geoip", reason="low_accuracy") == 1
    assert value(data, "locator_skips_total", source="edge", reason="absent") == 2
    assert value(data, "locator_redirects_total") == 1
    assert value(data, "locator_http_requests_total", route="/nearest", status="200") == 2
    assert value(data, "locator_http_requests_total", route="/nearest", status="400") == 1
    assert value(data, "locator_http_requests_total", route="/nearest", status="405") == 1
    assert value(data, "locator_http_requests_total", route="redirect", status="307") == 1
    assert value(data, "locator_request_duration_seconds_count", route="/nearest") == 4
    assert value(data, "locator_request_duration_seconds_bucket", route="/nearest", le="+Inf") == 4


def test_data_gauges(client: TestClient) -> None:
    data = samples(client)
    assert value(data, "locator_caches", state="configured") == 8
    assert value(data, "locator_caches", state="in_service") == 6
    assert value(data, "locator_overrides") == 3
    assert 0 <= value(data, "locator_cache_list_age_seconds") < 60
    assert value(data, "locator_reload_error", file="caches") == 0
    assert value(data, "locator_degraded", part="geoip") == 0


def test_degraded_parts_are_reported(make_client: ClientFactory) -> None:
    data = samples(make_client(geoip_db=""))
    assert value(data, "locator_degraded", part="geoip") == 1


def test_client_addresses_never_appear(client: TestClient) -> None:
    for address in ("129.93.1.1", "8.8.8.8", "2001:4860:4860::8888", "10.1.2.3"):
        client.get("/nearest", headers={"cf-connecting-ip": address})
        client.get("/x", headers={"cf-connecting-ip": address})
    text = client.get("/metrics").text
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", text.replace("127.0.0.1", ""))
    assert "2001:" not in text and "4860" not in text
