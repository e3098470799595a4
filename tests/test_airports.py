"""The airport table: the CSV, the duplicate rule, the KV store and its freshness."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from locator.core.geo import Coordinate, great_circle_km
from locator.core.lookups import CONTINENTS
from locator.sources.airports import AirportDataError, AirportTable, ensure_store, read_airports_csv
from locator.sources.kv import KVNamespace
from locator.sources.ourairports import build_airports_csv, select_airports
from tests.conftest import ClientFactory

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "data" / "sources"  # the extracts data/airports.csv is built from, committed


def row(
    code: str,
    kind: str,
    sched: str = "no",
    ident: str = "1",
    lat: str = "10",
    lon: str = "20",
    name: str = "",
) -> dict[str, str]:
    return {
        "id": ident,
        "iata_code": code,
        "type": kind,
        "scheduled_service": sched,
        "latitude_deg": lat,
        "longitude_deg": lon,
        "name": name or f"{kind} {ident}",
        "municipality": "Town",
        "iso_country": "US",
        "continent": "NA",
    }


def test_duplicate_rule_not_closed_then_larger_then_scheduled() -> None:
    picked = select_airports(
        [
            row("AAA", "closed", "yes", "1", name="closed"),
            row("AAA", "small_airport", "no", "2", name="live"),
            row("BBB", "medium_airport", "no", "3"),
            row("BBB", "large_airport", "no", "4", name="large"),
            row("CCC", "small_airport", "no", "5"),
            row("CCC", "small_airport", "yes", "6", name="scheduled"),
            row("DDD", "small_airport", "no", "8"),
            row("DDD", "small_airport", "no", "7", name="lower id"),
            row("0", "small_airport"),
            row("TR7", "small_airport"),
            row("EEE", "small_airport", lat="0", lon="0"),
        ]
    )
    assert {code: r["name"] for code, r in picked.items()} == {
        "AAA": "live",
        "BBB": "large",
        "CCC": "scheduled",
        "DDD": "lower id",
    }


def test_shipped_airports_csv_is_valid_and_has_the_colos_we_need() -> None:
    airports = {a.iata: a for a in read_airports_csv(REPO / "data" / "airports.csv")}
    assert len(airports) > 9000
    for code in ("DFW", "LAX", "ORD", "DEN", "AMS", "QWJ"):
        assert code in airports
    assert airports["DFW"].city == "Dallas-Fort Worth"


def test_shipped_csv_is_reproducible_from_ourairports(tmp_path: Path) -> None:
    """data/airports.csv is exactly what the build rule makes from the committed OurAirports extract."""
    out = tmp_path / "airports.csv"
    build_airports_csv(SOURCES / "airports_ourairports.csv.gz", out, REPO / "data" / "airports_supplement.csv")
    assert out.read_text() == (REPO / "data" / "airports.csv").read_text()


def test_every_cloudflare_colo_resolves_in_its_country_near_its_listed_position() -> None:
    """The colo fallback is only as good as its coverage of Cloudflare's data centres (340 in 2026, 276 of them
    outside North America): each code resolves, to an airport of the colo's country, within 100 km of where
    the list puts the colo, with a continent for the cross-check. The one exception is a listing error the
    source flags (SSA's coordinates are 808 km from Salvador, whose airport the code names)."""
    airports = {a.iata: a for a in read_airports_csv(REPO / "data" / "airports.csv")}
    with (SOURCES / "cloudflare_colos.csv").open() as handle:
        colos = list(csv.DictReader(handle))
    assert len(colos) == 340 and sum(c["region"] != "North America" for c in colos) == 276
    assert {c["iata"] for c in colos} - set(airports) == set()
    far = {
        c["iata"]
        for c in colos
        if great_circle_km(airports[c["iata"]].coordinate, Coordinate(float(c["latitude"]), float(c["longitude"])))
        > 100
    }
    assert far == {"SSA"} and "807.6 km" in next(c["flag"] for c in colos if c["iata"] == "SSA")
    assert [c["iata"] for c in colos if airports[c["iata"]].country != c["cca2"]] == []
    assert all(airports[c["iata"]].continent in CONTINENTS for c in colos)


def test_store_is_built_when_missing_stale_or_corrupt(data_dir: Path) -> None:
    csv_path, store = data_dir / "airports.csv", data_dir / "airports.sqlite"
    assert ensure_store(csv_path, store) is True
    assert ensure_store(csv_path, store) is False  # current: untouched
    old = store.stat().st_mtime - 100
    os.utime(store, (old, old))
    assert ensure_store(csv_path, store) is True  # older than the CSV
    store.write_bytes(b"garbage" * 1000)
    os.utime(store, None)
    assert ensure_store(csv_path, store) is True  # unreadable
    table = AirportTable.open(store)
    assert table.lookup("dfw") is not None and table.lookup("DFW").coordinate.latitude == pytest.approx(32.8968)
    assert table.lookup("ZZZ") is None  # 0,0 is never loaded
    assert table.lookup("QQQ") is None and table.lookup("12") is None


def test_null_island_in_the_store_is_never_served(data_dir: Path) -> None:
    store = data_dir / "airports.sqlite"
    ensure_store(data_dir / "airports.csv", store)
    with KVNamespace(store, "airports") as kv:
        kv.put("NUL", '{"latitude": 0, "longitude": 0}')
        kv.put("BAD", "not json")
    table = AirportTable.open(store)
    assert table.lookup("NUL") is None and table.lookup("BAD") is None


DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on it


def test_tampered_store_values_are_unusable_not_fatal(data_dir: Path) -> None:
    store = data_dir / "airports.sqlite"
    ensure_store(data_dir / "airports.csv", store)
    with KVNamespace(store, "airports") as kv:
        kv.put("DEN", DEEP)
        kv.put("ORD", '{"latitude": 41.97, "longitude": -87.9, "name": ["not", "text"]}')
        kv.put("LAX", '{"latitude": 33.9, "longitude": -118.4, "city": "' + "L" * 10_000 + '"}')
    table = AirportTable.open(store)
    assert table.lookup("DEN") is None and table.lookup("ORD") is None
    airport = table.lookup("LAX")
    assert airport is not None and len(airport.city) == 128  # names are bounded


def test_a_store_without_one_usable_airport_degrades(make_client: ClientFactory, data_dir: Path) -> None:
    """Once a 38-line traceback at start-up (deeply nested JSON); then, once every value was unusable, "ready"."""
    store = data_dir / "airports.sqlite"
    ensure_store(data_dir / "airports.csv", store)
    with KVNamespace(store, "airports") as kv:
        for code, _ in kv.items():
            kv.put(code, DEEP)
    with pytest.raises(AirportDataError, match="no usable airport among its"):
        AirportTable.open(store)
    ready = make_client().get("/readyz").json()
    assert ready["status"] == "degraded" and ready["airports"] == 0
    assert [note for note in ready["degraded"] if note.startswith("airports: ")]


def test_store_without_csv_keeps_working_and_missing_both_is_an_error(data_dir: Path) -> None:
    csv_path, store = data_dir / "airports.csv", data_dir / "airports.sqlite"
    ensure_store(csv_path, store)
    csv_path.unlink()
    assert ensure_store(csv_path, store) is False
    store.unlink()
    with pytest.raises(AirportDataError, match="not found"):
        ensure_store(csv_path, store)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("iata,name\nDFW,x\n", "missing column"),
        ("iata,name,city,country,continent,latitude,longitude\nDF1,x,y,US,NA,1,2\n", "not an IATA code"),
        ("iata,name,city,country,continent,latitude,longitude\nDFW,x,y,US,NA,1,2\nDFW,x,y,US,NA,1,2\n", "duplicate"),
        ("iata,name,city,country,continent,latitude,longitude\nDFW,x,y,US,NA,100,2\n", "outside"),
        ("iata,name,city,country,continent,latitude,longitude\nDFW,x,y,US,XX,1,2\n", "continent 'XX' is not one of"),
    ],
)
def test_bad_airports_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "a.csv"
    path.write_text(content)
    with pytest.raises(AirportDataError, match=message):
        read_airports_csv(path)


def test_a_build_killed_outright_leaves_nothing_the_next_build_keeps(data_dir: Path) -> None:
    """SIGKILL leaves the temporary store and, mid-transaction, SQLite's journal beside it; once stale, the
    next build removes both (a fresh one, perhaps another writer's, stays)."""
    csv_path, store = data_dir / "airports.csv", data_dir / "airports.sqlite"
    left = [data_dir / ".airports.sqlite.k1ll3d.tmp", data_dir / ".airports.sqlite.k1ll3d.tmp-journal"]
    fresh = data_dir / ".airports.sqlite.wr1t1n.tmp"
    for path in [*left, fresh]:
        path.write_bytes(b"x")
    for path in left:
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert ensure_store(csv_path, store) is True
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith(".")) == [fresh.name]
