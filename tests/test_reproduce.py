"""The 2022 study's named sites: the blog's verdicts reproduced, and the locator's picks explained."""

from __future__ import annotations

import pytest

from evaluation.reproduce import Reproduction, reproduce_2022, study_harness


@pytest.fixture(scope="module")
def result() -> Reproduction:
    harness = study_harness({})
    try:
        return reproduce_2022(harness)
    finally:
        harness.close()


def cell(result: Reproduction, site: str, column: str) -> str:
    return str(result.table.loc[result.table["site"] == site, column].iloc[0])


def test_verdicts_agree_with_the_blog(result: Reproduction) -> None:
    assert result.agrees_with_blog


def test_colorado_worker_wrong_via_dallas_legacy_right(result: Reproduction) -> None:
    assert cell(result, "UColorado_HEP", "nearest (km)") == "Stashcache-Kansas (919.9)"
    assert cell(result, "UColorado_HEP", "legacy").startswith("Stashcache-Kansas [observed]: right")
    assert cell(result, "UColorado_HEP", "worker 2022").startswith("Stashcache-Houston [colo]: wrong (+531 km)")
    # the locator needs the job's address to do better: with it MaxMind places Boulder, the colo agrees
    assert cell(result, "UColorado_HEP", "locator, as recorded").startswith("Stashcache-Houston [colo]")
    assert cell(result, "UColorado_HEP", "locator, MaxMind knows the campus") == "Stashcache-Kansas [geoip]: right"
    assert cell(result, "UColorado_HEP", "locator, MaxMind knows only the country").startswith(
        "Stashcache-Houston [colo]"
    )


def test_arizona_legacy_wrong_worker_right_via_lax(result: Reproduction) -> None:
    assert cell(result, "ASU-DELL_M420", "legacy").startswith("Stashcache-Kansas [observed]: wrong")
    assert cell(result, "ASU-DELL_M420", "worker 2022").startswith("Stashcache-UCSD [colo]: right")
    assert cell(result, "ASU-DELL_M420", "locator, as recorded") == "Stashcache-UCSD [colo]: right"


def test_siue_is_a_near_tie(result: Reproduction) -> None:
    assert cell(result, "SIUE-CC-production", "nearest (km)") == "Stashcache-Chicago (398.9)"
    assert "tie (+0.6 km); blog: wrong" in cell(result, "SIUE-CC-production", "worker 2022")
    assert (
        cell(result, "SIUE-CC-production", "locator, MaxMind knows the campus") == "Stashcache-Chicago [geoip]: right"
    )


def test_blocked_sites_are_noted(result: Reproduction) -> None:
    text = result.markdown()
    assert "Purdue University: site DNS (OpenDNS) blocked" in text
    assert "American Museum of Natural History" in text


def test_the_study_harness_opens_its_one_database_once() -> None:
    """The locator and the legacy emulation both read GeoLite2 2018 here: one open file, one check."""
    harness = study_harness({})
    try:
        assert harness.legacy_geoip is harness.federation.sources.geoip
        assert harness.inputs()["geoip"]["built"] == "2018-07-03"
    finally:
        harness.close()
