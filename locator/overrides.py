"""Operator overrides: IP networks (CIDR, IPv4 and IPv6) pinned to coordinates, longest prefix wins.

For sites GeoIP gets wrong (Pelican #397 asked for the same): a row `192.0.2.0/24,40.8,-96.7,UNL` puts
every client of that network in Lincoln, whatever the edge or MaxMind says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from locator.addresses import IPAddress, IPNetwork
from locator.files import read_table, table_reader
from locator.geo import Coordinate, InvalidCoordinate

COLUMNS = ("network", "latitude", "longitude")


class OverridesError(ValueError):
    """The overrides file cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Override:
    network: IPNetwork
    coordinate: Coordinate
    note: str = ""


class OverrideTable:
    """Longest-prefix match in O(number of distinct prefix lengths): one dict per (version, prefix length)."""

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self._by_prefix: dict[tuple[int, int], dict[int, Override]] = {}
        count = 0
        for override in overrides:
            net = override.network
            bucket = self._by_prefix.setdefault((net.version, net.prefixlen), {})
            bucket[int(net.network_address)] = override
            count += 1
        self._count = count
        # Longest prefixes first, so the first hit is the most specific network.
        self._order = sorted(self._by_prefix, key=lambda key: -key[1])

    def __len__(self) -> int:
        return self._count

    def lookup(self, address: IPAddress) -> Override | None:
        bits = address.max_prefixlen
        value = int(address)
        for version, prefixlen in self._order:
            if version != address.version:
                continue
            masked = (value >> (bits - prefixlen)) << (bits - prefixlen) if prefixlen else 0
            hit = self._by_prefix[(version, prefixlen)].get(masked)
            if hit is not None:
                return hit
        return None


def parse_overrides(lines: Iterable[str], source: str) -> OverrideTable:
    try:
        reader = table_reader(lines, COLUMNS)
    except ValueError as exc:
        raise OverridesError(f"{source}: {exc}") from None
    overrides = []
    for row in reader:
        try:
            network = ipaddress.ip_network((row["network"] or "").strip(), strict=False)
            coordinate = Coordinate.parse(row["latitude"], row["longitude"])
        except (ValueError, InvalidCoordinate) as exc:
            raise OverridesError(f"{source}, line {reader.line_num}: {exc}") from None
        overrides.append(Override(network, coordinate, (row.get("note") or "").strip()))
    return OverrideTable(overrides)


def load_overrides(path: Path | None) -> OverrideTable:
    """Read the overrides file; a missing file is an empty table (overrides are optional)."""
    if path is None or not path.exists():
        return OverrideTable()
    return read_table(path, parse_overrides, OverridesError, "overrides file")
