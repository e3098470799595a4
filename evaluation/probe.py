"""The job-side half of the study: what a test job runs on a worker node.

It asks the locator (`/nearest`: the locator answers with what the CDN edge in front of it reported) and
the legacy service (directly, with `stashcp` as the caller, as stashcp did, so the service locates the
job's own address), and writes one observation record. A timeout, an HTTP error or a blocked hostname
(the 2022 study lost two sites to DNS blocking of *.workers.dev) becomes the record's error, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation.legacy import FetchError, LegacyClient, LegacyServiceError, fetch
from locator.core.caches import CacheSet
from locator.core.geo import Coordinate

# Where a job learns its site's name (HTCondor/GlideinWMS and OSG job environments), first found wins.
SITE_VARIABLES = ("GLIDEIN_ResourceName", "GLIDEIN_Site", "OSG_SITE_NAME")


def site_name(explicit: str | None, environ: Mapping[str, str]) -> str:
    if explicit:
        return explicit
    return next((environ[name] for name in SITE_VARIABLES if environ.get(name)), "")


def ask_locator(url: str, timeout_s: float, headers: Mapping[str, str]) -> dict[str, Any]:
    """The locator's answer as record fields (pick, method, the edge's view), or locator_error."""
    try:
        body = json.loads(fetch(url.rstrip("/") + "/nearest?n=1", headers, timeout_s))
        client, edge = body["client"], body.get("edge") or {}
        return {
            "locator_pick": body["caches"][0]["name"] if body["caches"] else "",
            "locator_method": body["method"],
            "locator_error": "" if body["caches"] else "empty cache list",
            "client_ip": client.get("ip") or "",
            "colo": client.get("colo") or "",
            "edge_latitude": edge.get("latitude") or "",
            "edge_longitude": edge.get("longitude") or "",
            "edge_city": edge.get("city") or "",
            "edge_country": edge.get("country") or "",
        }
    except FetchError as exc:
        return {"locator_error": str(exc)}
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return {"locator_error": f"unexpected answer: {exc}"}


def ask_legacy(url: str, caches: CacheSet, timeout_s: float, headers: Mapping[str, str]) -> dict[str, Any]:
    servers = caches.in_service
    try:
        order = LegacyClient(url, timeout_s).order([cache.host for cache in servers], headers=headers)
    except LegacyServiceError as exc:
        return {"legacy_error": str(exc)}
    return {"legacy_pick": servers[order[0]].name, "legacy_method": "maxmind"}


def probe(
    locator_url: str | None,
    legacy_url: str | None,
    caches: CacheSet,
    site: str,
    timeout_s: float = 10.0,
    edge_headers: Mapping[str, str] | None = None,
    client_ip: str | None = None,
    position: Coordinate | None = None,
) -> dict[str, Any]:
    """One observation record.

    `edge_headers` and `client_ip` are for trying the probe against local services: the headers a CDN edge
    would add (sent to the locator) and an X-Forwarded-For address (sent to both) standing in for the job's
    public address.
    """
    record: dict[str, Any] = {
        "site": site,
        "latitude": position.latitude if position else "",
        "longitude": position.longitude if position else "",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "synthetic": False,
    }
    forwarded = {"X-Forwarded-For": client_ip} if client_ip else {}
    if locator_url:
        record.update(ask_locator(locator_url, timeout_s, {**forwarded, **(edge_headers or {})}))
    if legacy_url:
        record.update(ask_legacy(legacy_url, caches, timeout_s, forwarded))
    if edge_headers or client_ip:
        # The services are real but what they were told about the job is made up: never real results.
        record["synthetic"] = True
        record["note"] = "probe with simulated edge headers / client address"
    return record


def append_record(path: Path | None, record: Mapping[str, Any]) -> str:
    """Append one record as a JSON line (stdout when `path` is None); returns the line."""
    line = json.dumps(dict(record), sort_keys=False)
    if path is not None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    return line
