"""The benchmarks' inputs, checked without timing anything: the request mix, the wrk script, the baseline app.

A benchmark whose mix silently fell through to the fallback would measure the wrong thing; these checks
keep the mix honest. Nothing here runs a load or looks at a clock.
"""

from __future__ import annotations

from collections import Counter

from starlette.testclient import TestClient

from bench import bare_app, decision_cost, loadkit
from locator.core.decide import decide
from locator.core.edge import read_edge
from locator.resources import close, load_federation
from locator.settings import Settings


def test_mix_has_the_planned_shares() -> None:
    mix = loadkit.cloudflare_mix()
    assert Counter(r.kind for r in mix) == {"edge": 28, "colo_only": 8, "ip_only": 4}
    assert mix == loadkit.cloudflare_mix()  # seeded: the same mix in every run


def test_mix_is_decided_by_the_planned_cascade_steps() -> None:
    settings = Settings.from_env({})
    federation = load_federation(settings)
    try:
        for request in loadkit.cloudflare_mix():
            context = read_edge(request.headers, loadkit.HOST, settings.trusted_proxies)
            assert decide(federation, context).location.method == request.expect_method, request.headers
    finally:
        close(federation)


def test_wrk_script_holds_every_request() -> None:
    mix = loadkit.cloudflare_mix("/nearest?n=6")
    script = loadkit.wrk_lua(mix)
    assert script.count('{path = "/nearest?n=6"') == len(mix)
    assert all(f'"{r.headers["cf-connecting-ip"]}"' in script for r in mix)
    assert "WRKJSON" in script and "function done(" in script
    assert loadkit.lua_string('a"b\\c') == '"a\\"b\\\\c"'


def test_bare_app_answers_fixed_json_on_any_path() -> None:
    with TestClient(bare_app.app) as client:
        for path in ("/", "/nearest", "/ospool/uc-shared/public/file.txt"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.json() == bare_app.BODY


def test_synthetic_caches_are_seeded_and_in_the_us_or_europe() -> None:
    caches = decision_cost.synthetic_caches(500)
    assert len(caches) == 500
    assert caches.caches == decision_cost.synthetic_caches(500).caches
    for cache in caches.in_service:
        assert cache.coordinate is not None
        point = cache.coordinate
        in_us = 25 <= point.latitude <= 49 and -124 <= point.longitude <= -67
        in_europe = 36 <= point.latitude <= 60 and -10 <= point.longitude <= 30
        assert in_us or in_europe


def test_every_benchmark_imports_as_a_module() -> None:
    """Each runs as `python -m bench.<name>`: an import left from before they were a package fails here, not in
    the middle of `make bench` (memory.py's did)."""
    import importlib

    from bench.run_all import BENCHMARKS

    for name in BENCHMARKS:
        importlib.import_module(f"bench.{name.removesuffix('_h11')}")
