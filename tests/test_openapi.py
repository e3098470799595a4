"""/openapi.json describes the interface truly: every route and parameter, and real answers fit its schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.routing import Route
from starlette.testclient import TestClient

from locator.web.app import ROUTES
from locator.web.observe import RouteLabels
from locator.web.openapi import openapi_path
from locator.web.query import PARAMETERS


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def check(spec: dict[str, Any], schema_name: str, instance: object) -> None:
    """Validate against components/schemas/<name>, resolving $refs inside the document."""
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]})
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, [e.message for e in errors]


def test_is_openapi_3_1_and_its_schemas_are_valid_json_schema(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_described_and_nothing_else(client: TestClient, spec: dict[str, Any]) -> None:
    routes = {route.path for route in client.app.routes if isinstance(route, Route)}  # type: ignore[attr-defined]
    assert set(spec["paths"]) == {openapi_path(route) for route in routes} | {"/{path}"}  # /{path}: the redirects
    assert openapi_path("/api/{rest:path}") == "/api/{rest}"


def test_query_parameters_match_the_parser(spec: dict[str, Any]) -> None:
    for path in ("/nearest", "/_caches"):
        parameters = spec["paths"][path]["get"]["parameters"]
        assert [p["name"] for p in parameters if p["in"] == "query"] == list(PARAMETERS)
        assert [p["name"] for p in parameters if p["in"] == "header"] == ["X-Pelican-Coordinate"]


def test_real_answers_fit_the_schemas(client: TestClient, spec: dict[str, Any]) -> None:
    edge = {"cf-iplatitude": "40.0", "cf-iplongitude": "-105.3", "cf-ipcity": "Boulder", "cf-ray": "1-DFW"}
    check(spec, "Nearest", client.get("/nearest", headers=edge).json())
    check(spec, "Nearest", client.get("/nearest", params={"lat": "40", "lon": "-96", "n": "2"}).json())
    check(spec, "Nearest", client.get("/nearest").json())  # fallback, no edge
    check(spec, "WorkerCaches", client.get("/_caches", headers=edge).json())
    check(spec, "WorkerCaches", client.get("/_caches").json())
    check(spec, "CacheList", client.get("/caches").json())
    check(spec, "Alive", client.get("/healthz").json())
    check(spec, "Ready", client.get("/readyz").json())
    check(spec, "Index", client.get("/").json())
    for bad in ({"lat": "91", "lon": "0"}, {"n": "-1"}, {"colo": "1234"}, {"ip": "x"}, {"format": "xml"}):
        check(spec, "Error", client.get("/nearest", params=bad).json())
    check(spec, "Error", client.post("/nearest").json())
    check(spec, "Error", client.get("/%2F%2Fevil.example").json())


def test_redirect_is_described_with_its_headers(client: TestClient, spec: dict[str, Any]) -> None:
    described = spec["paths"]["/{path}"]["get"]["responses"]["307"]["headers"]
    response = client.get("/data/file.txt")
    assert response.status_code == 307
    for header in described:
        assert header.lower() in response.headers


def test_redirect_path_excludes_the_own_routes_only(client: TestClient, spec: dict[str, Any]) -> None:
    """A generator following the document must never produce a path another route answers."""
    pattern = re.compile(spec["paths"]["/{path}"]["get"]["parameters"][0]["schema"]["pattern"])
    for route in {path for path in spec["paths"] if "{" not in path} - {"/"}:
        assert not pattern.search(route.lstrip("/")), route
        assert pattern.search(route.lstrip("/") + "/file.txt"), route  # a directory of that name still redirects
        assert client.get(route + "/file.txt").status_code == 307
    for geo in ("api/v1.0/geo/x/a", "api/", "cvmfs/oasis.opensciencegrid.org/api/v1.0/geo/x/a"):
        assert not pattern.search(geo), geo  # the geo API's
    for other in ("api", "apis/file.txt", "cvmfs/repo/file.txt", "cvmfs/api/file.txt"):
        assert pattern.search(other), other
        assert client.get("/" + other).status_code == 307
    for bad in ("", "/evil.example", "\\evil.example", "a\r\nb"):
        assert not pattern.search(bad), bad
    assert pattern.search("ospool/uc-shared/public/file.txt")


def test_the_routes_declared_beside_their_handlers_drive_the_index_the_document_and_the_labels(
    client: TestClient, spec: dict[str, Any]
) -> None:
    """One source: the routes the router dispatches are the ones the index lists, the document describes (each
    with the handler that answers it) and the metrics label."""
    paths = [route.path for route in ROUTES]
    served = [route.path for route in client.app.routes if isinstance(route, Route)]
    assert served == paths
    assert list(client.get("/").json()["endpoints"]) == [*paths, "/<path>"]
    assert list(spec["paths"]) == [*(openapi_path(path) for path in paths), "/{path}"]
    for route in ROUTES:
        assert spec["paths"][openapi_path(route.path)]["get"]["operationId"] == route.operation["operationId"]
    route_of = RouteLabels(paths)
    assert [route_of(path) for path in paths] == paths
    assert route_of("/ospool/ap20/data/file") == "redirect"


def test_every_status_the_service_gives_is_documented(spec: dict[str, Any]) -> None:
    def statuses(path: str) -> set[str]:
        return set(spec["paths"][path]["get"]["responses"])

    everywhere = {"400", "408", "431"}
    assert all(everywhere <= statuses(path) for path in spec["paths"])
    assert {"200", "403", "404", "405", "503"} <= statuses("/nearest")
    assert "401" in statuses("/metrics")
    assert {"307", "404", "405", "414", "503"} <= statuses("/{path}")
