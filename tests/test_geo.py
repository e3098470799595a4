"""Distances: properties checked with hypothesis, the `haversine` package as the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from haversine import haversine
from hypothesis import example, given
from hypothesis import strategies as st

from locator.core.geo import EARTH_RADIUS_KM, Coordinate, InvalidCoordinate, distance_matrix_km, great_circle_km

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
coordinates = st.builds(Coordinate, latitudes, longitudes)


@given(coordinates, coordinates)
@example(Coordinate(90, 0), Coordinate(-90, 0))
@example(Coordinate(0, 0), Coordinate(0, 180))
@example(Coordinate(0, 179.9), Coordinate(0, -179.9))
def test_matches_the_haversine_package(a: Coordinate, b: Coordinate) -> None:
    expected = haversine((a.latitude, a.longitude), (b.latitude, b.longitude))
    assert great_circle_km(a, b) == pytest.approx(expected, abs=1e-6)


@given(coordinates, coordinates)
def test_symmetric_and_bounded(a: Coordinate, b: Coordinate) -> None:
    d = great_circle_km(a, b)
    assert d == pytest.approx(great_circle_km(b, a), abs=1e-9)
    assert 0 <= d <= math.pi * EARTH_RADIUS_KM + 1e-6


@given(coordinates)
@example(Coordinate(90, 45))
@example(Coordinate(0, 0))
def test_zero_to_itself(a: Coordinate) -> None:
    assert great_circle_km(a, a) == pytest.approx(0, abs=1e-6)


@given(coordinates, coordinates, coordinates)
def test_triangle_inequality(a: Coordinate, b: Coordinate, c: Coordinate) -> None:
    assert great_circle_km(a, c) <= great_circle_km(a, b) + great_circle_km(b, c) + 1e-6


def test_antimeridian_neighbours_are_close() -> None:
    assert great_circle_km(Coordinate(0, 179.9), Coordinate(0, -179.9)) == pytest.approx(22.24, abs=0.01)


def test_matrix_shape_and_unknown_positions_stay_nan() -> None:
    matrix = distance_matrix_km(
        np.array([40.0, 0.0]),
        np.array([-96.0, 0.0]),
        np.array([41.0, np.nan, 39.0]),
        np.array([-87.0, 1.0, -94.0]),
    )
    assert matrix.shape == (2, 3)
    assert np.isnan(matrix[:, 1]).all()
    assert np.isfinite(matrix[:, [0, 2]]).all()


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        ("91", "0", "out_of_range"),
        ("0", "-181", "out_of_range"),
        ("nan", "0", "not_a_number"),
        ("inf", "0", "not_a_number"),
        ("x", "0", "not_a_number"),
        ("", "0", "missing_coordinates"),
        (None, "0", "missing_coordinates"),
    ],
)
def test_invalid_coordinates_say_why(lat: str | None, lon: str, reason: str) -> None:
    with pytest.raises(InvalidCoordinate) as info:
        Coordinate.parse(lat, lon)
    assert info.value.reason == reason


def test_null_island() -> None:
    assert Coordinate(0, 0).is_null_island
    assert not Coordinate(0, 0.0001).is_null_island
