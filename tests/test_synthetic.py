"""The synthetic model: seeded, labelled, and drawing what its docstring says it draws."""

from __future__ import annotations

import pandas as pd

from evaluation.synthetic import SyntheticModel, generate
from locator.settings import Settings
from locator.sources.airports import AirportTable, ensure_store


def test_seeded_and_labelled() -> None:
    first, again = generate(500), generate(500)
    pd.testing.assert_frame_equal(first, again)
    assert not generate(500, SyntheticModel(seed=8)).equals(first)
    assert first["synthetic"].all()
    assert (first["note"] == "synthetic model seed=7").all()
    assert first["latitude"].notna().all() and first["time"].is_monotonic_increasing


def test_rates_follow_the_model() -> None:
    records = generate(20_000)
    no_city = (records["edge_city"] == "").mean()
    assert 0.02 < no_city < 0.15  # p_edge_fails 0.06 per address (few addresses per site: wide band)
    assert records["site"].nunique() > 50
    assert records["client_ip"].nunique() < 4 * records["site"].nunique()  # 1-3 addresses per site


def test_every_colo_is_in_the_airport_table(tmp_path: object) -> None:
    settings = Settings.from_env({}, airports_store=f"{tmp_path}/airports.sqlite")
    ensure_store(settings.airports_csv, settings.airports_store)
    table = AirportTable.open(settings.airports_store)
    assert all(table.lookup(code) is not None for code in generate(5_000)["colo"].unique())
