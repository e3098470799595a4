"""Namespace-aware answers through HTTP: the filter, Pelican's redirect headers, refusal of unlisted paths,
the no-path rule, and load spreading between co-located caches that agrees across replicas."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from locator.web.metalink import MEDIA_TYPE
from tests.conftest import ClientFactory

# Houston: a LIGO-only cache, and two co-located public ones weighted 1 and 2; farther out, Chicago serves all,
# Kansas only public data, and nothing serves /empty.
CACHES = """\
name,endpoint,latitude,longitude,status,downtime,weight,namespaces
LigoHouston,https://ligo-houston.example:8443,29.80,-95.30,up,false,1,/ligo/secret;/ligo/public
OpenHouston,https://open-houston.example:8443,29.81,-95.31,up,false,1,public;/ligo/public;/ospool/ap20
BigHouston,https://big-houston.example:8443,29.81,-95.31,up,false,2,public;/ligo/public;/ospool/ap20
Chicago,https://chicago.example:8443,41.88,-87.62,up,false,1,public;/ligo/secret;/ligo/public;/ospool/ap20
Kansas,https://kansas.example:8443,39.10,-94.60,up,false,1,public;/ospool/ap20
Nothing,https://nothing.example:8443,29.80,-95.30,up,false,1,none
"""
NAMESPACES = """\
path,require_token
/ligo/secret,true
/ligo/public,false
/empty,false
/ospool/ap20,false
"""
HOUSTON = {"lat": "29.76", "lon": "-95.37"}
PUBLIC = {"OpenHouston", "BigHouston", "Chicago", "Kansas"}


@pytest.fixture
def make(make_client: ClientFactory, data_dir: Path) -> ClientFactory:
    (data_dir / "caches.csv").write_text(CACHES)
    (data_dir / "namespaces.csv").write_text(NAMESPACES)
    return make_client


@pytest.fixture
def client(make: ClientFactory) -> TestClient:
    return make()


def names(body: dict[str, object]) -> list[str]:
    return [cache["name"] for cache in body["caches"]]  # type: ignore[attr-defined, index]


def test_a_path_ranks_only_the_caches_of_its_namespace(client: TestClient) -> None:
    body = client.get("/nearest", params={**HOUSTON, "path": "/ligo/secret/O4/frame.gwf"}).json()
    assert names(body) == ["LigoHouston", "Chicago"]
    assert body["namespace"] == {"path": "/ligo/secret", "require_token": True, "listed": True}
    body = client.get("/nearest", params={**HOUSTON, "path": "/ospool/ap20/data/x.root"}).json()
    assert set(names(body)) == PUBLIC
    assert body["namespace"] == {"path": "/ospool/ap20", "require_token": False, "listed": True}
    body = client.get("/nearest", params={**HOUSTON, "path": "/chtc/data/x"}).json()
    assert set(names(body)) == PUBLIC  # in no listed namespace: public data
    assert body["namespace"] == {"path": "/chtc", "require_token": False, "listed": False}


def test_without_a_path_no_vo_restricted_cache_is_ever_first(client: TestClient) -> None:
    """`curl .../nearest?format=text | head -1` from a job that ignores namespaces: public data only."""
    for network in range(50):
        headers = {"cf-connecting-ip": f"198.51.{network}.7"}
        text = client.get("/nearest", params={**HOUSTON, "format": "text"}, headers=headers).text
        assert text.splitlines()[0] in ("https://open-houston.example:8443", "https://big-houston.example:8443")
        assert "ligo-houston" not in text and "nothing.example" not in text
    body = client.get("/nearest", params=HOUSTON).json()
    assert body["namespace"] is None and set(names(body)) == PUBLIC
    worker = client.get("/_caches", params=HOUSTON).json()  # the 2022 shape, for its old scripts
    assert {host for host, _ in worker["caches"]} == {
        "open-houston.example:8443",
        "big-houston.example:8443",
        "chicago.example:8443",
        "kansas.example:8443",
    }


def test_the_redirect_carries_pelicans_headers_exactly(client: TestClient) -> None:
    response = client.get("/ligo/secret/O4/frame.gwf?authz=tok", params=None, headers={"cf-ray": "1-IAH"})
    assert response.status_code == 307
    assert response.headers["location"] == "https://ligo-houston.example:8443/ligo/secret/O4/frame.gwf?authz=tok"
    assert response.headers["link"] == (
        '<https://ligo-houston.example:8443/ligo/secret/O4/frame.gwf?authz=tok>; rel="duplicate"; pri=1; depth=2, '
        '<https://chicago.example:8443/ligo/secret/O4/frame.gwf?authz=tok>; rel="duplicate"; pri=2; depth=2'
    )
    assert response.headers["x-pelican-namespace"] == "namespace=/ligo/secret, require-token=true"
    described = client.get("/ligo/secret/O4/frame.gwf?authz=tok", headers={"cf-ray": "1-IAH", "accept": MEDIA_TYPE})
    assert re.findall(r"<url priority=\"\d\">([^<]*)</url>", described.text) == [  # the namespace's caches only
        "https://ligo-houston.example:8443/ligo/secret/O4/frame.gwf?authz=tok",
        "https://chicago.example:8443/ligo/secret/O4/frame.gwf?authz=tok",
    ]
    public = client.get("/ligo/public/a.txt", headers={"cf-ray": "1-IAH"})
    assert public.headers["x-pelican-namespace"] == "namespace=/ligo/public, require-token=false"
    duplicates = [link for link in public.headers["link"].split(", ") if 'rel="duplicate"' in link]
    assert duplicates and all(link.endswith("; depth=1") for link in duplicates)
    unlisted = client.get("/chtc/users/alice/in.dat", headers={"cf-ray": "1-IAH"})
    assert unlisted.headers["x-pelican-namespace"] == "namespace=/chtc, require-token=false"
    assert unlisted.headers["link"].count("depth=3") == 4  # four public caches, each three segments below /chtc


def test_a_public_path_above_listed_namespaces_gets_no_namespace_header(client: TestClient) -> None:
    """A Pelican client keeps answers per prefix; one kept for `/ligo` would answer for /ligo/secret too."""
    response = client.get("/ligo", headers={"cf-ray": "1-IAH"})
    assert response.status_code == 307 and "x-pelican-namespace" not in response.headers
    assert response.headers["location"].split("/ligo")[0] in (
        "https://open-houston.example:8443",
        "https://big-houston.example:8443",
    )


def test_unlisted_paths_can_be_refused(make: ClientFactory) -> None:
    client = make(unlisted_paths="refuse")
    response = client.get("/chtc/data/x")
    assert response.status_code == 404
    assert response.json() == {
        "error": "no_namespace",
        "detail": "/chtc/data/x is in no listed namespace (LOCATOR_UNLISTED_PATHS=refuse)",
    }
    assert client.get("/nearest", params={"path": "/chtc/data/x"}).json()["error"] == "no_namespace"
    assert client.get("/ospool/ap20/x").status_code == 307  # listed: still served
    assert client.get("/nearest", params=HOUSTON).status_code == 200  # no path: public data, as always


def test_a_namespace_no_cache_serves_is_503(client: TestClient) -> None:
    for response in (client.get("/empty/file"), client.get("/nearest", params={"path": "/empty/file"})):
        assert response.status_code == 503
        assert response.json()["error"] == "no_cache_available"
    assert client.get("/nearest", params={"path": "relative/x"}).json()["error"] == "invalid_path"


def test_without_a_cache_open_to_public_data_the_service_says_it_is_degraded(
    make: ClientFactory, data_dir: Path
) -> None:
    """Finding 5: no cache in service open to public data means a 503 for every request outside the listed
    namespaces; /readyz says so rather than "ready"."""
    assert make().get("/readyz").json()["status"] == "ready"
    (data_dir / "caches.csv").write_text(CACHES.replace(",public;", ","))
    client = make()
    assert client.get("/nearest", params=HOUSTON).status_code == 503
    ready = client.get("/readyz").json()
    assert ready["status"] == "degraded"
    assert any("no cache in service is open to public data" in note for note in ready["degraded"])


def test_co_located_caches_split_networks_by_weight_the_same_way_on_every_replica(make: ClientFactory) -> None:
    replicas = [make(), make()]  # two apps, as two pods behind a load balancer
    firsts: Counter[str] = Counter()
    for network in range(300):
        headers = {"cf-connecting-ip": f"203.0.{network}.9"}
        answers = [r.get("/nearest", params={**HOUSTON, "n": "2"}, headers=headers).json() for r in replicas]
        assert answers[0]["caches"] == answers[1]["caches"]
        assert [c["reason"] for c in answers[0]["caches"]] == ["spread", "spread"]
        again = replicas[0].get("/nearest", params={**HOUSTON, "n": "2"}, headers=headers).json()
        assert again["caches"] == answers[0]["caches"]  # the same site keeps its cache
        firsts[answers[0]["caches"][0]["name"]] += 1
    # weights 1 (OpenHouston) and 2 (BigHouston): a third and two thirds (binomial sd 2.7 points)
    assert firsts["BigHouston"] / 300 == pytest.approx(2 / 3, abs=0.09)
