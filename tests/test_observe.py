"""The access log: one JSON line per request with its id and decision; request ids; the off switch."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from locator.logs import JSONFormatter, logging_config
from tests.conftest import ClientFactory


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "locator.access"]


def test_one_line_per_request_with_its_decision(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="locator.access")
    response = client.get("/nearest", headers={"cf-connecting-ip": "129.93.1.7"})
    client.get("/file.txt", params={"lat": "1"})
    client.get("/nearest", params={"lat": "x"})
    records = access_lines(caplog)
    assert len(records) == 3
    line = json.loads(JSONFormatter().format(records[0]))
    assert line["message"] == "request" and line["level"] == "info" and line["logger"] == "locator.access"
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["http_method"], line["path"], line["route"], line["status"]) == ("GET", "/nearest", "/nearest", 200)
    assert (line["method"], line["cache"], line["client_network"]) == ("geoip", "Kansas", "129.93.1.0/24")
    assert line["duration_ms"] >= 0
    assert "129.93.1.7" not in json.dumps(line)  # the network, not the address
    assert json.loads(JSONFormatter().format(records[1]))["route"] == "redirect"
    assert json.loads(JSONFormatter().format(records[2]))["status"] == 400


def test_request_ids_are_kept_when_sane_and_made_otherwise(client: TestClient) -> None:
    assert client.get("/healthz", headers={"x-request-id": "abc-123.X_y:z"}).headers["x-request-id"] == "abc-123.X_y:z"
    for bad in ("has space", "a" * 65, "line\tbreak", ""):
        made = client.get("/healthz", headers={"x-request-id": bad}).headers["x-request-id"]
        assert made != bad and len(made) == 16
    assert client.get("/healthz").headers["x-request-id"] != client.get("/healthz").headers["x-request-id"]


def test_access_log_can_be_turned_off(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="locator.access")
    client = make_client(access_log="false")
    client.get("/nearest")
    assert access_lines(caplog) == []
    assert "x-request-id" in client.get("/nearest").headers  # ids still flow


def test_logging_config_formats() -> None:
    assert logging_config("info", "json")["formatters"]["default"] == {"()": JSONFormatter}
    assert "format" in logging_config("warning", "text")["formatters"]["default"]
    record = logging.makeLogRecord({"msg": "boom %s", "args": ("x",), "levelname": "ERROR", "name": "t"})
    assert json.loads(JSONFormatter().format(record))["message"] == "boom x"
