"""Observation records: one row per job (site) observation, as CSV or JSON lines.

A record says where the site really is, what the network and the CDN edge said about the job, and any
picks that were observed. Strategies whose pick was observed use it; the others are computed from the
record. Synthetic records carry `synthetic=true` and are never pooled with real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import RecordError

STRATEGIES = ("legacy", "worker", "locator")

# field -> meaning; the README's schema table is checked against this.
FIELDS: dict[str, str] = {
    "site": "site name (GLIDEIN_ResourceName, resource group or topology site)",
    "latitude": "true latitude of the site (empty: resolved from the sites file by name)",
    "longitude": "true longitude of the site",
    "client_ip": "the job's public address as services see it",
    "edge_latitude": "latitude the CDN edge reported (empty when its GeoIP failed)",
    "edge_longitude": "longitude the CDN edge reported",
    "edge_city": "city the CDN edge reported",
    "edge_country": "country the CDN edge reported",
    "colo": "IATA code of the edge data centre that received the request",
    "path": "the object's path the job read (empty, with no `namespace`: public data)",
    "namespace": "the namespace prefix the job read from, when the path is not recorded",
    "legacy_pick": "observed pick of the legacy CVMFS GeoIP service (cache name, endpoint or host)",
    "worker_pick": "observed pick of the 2022 Cloudflare Worker",
    "locator_pick": "observed pick of this locator",
    "legacy_method": "how the observed legacy pick was made, if known",
    "worker_method": "how the observed worker pick was made, if known",
    "locator_method": "the method the locator reported",
    "legacy_error": "why the legacy service gave no pick (timeout, HTTP 400, DNS block, ...)",
    "worker_error": "why the worker gave no pick",
    "locator_error": "why the locator gave no pick",
    "synthetic": "true for records made by the synthetic model",
    "time": "when the observation was made (ISO 8601)",
    "note": "free text",
}
TEXT_FIELDS = [name for name in FIELDS if name not in ("latitude", "longitude", "synthetic")]


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present, text as str ('' for missing), positions as float, synthetic as bool."""
    frame = frame.copy()
    for name in TEXT_FIELDS:
        if name not in frame:
            frame[name] = ""
        frame[name] = frame[name].fillna("").astype(str).str.strip()
    for name in ("latitude", "longitude"):
        column = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        frame[name] = pd.to_numeric(column, errors="coerce").astype(float)
    if "synthetic" not in frame:
        frame["synthetic"] = False
    frame["synthetic"] = frame["synthetic"].map(_truthy).astype(bool)
    return frame.reset_index(drop=True)


def object_paths(records: pd.DataFrame) -> list[str]:
    """What each record's job read: its `path`, else its `namespace`, else '' (public data)."""
    return [path or namespace for path, namespace in zip(records["path"], records["namespace"], strict=True)]


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and value == value  # NaN is falsy here


def from_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return normalise(pd.DataFrame(list(rows)))


def read_records(paths: Sequence[Path]) -> pd.DataFrame:
    """Read any number of CSV or JSON-lines files (by extension) into one normalised frame."""
    frames = []
    for path in paths:
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            elif path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
                with path.open(encoding="utf-8") as handle:
                    frame = pd.DataFrame([json.loads(line) for line in handle if line.strip()])
            else:
                raise RecordError(f"{path}: unknown format (use .csv or .jsonl)")
        except FileNotFoundError:
            raise RecordError(f"{path}: records file not found") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordError(f"{path}: cannot read records: {exc}") from None
        frame["source_file"] = str(path)
        frames.append(frame)
    if not frames:
        raise RecordError("no records files given")
    return normalise(pd.concat(frames, ignore_index=True))


def read_sites(path: Path) -> pd.DataFrame:
    """Sites file: site, latitude, longitude and `names` (other names of the site, ';'-joined)."""
    try:
        sites = pd.read_csv(path, dtype={"site": str, "names": str}, keep_default_na=False)
    except FileNotFoundError:
        raise RecordError(f"{path}: sites file not found") from None
    missing = {"site", "latitude", "longitude"} - set(sites.columns)
    if missing:
        raise RecordError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    if "names" not in sites:
        sites["names"] = ""
    return sites


def resolve_positions(records: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Fill a record's missing site position from the sites file, by site name or any other name."""
    positions: dict[str, tuple[float, float]] = {}
    for row in sites.itertuples(index=False):
        point = (float(row.latitude), float(row.longitude))
        for name in [row.site, *str(row.names).split(";")]:
            if name.strip():
                positions.setdefault(name.strip().lower(), point)
    records = records.copy()
    unknown = records["latitude"].isna() | records["longitude"].isna()
    for index in records.index[unknown]:
        found = positions.get(records.at[index, "site"].lower())
        if found is not None:
            records.at[index, "latitude"], records.at[index, "longitude"] = found
    return records
