"""The GeoIP database comparison and the per-region cross-check sweep, on the shipped data."""

from __future__ import annotations

from click.testing import CliRunner

from evaluation.cli import cli
from evaluation.databases import campus_addresses, campus_records, compare
from locator.embedded import embedded_path
from locator.settings import DATA_DIR


def test_campus_addresses_cover_their_sites_by_every_name() -> None:
    addresses = campus_addresses()
    assert addresses["ucolorado_hep"] == addresses["ucolorado_hep_itb"] == "128.138.129.1"  # a site and its alias
    records = campus_records()
    assert len(records) == 57 and records["latitude"].notna().all() and not records["synthetic"].any()


def test_the_default_database_places_every_campus_and_picks_better() -> None:
    databases = {name: embedded_path(name) for name in ("dbip-2023", "geolite2-2018")}
    table = compare({k: v for k, v in databases.items() if v is not None}, DATA_DIR / "caches.csv", {}, 300)
    campus = table[table["set"] == "campus 2022"].set_index("database")
    dbip = campus.loc["dbip-2023 (DBIP-City-Lite, built 2023-04-01)"]
    geolite = campus.loc["geolite2-2018 (GeoLite2-City, built 2018-07-03)"]
    assert (dbip["city found"], geolite["city found"]) == ("57/57", "51/57")
    assert dbip["p90 km"] < geolite["p90 km"]
    assert int(dbip["locator correct"].split("/")[0]) > int(geolite["locator correct"].split("/")[0])
    assert set(table["set"]) == {"campus 2022", "synthetic (300 jobs)"}


def test_regions_sweeps_each_distance_and_the_settings_rule() -> None:
    result = CliRunner().invoke(cli, ["regions", "--records", "2000", "--distances", "0,5000"], env={})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("| region"))
    assert header == "| region | jobs | off | 5000 km | 1500 / 5000 km |"
    rows = {line.split(" | ")[0].strip("| "): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert {"North America", "Europe", "Asia", "all"} <= set(rows)
    assert "| all | 2000 |" in rows["all"]
