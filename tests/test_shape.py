"""The shape the code promises (issue 21): a request walks the web layer in a straight line, and a snapshot in
service cannot be changed by anyone who holds it."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import pytest

from locator.core.federation import Federation
from locator.resources import load_federation
from locator.service import create_app
from locator.settings import Settings

LINCOLN = [
    (b"host", b"locator.example"),
    (b"cf-iplatitude", b"40.81"),
    (b"cf-iplongitude", b"-96.68"),
    (b"cf-ipcity", b"Lincoln"),
    (b"cf-ray", b"1-OMA"),
    (b"cf-connecting-ip", b"129.93.1.1"),
]


def http_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": LINCOLN,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


def module_entries(settings: Settings, path: str) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """(module, function) of every call into a `locator.web` module from outside it, for the second request to
    `path` (the first warms the memo, as a site's repeated requests find it), and the messages sent."""
    app = create_app(settings)
    entries: list[tuple[str, str]] = []
    sent: list[dict[str, Any]] = []

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back else ""
        if module.startswith("locator.web") and module != caller:
            entries.append((module, frame.f_code.co_name))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def walk() -> None:
        async with app.router.lifespan_context(app):
            await app(http_scope(path), receive, send)
            sent.clear()
            sys.setprofile(profile)
            try:
                await app(http_scope(path), receive, send)
            finally:
                sys.setprofile(None)

    asyncio.run(walk())
    return entries, sent


@pytest.mark.parametrize(
    ("path", "status", "handler"), [("/nearest", 200, "nearest"), ("/some/object", 307, "redirect")]
)
def test_one_request_enters_each_web_module_once(
    make_settings: Callable[..., Settings], path: str, status: int, handler: str
) -> None:
    """Before, one /nearest passed about 45 calls in 19 modules and re-entered web/app.py six times. The one
    exception: the observing middleware's wrapper of `send`, which the ASGI shape calls once per message sent."""
    entries, sent = module_entries(make_settings(access_log="true", health_interval_s="0"), path)
    assert sent[0]["status"] == status
    wrapped_send = [entry for entry in entries if entry == ("locator.web.observe", "tagged")]
    assert len(wrapped_send) == len(sent) == 2  # the response's start and its body
    counts = Counter(module for module, _ in entries if (module, _) != ("locator.web.observe", "tagged"))
    assert counts and max(counts.values()) == 1, counts
    assert f"locator.web.{handler}" in counts and "locator.web.logs" in counts and "locator.web.metrics" in counts


@pytest.fixture
def federation(settings: Settings) -> Federation:
    return load_federation(settings)


def test_a_snapshots_arrays_cannot_be_written(federation: Federation) -> None:
    places = federation.places
    arrays = {
        "rankable": federation.rankable,
        "weights": places.weights,
        "seeds": places.seeds,
        "demoted": places.demoted,
        "latitudes": federation.caches.latitudes,
        "public candidates": federation.candidates(None),
        **{
            f"destinations.{f.name}": getattr(places.destinations, f.name)
            for f in dataclasses.fields(places.destinations)
        },
    }
    for name, array in arrays.items():
        assert isinstance(array, np.ndarray) and array.size, name
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[0]
        with pytest.raises(ValueError, match="cannot set WRITEABLE"):
            array.setflags(write=True)  # what they were made from is not reachable: they cannot be made writable


def test_a_snapshots_mappings_and_fields_cannot_be_changed(federation: Federation) -> None:
    with pytest.raises(TypeError):
        federation.derived.candidates[None] = np.arange(1)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        federation.version = 99  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        federation.places.weights = np.ones(1)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        federation.caches.caches.append(federation.caches.caches[0])  # type: ignore[attr-defined]
