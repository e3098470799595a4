"""A base map for the figures, from TopoJSON shipped in data/maps (no tiles, no network).

countries-50m.json: Natural Earth admin-0 countries 1:50m (public domain) and states-10m.json: US Census
cartographic state boundaries 2017 (public domain), both as redistributed by the npm packages world-atlas
and us-atlas (ISC, Mike Bostock). Drawn in plain longitude/latitude with the aspect of the map's middle.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection

from evaluation.paths import MAPS_DIR

Line = npt.NDArray[np.float64]  # (points, 2): longitude, latitude

LAND = "#eeeeea"
BORDER = "#b9b9b0"
STATE = "#d6d6cf"


def decode_arcs(topology: dict[str, Any]) -> list[Line]:
    """Absolute (lon, lat) arcs from a quantized TopoJSON topology."""
    scale = np.array(topology["transform"]["scale"])
    translate = np.array(topology["transform"]["translate"])
    return [np.cumsum(np.array(arc, dtype=float), axis=0) * scale + translate for arc in topology["arcs"]]


def _arc(arcs: list[Line], index: int) -> Line:
    return arcs[index] if index >= 0 else arcs[~index][::-1]


def rings(topology: dict[str, Any], arcs: list[Line], name: str) -> list[Line]:
    """Every ring of every polygon in object `name`, arcs stitched in order."""
    out: list[Line] = []
    for geometry in topology["objects"][name]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry.get("arcs", [])]
        for polygon in polygons if geometry["type"] in ("Polygon", "MultiPolygon") else []:
            for ring in polygon:
                parts = [_arc(arcs, i) for i in ring]
                out.append(np.concatenate([parts[0], *[p[1:] for p in parts[1:]]]))
    return out


@functools.cache
def load(name: str) -> tuple[dict[str, Any], list[Line]]:
    topology = json.loads((MAPS_DIR / name).read_text())
    return topology, decode_arcs(topology)


def draw(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """Land, country borders and US states within extent = (west, east, south, north)."""
    countries, country_arcs = load("countries-50m.json")
    states, state_arcs = load("states-10m.json")
    west, east, south, north = extent
    ax.set_facecolor("#f7fbff")
    ax.add_collection(
        PolyCollection(rings(countries, country_arcs, "land"), facecolors=LAND, edgecolors="none", zorder=0)
    )
    ax.add_collection(LineCollection(state_arcs, colors=STATE, linewidths=0.4, zorder=1))
    ax.add_collection(LineCollection(country_arcs, colors=BORDER, linewidths=0.6, zorder=1))
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1.0 / math.cos(math.radians((south + north) / 2)))
    ax.set_xticks([])
    ax.set_yticks([])


def extent_of(
    lats: npt.NDArray[np.float64], lons: npt.NDArray[np.float64], margin_deg: float = 3.0, share: float = 0.95
) -> tuple[float, float, float, float]:
    """A map frame around the central `share` of the points (outliers may fall outside), plus a margin."""
    lats, lons = lats[~np.isnan(lats)], lons[~np.isnan(lons)]
    if not len(lats):
        return (-125.0, -66.0, 24.0, 50.0)  # the contiguous US
    low, high = (1.0 - share) / 2, 1.0 - (1.0 - share) / 2
    return (
        max(-180.0, float(np.quantile(lons, low)) - margin_deg),
        min(180.0, float(np.quantile(lons, high)) + margin_deg),
        max(-90.0, float(np.quantile(lats, low)) - margin_deg),
        min(90.0, float(np.quantile(lats, high)) + margin_deg),
    )
