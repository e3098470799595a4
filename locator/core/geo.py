"""Positions on the Earth and great-circle distances; pure, no I/O.

Coordinates are always (latitude, longitude) in decimal degrees, WGS84, positive north and east.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from haversine import haversine

# IUGG mean Earth radius, the one the `haversine` package uses; the 2022 worker used 6371 km, which changes
# distances by 1.4 ppm and no ordering.
EARTH_RADIUS_KM = 6371.0088

FloatArray = npt.NDArray[np.float64]
Array = TypeVar("Array", bound="npt.NDArray[Any]")


def read_only(array: Array) -> Array:
    """A copy over immutable bytes: snapshots share their arrays with every request, so no one may make one writable."""
    return cast(Array, np.frombuffer(array.tobytes(), dtype=array.dtype).reshape(array.shape))


class InvalidCoordinate(ValueError):
    """A latitude or longitude that is not a finite number in range; `reason` is a short machine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Coordinate:
    """A point: latitude in [-90, 90], longitude in [-180, 180], both finite; checked on construction."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        for name, value, limit in (("latitude", self.latitude, 90.0), ("longitude", self.longitude, 180.0)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise InvalidCoordinate("not_a_number", f"{name} {value!r} is not a finite number")
            if not -limit <= value <= limit:
                raise InvalidCoordinate("out_of_range", f"{name} {value!r} is outside [-{limit:g}, {limit:g}]")

    @classmethod
    def parse(cls, latitude: str | float | None, longitude: str | float | None) -> Coordinate:
        """Build from text (headers, query strings, CSV cells); raises InvalidCoordinate with a reason."""
        if latitude is None or longitude is None or str(latitude).strip() == "" or str(longitude).strip() == "":
            raise InvalidCoordinate("missing_coordinates", "latitude and longitude are both required")
        try:
            lat, lon = float(latitude), float(longitude)
        except ValueError:
            raise InvalidCoordinate(
                "not_a_number", f"latitude {latitude!r} / longitude {longitude!r} is not a number"
            ) from None
        return cls(lat, lon)

    @property
    def is_null_island(self) -> bool:
        """0,0 is what broken lookups return (Pelican #496; the 2022 worker's KV skipped it)."""
        return self.latitude == 0.0 and self.longitude == 0.0


@dataclass(frozen=True)
class Destinations:
    """Positions prepared once for many distance computations (the caches): radians and cos(latitude)."""

    latitude_rad: FloatArray
    longitude_rad: FloatArray
    cos_latitude: FloatArray

    @classmethod
    def of(cls, latitude: FloatArray, longitude: FloatArray) -> Destinations:
        lat = np.radians(np.asarray(latitude, dtype=np.float64))
        longitude_rad = np.radians(np.asarray(longitude, dtype=np.float64))
        return cls(read_only(lat), read_only(longitude_rad), read_only(np.cos(lat)))


def distances_km(origin_lat: FloatArray, origin_lon: FloatArray, to: Destinations) -> FloatArray:
    """Haversine great-circle distances from each origin (degrees) to each destination, shape (origins,
    destinations), in km. NaN in a position gives NaN for its pairs: an unknown position stays unknown.

    The one vectorised distance of the project: the service's ranking and the evaluation both use it.
    """
    lat1 = np.radians(np.asarray(origin_lat, dtype=np.float64))[:, np.newaxis]
    lon1 = np.radians(np.asarray(origin_lon, dtype=np.float64))[:, np.newaxis]
    half_chord = (
        np.sin((to.latitude_rad - lat1) * 0.5) ** 2
        + np.cos(lat1) * to.cos_latitude * np.sin((to.longitude_rad - lon1) * 0.5) ** 2
    )
    # Rounding can push the haversine a hair past 1 for antipodal points; arcsin would then give NaN.
    result: FloatArray = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(half_chord, 1.0)))
    return result


def distance_matrix_km(
    origin_lat: FloatArray, origin_lon: FloatArray, dest_lat: FloatArray, dest_lon: FloatArray
) -> FloatArray:
    """`distances_km` for destinations given in degrees."""
    return distances_km(origin_lat, origin_lon, Destinations.of(dest_lat, dest_lon))


def great_circle_km(a: Coordinate, b: Coordinate) -> float:
    """Distance between two points in km: the `haversine` package's scalar form of the same formula and
    radius (NumPy costs more than the arithmetic for one pair; tests/test_geo.py checks they agree)."""
    return float(haversine((a.latitude, a.longitude), (b.latitude, b.longitude), check=False))
