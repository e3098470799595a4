"""Operator overrides: IP networks (CIDR, IPv4 and IPv6) pinned to coordinates, longest prefix wins.

For sites GeoIP gets wrong (Pelican #397 asked for the same): a row `192.0.2.0/24,40.8,-96.7,UNL` puts
every client of that network in Lincoln, whatever the edge or MaxMind says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from locator.core.geo import Coordinate
from locator.core.lookups import Override, OverrideTable
from locator.sources.files import parse_rows, read_table

COLUMNS = ("network", "latitude", "longitude")


class OverridesError(ValueError):
    """The overrides file cannot be used; the message names the file and line."""


def parse_overrides(lines: Iterable[str], source: str) -> OverrideTable:
    def override(row: dict[str, str]) -> Override:
        network = ipaddress.ip_network((row["network"] or "").strip(), strict=False)
        coordinate = Coordinate.parse(row["latitude"], row["longitude"])
        return Override(network, coordinate, (row.get("note") or "").strip())

    return OverrideTable(parse_rows(lines, COLUMNS, source, OverridesError, override))


def load_overrides(path: Path | None) -> OverrideTable:
    """Read the overrides file; a missing file is an empty table (overrides are optional)."""
    if path is None or not path.exists():
        return OverrideTable()
    return read_table(path, parse_overrides, OverridesError, "overrides file")
