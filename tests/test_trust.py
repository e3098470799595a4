"""Trust boundaries: who may set what, how big inputs may be, and the switches operators have."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from locator.settings import Settings, SettingsError
from tests.conftest import ClientFactory

TOKEN = "s3cret-metrics-token-0123"
EDGE = {
    "cf-iplatitude": "41.9",
    "cf-iplongitude": "-87.6",
    "cf-ipcity": "Chicago",
    "cf-ray": "1-LAX",
    "cf-connecting-ip": "3.3.3.3",
    "x-forwarded-for": "9.9.9.9",
    "x-edge-colo": "JFK",
}


@pytest.mark.parametrize(
    ("peer", "seen_as"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("2001:db8::9", "2001:db8::9"),
        ("not-an-address", None),
    ],
)
def test_untrusted_peers_set_nothing(make_client: ClientFactory, peer: str, seen_as: str | None) -> None:
    body = make_client(peer=peer).get("/nearest", headers=EDGE).json()
    assert body["edge"] is None and body["client"]["colo"] is None
    assert body["client"]["ip"] == seen_as  # the socket peer: no forwarded address is believed


def test_trusted_peer_sets_all_of_it(client: TestClient) -> None:
    body = client.get("/nearest", headers=EDGE).json()
    assert (body["client"]["ip"], body["client"]["colo"], body["method"]) == ("3.3.3.3", "LAX", "colo")
    assert body["skipped"]["edge"] == "far_from_colo"


def test_ip_override_can_be_disabled(make_client: ClientFactory) -> None:
    response = make_client(allow_ip_override="false").get("/nearest", params={"ip": "129.93.1.1"})
    assert response.status_code == 403
    assert response.json()["error"] == "ip_override_disabled"
    assert make_client().get("/nearest", params={"ip": "129.93.1.1"}).json()["method"] == "geoip"


def test_metrics_token(make_client: ClientFactory) -> None:
    client = make_client(metrics_token=TOKEN)
    for headers in ({}, {"authorization": "Bearer wrong-token-of-length"}, {"authorization": TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert make_client().get("/metrics").status_code == 200  # open unless a token is set


def test_metrics_token_is_never_shown() -> None:
    settings = Settings.from_env({"LOCATOR_METRICS_TOKEN": TOKEN})
    assert TOKEN not in repr(settings) and TOKEN not in repr(settings.metrics_token)
    assert TOKEN not in str(settings.to_env())  # what `locator settings` prints
    assert str(settings.metrics_token) == TOKEN  # Starlette's Secret: str() is the one way to the value
    almost = "a real secret with one space"  # long enough, but invalid: the error must not echo it
    with pytest.raises(SettingsError, match="at least 16") as raised:
        Settings.from_env({"LOCATOR_METRICS_TOKEN": almost})
    assert almost not in str(raised.value) and "not shown" in str(raised.value)


def test_size_limits(client: TestClient) -> None:
    long_city = {"cf-iplatitude": "41.9", "cf-iplongitude": "-87.6", "cf-ipcity": "C" * 300}
    assert client.get("/nearest", headers=long_city).json()["skipped"]["edge"] == "no_city"  # oversized: ignored
    chain = ", ".join(["10.0.0.1"] * 40)
    assert client.get("/nearest", headers={"x-forwarded-for": chain}).json()["client"]["ip"] is None
    assert client.get("/nearest", params={"colo": "D" * 65}).json()["error"] == "value_too_long"
    response = client.get("/" + "a" * 5000)
    assert response.status_code == 414 and response.json()["error"] == "uri_too_long"
    assert client.get("/file", params={"q": "x" * 4100}).status_code == 414
