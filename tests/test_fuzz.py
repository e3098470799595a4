"""Fuzzing the HTTP interface: generated paths, query strings, headers and peers straight into the ASGI app,
and schemathesis against /openapi.json.

Invariants: never a 5xx; every 4xx is the JSON error shape; every 307 points at a configured cache endpoint
followed by the request's own path, and no header carries CR or LF (no open redirect, no header injection).
FUZZ_EXAMPLES sets how many inputs each test generates (default 1500; run with --hypothesis-show-statistics
to see the counts).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance
from starlette.applications import Starlette

from locator.core import edge
from locator.service import create_app
from locator.settings import Settings
from locator.web.query import PARAMETERS
from tests.conftest import AIRPORTS_CSV, CACHES_CSV, OVERRIDES_CSV

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
ENDPOINTS = [line.split(",")[1] for line in CACHES_CSV.splitlines()[1:]]
# Every header the service reads, and a few it must ignore.
EDGE_HEADERS = [
    *(name for names in edge.EDGE_HEADERS.values() for name in names if name),
    *edge.CLIENT_IP_HEADERS,
    *edge.COLO_HEADERS,
    "x-request-id",
    "authorization",
    "host",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, geoip_db: Path) -> Iterator[Starlette]:
    data = tmp_path_factory.mktemp("fuzz")
    for name, content in (("caches.csv", CACHES_CSV), ("airports.csv", AIRPORTS_CSV), ("overrides.csv", OVERRIDES_CSV)):
        (data / name).write_text(content)
    settings = Settings.from_env(
        {
            "LOCATOR_CACHES_FILE": str(data / "caches.csv"),
            "LOCATOR_OVERRIDES_FILE": str(data / "overrides.csv"),
            "LOCATOR_AIRPORTS_CSV": str(data / "airports.csv"),
            "LOCATOR_AIRPORTS_STORE": str(data / "airports.sqlite"),
            "LOCATOR_GEOIP_DB": str(geoip_db),
            "LOCATOR_ACCESS_LOG": "false",
        }
    )
    yield create_app(settings)


# --- generated inputs ---------------------------------------------------------------------------------

addresses = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:443"),
    st.ip_addresses(v=4).map(lambda a: f"{a}:8080"),
    st.sampled_from(["129.93.1.1", "8.8.8.8", "23.129.64.9", "unknown", "", " ", "1.2.3", "::", "0.0.0.0"]),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.sampled_from(["nan", "-inf", "1e309", "-0", "+.5", "٤٢", "40,5", "0x10", "1_000", " 40", "40 ", ""]),
)
printable = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")
latin1 = st.text(printable, max_size=80)
odd_text = st.one_of(latin1, st.text(printable, min_size=200, max_size=5000), st.just(""))
values = st.one_of(numbers, addresses, latin1, st.sampled_from(["DFW", "dfw", "1234", "json", "text", "XML"]))

query_items = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=8)), values), max_size=7)


@st.composite
def raw_paths(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(
            st.sampled_from(
                [
                    "/",
                    "/nearest",
                    "/_caches",
                    "/caches",
                    "/healthz",
                    "/readyz",
                    "/metrics",
                    "/openapi.json",
                    "/nearest/",
                    "/NEAREST",
                ]
            )
        ).encode()
    if kind == 1:
        return draw(
            st.sampled_from(
                [
                    "//evil.example/x",
                    "/%2F%2Fevil.example",
                    "/\\evil",
                    "/%5Cevil",
                    "/a%0d%0aSet-Cookie:%20x=1",
                    "/%00",
                    "/..%2f..%2fetc/passwd",
                    "/%E2%80%AE/x",
                    "/%zz",
                    "/a b",
                    "/" + "a" * 5000,
                    "/ospool/data/file.root",
                    "/%C0%AF",
                    "/ \t",
                    "/a?b",
                    "/#frag",
                    "/@evil.example",
                    "/:80",
                ]
            )
        ).encode("latin-1")
    if kind == 2:
        return ("/" + quote(draw(st.text(max_size=60)), safe="/%:@!$&'()*+,;=-._~")).encode("ascii")
    return b"/" + draw(st.binary(max_size=60)).replace(b"?", b"")


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    pairs = []
    for name in draw(
        st.lists(st.one_of(st.sampled_from(EDGE_HEADERS), st.text("abcxyz-", min_size=1, max_size=10)), max_size=10)
    ):
        if name == "x-forwarded-for":
            value = ", ".join(draw(st.lists(addresses, max_size=40)))
        elif name == "cf-ray":
            value = (
                draw(st.text(printable, max_size=20))
                + "-"
                + draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123", max_size=5))
            )
        elif name.endswith(("ip", "address")):
            value = draw(addresses)
        else:
            value = draw(st.one_of(odd_text, numbers))
        pairs.append((name.encode(), value.encode("utf-8")))  # raw bytes: what a client may send
    return pairs


peers = st.sampled_from(
    [
        ("127.0.0.1", 5000),
        ("198.51.100.9", 5000),
        ("::1", 5000),
        ("2001:db8::1", 5000),
        ("10.1.2.3", 5000),
        ("garbage", 1),
        None,
    ]
)
methods = st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"])


def call(
    app: Starlette,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
) -> tuple[int, dict[str, str], bytes]:
    """One request through the ASGI app, as a server would hand it over."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1"), encoding="latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers: dict[str, str] = {}
    for name, value in start["headers"]:
        text = value.decode("latin-1")
        assert "\r" not in text and "\n" not in text, (name, text)
        key = name.decode("latin-1").lower()  # repeated lines are one list (RFC 9110)
        response_headers[key] = f"{response_headers[key]}, {text}" if key in response_headers else text
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], response_headers, body


def check_response(status: int, headers: dict[str, str], body: bytes, raw_path: bytes) -> None:
    assert status < 500, body
    if 400 <= status < 500 and body:
        assert headers["content-type"] == "application/json"
        error = json.loads(body)
        assert set(error) == {"error", "detail"} and isinstance(error["error"], str) and error["detail"]
    if status == 307:
        location = headers["location"]
        assert location.isascii() and " " not in location
        endpoint = next(e for e in ENDPOINTS if location.startswith(e + "/"))
        assert urlsplit(location).netloc == urlsplit(endpoint).netloc
        path = location[len(endpoint) :].split("?", 1)[0]
        assert unquote(path, encoding="latin-1") == unquote(raw_path.decode("latin-1"), encoding="latin-1")
        parts = headers["link"].split(", <")
        links = [part.split(">")[0].lstrip(" <") for part in parts if 'rel="duplicate"' in part]
        described = [part for part in parts if "rel=describedby" in part]
        assert links[0] == location and len(links) <= 6 and len(parts) == len(links) + len(described)
        assert len(described) <= 1 and parts[: len(links)] == parts[: len(parts) - len(described)]  # the Metalink last
        assert all(any(link.startswith(e + "/") for e in ENDPOINTS) for link in links)
        assert headers["cache-control"] == "no-store"


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(method=methods, raw_path=raw_paths(), query=query_items, headers=header_lists(), client=peers)
def test_fuzz_every_route(
    app: Starlette,
    method: str,
    raw_path: bytes,
    query: list[tuple[str, str]],
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
) -> None:
    query_string = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query).encode("ascii")
    check_response(*call(app, method, raw_path, query_string, headers, client), raw_path)


@FUZZ
@given(
    query=query_items,
    raw_query=st.binary(max_size=80),
    headers=header_lists(),
    client=peers,
    route=st.sampled_from(["/nearest", "/_caches"]),
)
def test_fuzz_decisions(
    app: Starlette,
    query: list[tuple[str, str]],
    raw_query: bytes,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    route: str,
) -> None:
    for query_string in ("&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query).encode("ascii"), raw_query):
        status, response_headers, body = call(app, "GET", route.encode(), query_string, headers, client)
        check_response(status, response_headers, body, route.encode())
        if status == 200:
            assert response_headers["cache-control"] == "no-store"
            if response_headers["content-type"] == "application/json":
                answer = json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
                assert answer["caches"], answer
            else:  # format=text: endpoints, one per line
                assert all(any(line == e for e in ENDPOINTS) for line in body.decode().splitlines())


# --- schemathesis: the OpenAPI description as the generator --------------------------------------------

# The shipped data and the embedded GeoIP database; the airports store goes to a scratch directory.
_SCRATCH = Path(tempfile.mkdtemp(prefix="locator-fuzz-"))
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(
        Settings.from_env(
            {},
            access_log="false",
            airports_store=str(_SCRATCH / "airports.sqlite"),
            health_interval_s="0",  # the real caches are not the fuzzer's business, nor reachable from here
            reload_interval_s="0",
        )
    ),
)


@schema.parametrize()
@settings(max_examples=max(EXAMPLES // 10, 50), deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis(case: Any) -> None:
    query = case.query or {}
    # lat and lon go together, and format=metalink needs a path: rules across parameters that OpenAPI cannot
    # state, so a positive case with only one of them is answered 400 (invalid_coordinate, missing_path).
    half = (query.get("lat") in (None, "")) != (query.get("lon") in (None, ""))
    half |= query.get("format") == "metalink" and query.get("path") in (None, "")  # a Metalink needs its object
    # The geo API answers a well-formed request 400 when its client or every server cannot be located: the
    # legacy wire format, documented, and a matter of who asks, which OpenAPI cannot state either.
    geo = case.path in ("/api/{rest}", "/cvmfs/{repo}/api/{rest}")
    excluded = [positive_data_acceptance] if half or geo else []
    if case.path == "/{path}":  # its Allow names PROPFIND (listings), a method OpenAPI 3.1 cannot declare
        excluded.append(allow_header_conformance)
    response = case.call_and_validate(excluded_checks=excluded)
    assert response.status_code < 500
