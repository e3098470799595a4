"""Every bad input gets a 4xx with the one JSON error shape; none gets a 500."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from locator.web.app import EXCEPTION_HANDLERS
from locator.web.errors import NotFound


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"lat": "abc", "lon": "1"}, "invalid_coordinate"),
        ({"lat": "91", "lon": "1"}, "invalid_coordinate"),
        ({"lat": "1", "lon": "NaN"}, "invalid_coordinate"),
        ({"lat": "1", "lon": "inf"}, "invalid_coordinate"),
        ({"lat": "1", "lon": "-180.5"}, "invalid_coordinate"),
        ({"lat": "40"}, "invalid_coordinate"),
        ({"n": "-1"}, "invalid_n"),
        ({"n": "0"}, "invalid_n"),
        ({"n": "2.5"}, "invalid_n"),
        ({"n": "9" * 50}, "invalid_n"),
        ({"n": "١٢"}, "invalid_n"),  # Arabic-Indic digits pass str.isdigit(), not our rule
        ({"colo": "1234"}, "invalid_colo"),
        ({"colo": "DF"}, "invalid_colo"),
        ({"ip": "not-an-ip"}, "invalid_ip"),
        ({"ip": "256.1.1.1"}, "invalid_ip"),
        ({"ip": "2001:db8::1%a\r\nSet-Cookie: x=1"}, "invalid_ip"),  # a zone id, once echoed back
        ({"format": "xml"}, "invalid_format"),
        ({"lat": "1" * 100, "lon": "1"}, "value_too_long"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_bad_query_parameters(client: TestClient, params: dict[str, str], code: str) -> None:
    for path in ("/nearest", "/_caches"):
        assert_error(client.get(path, params=params), 400, code)


def test_duplicate_parameter(client: TestClient) -> None:
    assert_error(client.get("/nearest?lat=1&lat=2&lon=3"), 400, "duplicate_parameter")


@pytest.mark.parametrize(
    "path",
    [
        "http://testserver//evil.example/x",
        "/%2F%2Fevil.example/x",
        "/\\evil.example",
        "/a%0d%0aSet-Cookie:%20x=1",
        "/a%00b",
        "/%0A",  # once answered by the index: a route's `$` matches before a trailing newline
        "/nearest%0a",
    ],
    ids=["double-slash", "encoded-double-slash", "backslash", "crlf", "nul", "root-newline", "route-newline"],
)
def test_redirect_paths_that_could_leave_the_cache_host(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 400, "invalid_path")


def test_trailing_slash_is_not_redirected_to_the_host_header(client: TestClient) -> None:
    response = client.get("/nearest/", headers={"host": "evil.example"})
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.endswith(".example.org:8443/nearest/") or location.endswith(".example.org:8000/nearest/")
    assert "evil.example" not in location


def test_redirect_query_with_control_characters(client: TestClient) -> None:
    assert_error(client.get("/file?x=%0d%0aLocation:%20http://evil"), 400, "invalid_query")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/nearest", "/_caches", "/caches", "/healthz", "/some/file"])
def test_unknown_methods_are_405(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    body = assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert body["detail"]


def test_the_error_handlers_alone_around_a_tiny_app() -> None:
    """Ours, Starlette's and a bug: each in the one JSON shape, the bug without its details."""

    async def ours(request: Request) -> Response:
        raise NotFound("no such thing", "no_namespace")

    async def starlettes(request: Request) -> Response:
        raise HTTPException(405, "not here", headers={"allow": "GET"})

    async def bug(request: Request) -> Response:
        raise RuntimeError("a secret in a traceback")

    app = Starlette(
        routes=[Route("/ours", ours), Route("/starlettes", starlettes), Route("/bug", bug)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    client = TestClient(app, raise_server_exceptions=False)
    assert assert_error(client.get("/ours"), 404, "no_namespace")["detail"] == "no such thing"
    refused = client.get("/starlettes")
    assert (assert_error(refused, 405, "method_not_allowed")["detail"], refused.headers["allow"]) == ("not here", "GET")
    assert assert_error(client.get("/missing"), 404, "not_found")["detail"] == "Not Found"
    crashed = assert_error(client.get("/bug"), 500, "internal_error")
    assert crashed["detail"] == "unexpected error; it has been logged"
