"""The worker-2022 rules, the locator strategy's equality with GET /nearest, observed vs computed picks."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from evaluation.harness import Harness, build_harness
from evaluation.records import from_rows
from evaluation.strategies import NO_PICK, LocatorStrategy, Strategy, js_number, observed_cache, picks, record_headers
from locator.settings import Settings

WORKER_2022 = Path(__file__).resolve().parent.parent / "data" / "evaluation" / "2022" / "caches.csv"


@pytest.fixture
def harness(settings: Settings) -> Harness:
    environ = {
        "LOCATOR_CACHES_FILE": str(settings.caches_file),
        "LOCATOR_NAMESPACES_FILE": str(settings.namespaces_file),
        "LOCATOR_OVERRIDES_FILE": str(settings.overrides_file),
        "LOCATOR_AIRPORTS_CSV": str(settings.airports_csv),
        "LOCATOR_AIRPORTS_STORE": str(settings.airports_store),
        "LOCATOR_GEOIP_DB": str(settings.geoip_db),
    }
    built = build_harness(settings.caches_file, environ)
    yield built
    built.close()


def strategy(harness: Harness, name: str):  # type: ignore[no-untyped-def]
    return next(s for s in harness.strategies if s.name == name)


def ordered_names(harness: Harness, strategy: Strategy, record: pd.Series) -> list[str]:
    """One record's whole ordered cache list by a strategy (empty when it gives no answer)."""
    ranking = strategy.rank(from_rows([record.to_dict()]))
    caches = harness.federation.caches.caches
    return [caches[i].name for i in ranking.order[0] if i != NO_PICK]


# --- worker-2022 -------------------------------------------------------------------------------------


def test_worker_uses_the_edge_position_only_with_a_city(harness: Harness) -> None:
    worker = strategy(harness, "worker")
    with_city = pd.Series({"edge_latitude": "41.9", "edge_longitude": "-87.6", "edge_city": "Chicago", "colo": "LAX"})
    assert ordered_names(harness, worker, with_city)[0] == "Chicago"
    without_city = with_city.copy()
    without_city["edge_city"] = ""
    assert ordered_names(harness, worker, without_city)[0] == "Sunnyvale"  # the colo, LAX, decides


def test_worker_shuffles_without_city_or_known_colo(harness: Harness) -> None:
    worker = strategy(harness, "worker")
    records = from_rows([{"colo": "QQQ"}, {"colo": "ZZZ"}, {}])  # unknown, stored at 0,0 (never served), none
    ranking = worker.rank(records)
    assert ranking.method == ["shuffle", "shuffle", "shuffle"]
    for row in ranking.order:
        assert sorted(row) == sorted(worker.listed)
    again = worker.rank(records)
    assert (ranking.order == again.order).all()  # seeded: reproducible


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("40.5", 40.5),
        (" 40 ", 40.0),
        ("", 0.0),
        ("0x10", 16.0),
        ("abc", math.nan),
        ("Infinity", math.inf),
        ("nan", math.nan),
    ],
)
def test_js_number(text: str, value: float) -> None:
    result = js_number(text)
    assert (math.isnan(result) and math.isnan(value)) or result == value


def test_worker_with_a_city_but_garbage_coordinates_keeps_file_order(harness: Harness) -> None:
    worker = strategy(harness, "worker")
    record = pd.Series({"edge_latitude": "north", "edge_longitude": "west", "edge_city": "X", "colo": ""})
    assert ordered_names(harness, worker, record) == [c.name for c in harness.federation.caches.in_service]


def test_worker_2022_on_the_study_records() -> None:
    harness = build_harness(WORKER_2022)
    try:
        worker = strategy(harness, "worker")
        colorado = pd.Series({"edge_latitude": "", "edge_longitude": "", "edge_city": "", "colo": "DFW"})
        arizona = pd.Series({"edge_latitude": "37.751", "edge_longitude": "-97.822", "edge_city": "", "colo": "LAX"})
        assert ordered_names(harness, worker, colorado)[0] == "Stashcache-Houston"  # the blog: DFW -> Houston
        assert ordered_names(harness, worker, arizona)[0] == "Stashcache-UCSD"  # the blog: LAX -> UCSD
    finally:
        harness.close()


# --- locator: the harness's pick is GET /nearest's pick ----------------------------------------------

ips = st.sampled_from(
    [
        "",
        "129.93.1.1",
        "129.93.5.7",
        "8.8.8.8",
        "9.9.9.9",
        "3.3.3.3",
        "23.129.64.9",
        "10.1.2.3",
        "2001:4860::1",
        "192.168.1.1",
        "garbage",
    ]
)
coordinates = st.sampled_from(["", "40.0", "-105.3", "41.9", "-87.6", "0", "abc", "95", "37.751", "-97.822"])
cities = st.sampled_from(["", "Boulder", "Chicago"])
colos = st.sampled_from(["", "DFW", "LAX", "JFK", "DEN", "QQQ", "ZZZ"])
records_st = st.fixed_dictionaries(
    {
        "client_ip": ips,
        "edge_latitude": coordinates,
        "edge_longitude": coordinates,
        "edge_city": cities,
        "edge_country": st.sampled_from(["", "US", "XX"]),
        "colo": colos,
        "time": st.sampled_from(["2026-01-01T00:00:00+00:00", "2026-01-01T05:00:00+00:00"]),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(records_st, min_size=1, max_size=8))
def test_harness_locator_pick_equals_get_nearest(
    rows: list[dict[str, str]], harness: Harness, client: TestClient
) -> None:
    records = from_rows(rows)
    ranking = strategy(harness, "locator").rank(records)
    caches = harness.federation.caches.caches
    for row, record in records.iterrows():
        headers = record_headers([record[c] for c in LocatorStrategy.COLUMNS[:6]])
        body = client.get("/nearest", headers=headers).json()
        names = [caches[i].name for i in ranking.order[row] if i != NO_PICK]
        assert ranking.method[row] == body["method"], (record.to_dict(), body)
        served = [c["name"] for c in body["caches"]]
        if body["method"] == "fallback":
            # an unlocated order follows the clock (the harness uses the record's time, the service its own):
            # the same caches, perhaps in another order
            assert sorted(names) == sorted(served)
        else:
            assert names == served, (record.to_dict(), body)


# --- observed and computed picks ---------------------------------------------------------------------


def test_observed_picks_are_used_and_resolved_by_any_name(harness: Harness) -> None:
    records = from_rows(
        [
            {
                "site": "a",
                "legacy_pick": "Kansas",
                "worker_pick": "https://houston.example.org:8443",
                "locator_pick": "chicago.example.org:8443",
            },
            {
                "site": "b",
                "legacy_pick": "kansas.example.org",
                "worker_pick": "Kansas City (Kansas)",
                "locator_pick": "No Such Cache",
            },
            {
                "site": "c",
                "legacy_error": "timeout",
                "worker_error": "DNS: blocked",
                "client_ip": "129.93.1.1",
            },
        ]
    )
    chosen = picks(records, harness.strategies, harness.federation)
    assert chosen.loc[0, ["legacy_pick", "worker_pick", "locator_pick"]].tolist() == [
        "Kansas",
        "Houston",
        "Chicago",
    ]
    assert chosen.loc[1, ["legacy_pick", "worker_pick", "locator_pick"]].tolist() == ["Kansas", "Kansas", ""]
    assert chosen.loc[1, "locator_error"] == "unknown cache 'No Such Cache'"
    assert chosen.loc[2, ["legacy_pick", "worker_pick"]].tolist() == ["", ""]
    assert chosen.loc[2, "legacy_error"] == "timeout"
    assert chosen.loc[2, "locator_source"] == "computed" and chosen.loc[2, "locator_pick"] == "Kansas"
    assert chosen.loc[0, "legacy_source"] == "observed" and chosen.loc[0, "legacy_method"] == "observed"


def test_an_observed_pick_names_its_cache_any_way(harness: Harness) -> None:
    caches = harness.federation.caches

    def resolve(text: str) -> object:
        return observed_cache(caches, text)

    for text in (
        "Chicago",
        "chicago",
        "https://chicago.example.org:8443",
        "chicago.example.org:8443",
        "chicago.example.org",
        "Windy City (Chicago)",
    ):
        assert getattr(resolve(text), "name", None) == "Chicago", text
    assert resolve("elsewhere") is None
