"""The load simulation (evaluation/loadsim.py): its parts on hand-made numbers, then two simulated hours of the
shipped federation with the three strategies side by side, and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evaluation import loadsim
from evaluation.cli import cli
from locator.core.caches import Cache, CacheSet
from locator.core.federation import Spread
from locator.core.geo import Coordinate
from locator.settings import DATA_DIR
from locator.sources.caches_file import load_caches
from locator.sources.namespaces_file import load_namespaces


def shipped(model: loadsim.LoadModel) -> loadsim.Simulation:
    return loadsim.simulate(
        model,
        load_caches(DATA_DIR / "caches.csv"),
        load_namespaces(DATA_DIR / "namespaces.csv"),
        loadsim.read_sites(),
        [Spread()],
    )


@pytest.fixture(scope="module")
def two_hours() -> loadsim.Simulation:
    return shipped(loadsim.LoadModel(hours=2.0, bursts=48))


def test_pelicans_draw_follows_its_published_weights() -> None:
    # three caches 0, 200 and 400 miles away: distance weights 1, 1/2, 1/4; the nearest at ioLoad 300 (weight 1/2)
    miles = np.array([[0.0, 200.0, 400.0]])
    adaptive = loadsim.PelicanAdaptive(miles, np.arange(3), np.random.default_rng(1))
    adaptive.site_of = np.zeros(1, dtype=np.intp)
    feed = loadsim.Feed.of(loadsim.LoadModel(io_load_at_capacity=300.0, lag_s=60), 3)
    feed.observe(0, np.array([1.0, 1 / 3, 1 / 3]))  # ioLoad 300, 100, 100 (at capacity, not above)
    picks = adaptive.picks(1, feed, np.zeros(40_000, dtype=np.intp))
    shares = np.bincount(picks, minlength=3) / len(picks)
    assert shares == pytest.approx([0.4, 0.4, 0.2], abs=0.01)  # 1/2 : 1/2 : 1/4


def test_pelican_keeps_the_nearest_six() -> None:
    miles = np.array([[float(d) for d in range(0, 900, 100)]])
    adaptive = loadsim.PelicanAdaptive(miles, np.arange(9), np.random.default_rng(2))
    adaptive.site_of = np.zeros(1, dtype=np.intp)
    feed = loadsim.Feed.of(loadsim.LoadModel(), 9)
    assert set(adaptive.picks(0, feed, np.zeros(5000, dtype=np.intp)).tolist()) == set(range(6))


def test_the_feed_is_late_and_averaged_like_a_directors() -> None:
    model = loadsim.LoadModel(io_load_at_capacity=300.0, rate_window_s=180, lag_s=60, status_tau_s=300.0)
    feed = loadsim.Feed.of(model, 1)
    feed.observe(0, np.array([0.0]))
    feed.observe(1, np.array([0.0]))
    feed.observe(2, np.array([3.0]))  # above capacity: the status turns toward 0.01
    assert feed.at(2)[0] == pytest.approx([0.0])  # the step before, not yet the overload
    io_load, status = feed.at(3)
    assert io_load == pytest.approx([300.0])  # 3.0 over a three-step window, times 300
    assert status == pytest.approx([1.0 - 0.99 * (1.0 - np.exp(-0.2))])
    assert feed.at(0)[0] == pytest.approx([0.0]) and feed.at(0)[1] == pytest.approx([1.0])  # nothing seen yet


def test_percentiles_come_from_unit_bins() -> None:
    histogram = loadsim.counts(np.array([0.5, 1.2, 1.9, 3.0, 250.0]), top=10)
    assert histogram.tolist() == [1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 1]  # above the top: in the last bin
    assert loadsim.percentile(histogram, 0.5) == 1.0 and loadsim.percentile(histogram, 0.95) == 10.0
    assert loadsim.percentile(np.zeros(4), 0.95) == 0.0


def test_churn_counts_consecutive_requests_within_an_hour() -> None:
    world = loadsim.World(
        loadsim.Nearest(np.zeros(2, dtype=np.intp)),
        loadsim.Feed.of(loadsim.LoadModel(), 3),
        np.full(2, -1, dtype=np.intp),
        np.full(2, -1, dtype=np.intp),
        np.zeros(1),
        np.zeros(1),
        pairs=np.zeros(2),
        changes=np.zeros(2),
    )
    # network 0 reads a, b, b; network 1 reads c once
    loadsim.churn_step(world, np.array([0, 0, 0, 1]), np.array([0, 1, 1, 2]), hour=0)
    assert (world.pairs[0], world.changes[0]) == (2, 1)
    loadsim.churn_step(world, np.array([0, 1]), np.array([1, 0]), hour=0)  # 0 keeps b, 1 moves c -> a
    assert (world.pairs[0], world.changes[0]) == (4, 2)
    loadsim.churn_step(world, np.array([0]), np.array([2]), hour=1)  # a new hour: no pair with the last one
    assert (world.pairs[1], world.changes[1]) == (0, 0)


def test_two_simulated_hours_side_by_side(two_hours: loadsim.Simulation) -> None:
    assert list(two_hours.outcomes) == [loadsim.NEAREST, loadsim.PELICAN, loadsim.LOCATOR]
    nearest, pelican, locator = two_hours.outcomes.values()
    assert two_hours.reads > 100_000 and two_hours.networks == 650 and two_hours.sites == 202
    assert nearest.churn == 0.0 and nearest.mean_extra_km < 10  # the nearest, co-located caches by rendezvous
    assert nearest.overloaded > 0.05  # the busiest caches are over capacity without load
    assert pelican.churn > 0.5  # a random draw per request
    assert locator.overloaded <= nearest.overloaded / 2
    assert locator.mean_extra_km <= pelican.mean_extra_km / 2
    assert locator.churn <= pelican.churn / 5
    assert locator.mean_transfer_s < nearest.mean_transfer_s
    assert two_hours.moved_by_load[loadsim.LOCATOR] > 0
    assert nearest.utilisation.shape == (120, len(two_hours.cache_names))
    assert locator.peak_utilisation >= locator.p95_utilisation > 0


def test_the_report_states_each_goal_with_its_numbers(two_hours: loadsim.Simulation) -> None:
    text = loadsim.summary(two_hours)
    assert text.count("\n| ") == 4  # the header, the rule... and three strategies
    for name in two_hours.outcomes:
        assert f"| {name} |" in text
    goals = loadsim.goals(two_hours)
    assert len(goals) == 4 and all(("met: " + line) in text or ("NOT met: " + line) in text for line, _ in goals)
    assert loadsim.figure(two_hours).axes and loadsim.load_figure(two_hours).axes


def test_the_same_seed_gives_the_same_day() -> None:
    model = loadsim.LoadModel(hours=0.25, bursts=200)
    assert loadsim.table(shipped(model)) == loadsim.table(shipped(model))


def test_command_line_writes_the_table_and_figures(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["loadsim", "--hours", "0.25", "--out", str(tmp_path)], env={})
    assert result.exit_code == 0, result.output
    assert "| locator |" in result.stdout and "Goals:" in result.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"loadsim.md", "loadsim.png", "loadsim_load.png"}
    assert "loadsim: 0.2 of 0.25 hours simulated" in result.stderr


def test_command_line_compares_detours(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["loadsim", "--hours", "0.25", "--detour-km", "500,1000"], env={})
    assert result.exit_code == 0, result.output
    assert "| locator, 500 km detour |" in result.stdout and "| locator, 1000 km detour |" in result.stdout
    assert "locator, 1000 km detour: churn at most a fifth of Pelican's" in result.stdout
    for bad in ("far", "-5", "nan"):
        result = CliRunner().invoke(cli, ["loadsim", "--hours", "0.25", "--detour-km", bad], env={})
        assert result.exit_code != 0 and "--detour-km" in result.output
        assert isinstance(result.exception, SystemExit)


def test_command_line_refuses_caches_it_cannot_simulate(tmp_path: Path) -> None:
    caches = tmp_path / "caches.csv"
    caches.write_text("name,endpoint,latitude,longitude,namespaces\nA,https://a.example,,,public\n")
    result = CliRunner().invoke(cli, ["loadsim", "--hours", "0.25", "--caches", str(caches)], env={})
    assert result.exit_code != 0 and "open to public data, each with a position" in result.output
    assert isinstance(result.exception, SystemExit)  # one line and an exit status, not a traceback
    caches.write_text("name,endpoint,latitude,longitude,namespaces\nA,https://a.example,40,-90,/nowhere\n")
    result = CliRunner().invoke(cli, ["loadsim", "--hours", "0.25", "--caches", str(caches)], env={})
    assert result.exit_code != 0 and "the namespaces file does not list" in result.output
    assert isinstance(result.exception, SystemExit)  # one line and an exit status, not a traceback
    result = CliRunner().invoke(cli, ["loadsim", "--hours", "0"], env={})
    assert result.exit_code == 2 and "--hours" in result.output


def test_a_cache_without_position_or_public_data_is_refused() -> None:
    caches = CacheSet((Cache("A", "https://a.example", Coordinate(40.0, -90.0), public=False),))
    with pytest.raises(loadsim.SimulationError):
        loadsim.simulate(loadsim.LoadModel(hours=0.1), caches, load_namespaces(None), loadsim.read_sites(), [Spread()])


def test_the_documented_day_has_the_tables_shape() -> None:
    # the full day takes minutes, so docs/evaluation.md shows a measured run: its table must be what
    # `table` prints today (the header, and a row per strategy) and its goals as `summary` words them
    shown = (Path(__file__).resolve().parent.parent / "docs" / "evaluation.md").read_text()
    header = loadsim.table(shipped(loadsim.LoadModel(hours=0.1))).splitlines()[:2]
    assert "\n".join(header) in shown
    for row in ("| nearest only |", "| Pelican adaptive sort |", "| locator, 500 km detour |"):
        assert row in shown
    assert "- met: locator, 1000 km detour: churn at most a fifth of Pelican's" in shown
