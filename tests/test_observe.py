"""The access log: one JSON line per request with its id and decision; request ids; the off switch."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from locator.web.logs import AccessLog, JSONFormatter, logging_config
from locator.web.metrics import Metrics
from locator.web.observe import REQUEST_ID, Observer
from tests.conftest import ClientFactory


def capture(client: TestClient) -> io.StringIO:
    """Send the app's access log to a buffer."""
    stream = io.StringIO()
    client.app.state.shared.access_log.stream = stream  # type: ignore[attr-defined]
    return stream


def access_lines(client: TestClient, stream: io.StringIO) -> list[dict[str, object]]:
    client.app.state.shared.access_log.flush()  # type: ignore[attr-defined]
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_line_per_request_with_its_decision(client: TestClient) -> None:
    stream = capture(client)
    response = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.7"})
    client.get("/file.txt", params={"lat": "1"})
    client.get("/nearest", params={"lat": "x"})
    records = access_lines(client, stream)
    assert len(records) == 3
    line = records[0]
    assert line["message"] == "request" and line["level"] == "info" and line["logger"] == "locator.access"
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["http_method"], line["path"], line["route"], line["status"]) == ("GET", "/nearest", "/nearest", 200)
    assert (line["method"], line["cache"], line["client_network"]) == ("geoip", "Kansas", "129.93.1.0/24")
    assert line["duration_ms"] >= 0
    assert "129.93.1.7" not in json.dumps(line)  # the network, not the address
    assert records[1]["route"] == "redirect"
    assert records[2]["status"] == 400 and "method" not in records[2]  # rejected before any decision


def test_request_ids_are_kept_when_sane_and_made_otherwise(client: TestClient) -> None:
    assert client.get("/healthz", headers={"x-request-id": "abc-123.X_y:z"}).headers["x-request-id"] == "abc-123.X_y:z"
    for bad in ("has space", "a" * 65, "line\tbreak", ""):
        made = client.get("/healthz", headers={"x-request-id": bad}).headers["x-request-id"]
        assert made != bad and REQUEST_ID.match(made)
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert first != second and first.split("-")[0] == second.split("-")[0]  # one process, one prefix


def test_access_log_can_be_turned_off(make_client: ClientFactory) -> None:
    client = make_client(access_log="false")
    assert client.app.state.shared.access_log is None  # type: ignore[attr-defined]
    assert "x-request-id" in client.get("/nearest").headers  # ids still flow


def test_access_log_in_text() -> None:
    log = AccessLog("text", io.StringIO())
    log.write({"request_id": "abc", "route": "/healthz", "status": 200})
    assert log.stream is not None and log.stream.getvalue() == ""  # buffered until a flush or a full batch
    log.flush()
    line = log.stream.getvalue()  # type: ignore[attr-defined]
    assert line.endswith(" INFO locator.access: request request_id=abc route=/healthz status=200\n")
    for _ in range(AccessLog.BATCH):
        log.write({"n": 1})
    assert len(log.stream.getvalue().splitlines()) == 1 + AccessLog.BATCH  # type: ignore[attr-defined]


def test_logging_config_formats() -> None:
    assert logging_config("info", "json")["formatters"]["default"] == {"()": JSONFormatter}
    assert "format" in logging_config("warning", "text")["formatters"]["default"]
    record = logging.makeLogRecord({"msg": "boom %s", "args": ("x",), "levelname": "ERROR", "name": "t"})
    assert json.loads(JSONFormatter().format(record))["message"] == "boom x"


class NoData:
    """A collector with nothing to report: the observer needs only the request metrics."""

    def collect(self) -> list[Any]:
        return []


def test_the_observer_alone_around_a_tiny_app() -> None:
    """The middleware in Starlette's manner, without the locator: ids, labels, refusals, a crash."""
    calls: list[str] = []

    async def ok(request: Request) -> Response:
        calls.append(request.url.path)
        return PlainTextResponse("ok")

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    stream = io.StringIO()
    metrics, log = Metrics(NoData()), AccessLog("json", stream)
    inner = Starlette(routes=[Route("/healthz", ok), Route("/caches", boom)])
    client = TestClient(Observer(inner, ["/healthz", "/caches"], metrics, log), raise_server_exceptions=False)

    response = client.get("/healthz", headers={"x-request-id": "job-42.a"})
    assert (response.status_code, response.text, response.headers["x-request-id"]) == (200, "ok", "job-42.a")
    assert client.get("/ospool/data/file").status_code == 404  # no route here: labelled as the redirects
    refused = client.get("/healthz%0A")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_path") and calls == ["/healthz"]
    assert client.get("/caches").status_code == 500

    log.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/healthz", 200),
        ("redirect", 404),
        ("redirect", 400),  # a path with a newline is no route's, whatever it starts with
        ("/caches", 500),
    ]
    assert lines[0]["request_id"] == "job-42.a" and all(REQUEST_ID.match(str(line["request_id"])) for line in lines)
    text = metrics.exposition()[0].decode()
    for route, status in (("/healthz", "200"), ("redirect", "404"), ("redirect", "400"), ("/caches", "500")):
        assert f'locator_http_requests_total{{route="{route}",status="{status}"}} 1.0' in text, text
