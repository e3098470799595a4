"""`locator sync`: read the federation from where it lives and write the files the service reads.

- director: a Pelican director's cache list (`/api/v1.0/director_ui/servers?server_type=cache`: name, URL,
  position, namespace prefixes, whether it is filtered) and namespaces (`/api/v2.0/director/listNamespaces`:
  path, public reads) become the caches file and the namespaces file. A cache is open to public data outside
  the listed namespaces when it serves every public namespace the director lists (a Pelican cache without
  registry restrictions advertises them all). The operator's `status`, `weight`, `ip` and `note` of a cache
  already in the caches file are kept; `downtime` is the director's filter.
- topology: OSG Topology's `/osdf/namespaces` becomes the namespaces file and the `namespaces` cells of the
  caches already in the caches file (Topology's document has no cache positions).

Everything read is validated, and the files are checked as the service would load them, before either is
written; each is then replaced atomically (written beside, renamed over), namespaces first, so that live
reload picks them up. A bad or empty document changes nothing and raises SyncError with one line.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from locator.core.caches import PUBLIC
from locator.core.federation import Federation, FederationError
from locator.core.namespaces import check_path
from locator.sources.caches_file import CacheFileError, load_caches, parse_caches, parse_endpoint
from locator.sources.files import table_reader, write_csv
from locator.sources.namespaces_file import NamespaceFileError, parse_namespaces

CACHE_COLUMNS = ("name", "endpoint", "latitude", "longitude", "status", "downtime", "weight", "namespaces")
KEPT_COLUMNS = ("status", "weight", "site", "city", "country", "ip", "note")  # the operator's, kept by a sync
COLUMNS = (*CACHE_COLUMNS, "site", "city", "country", "ip", "note")
NAMESPACE_COLUMNS = ("path", "require_token")
SERVERS = "/api/v1.0/director_ui/servers?server_type=cache"
NAMESPACES = "/api/v2.0/director/listNamespaces"
TOPOLOGY = "/osdf/namespaces"
INTERNAL_PREFIX = "/pelican/"  # the director's own monitoring namespace, never a data namespace


class SyncError(Exception):
    """Nothing was written; the message says why in one line."""


@dataclass(frozen=True)
class Synced:
    caches: int
    namespaces: int
    notes: tuple[str, ...] = ()


def fetch(base_url: str, path: str, timeout_s: float) -> Any:
    """GET a JSON document; SyncError for anything but a 200 with JSON."""
    url = base_url.rstrip("/") + path
    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise SyncError(f"{url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise SyncError(f"{url}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise SyncError(f"{url}: the answer is not JSON") from None


def _list(document: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(document, list) or not all(isinstance(item, Mapping) for item in document):
        raise SyncError(f"{what}: expected a JSON list of objects")
    return document


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def director_namespaces(document: Any) -> dict[str, bool]:
    """listNamespaces (NamespaceAdV2) -> {path: require_token}."""
    namespaces: dict[str, bool] = {}
    for item in _list(document, "listNamespaces"):
        path = item.get("path")
        if not isinstance(path, str):
            raise SyncError(f"listNamespaces: a namespace without a path: {dict(item)}"[:200])
        if path.startswith(INTERNAL_PREFIX) or path.rstrip("/") == INTERNAL_PREFIX.rstrip("/"):
            continue
        caps = item.get("capabilities", item.get("Caps"))
        public = _flag(caps.get("PublicRead")) if isinstance(caps, Mapping) else _flag(item.get("PublicRead"))
        try:
            namespaces[check_path(path.rstrip("/"))] = not public
        except ValueError as exc:
            raise SyncError(f"listNamespaces: {exc}") from None
    if not namespaces:
        raise SyncError("listNamespaces: the director lists no namespace")
    return namespaces


def _number(value: Any) -> float | None:
    return (
        float(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else None
    )


def director_caches(document: Any, namespaces: Mapping[str, bool]) -> list[dict[str, str]]:
    """director_ui/servers -> caches file rows (before merging what the operator keeps)."""
    public_paths = {path for path, token in namespaces.items() if not token}
    rows = []
    for item in _list(document, "director_ui/servers"):
        if item.get("type", "Cache") != "Cache":
            continue
        name, url = item.get("name"), item.get("url") or item.get("authUrl")
        if not isinstance(name, str) or not name.strip() or not isinstance(url, str):
            raise SyncError(f"director_ui/servers: a cache without a name or URL: {dict(item)}"[:200])
        try:
            endpoint = parse_endpoint(url)
        except ValueError as exc:
            raise SyncError(f"director_ui/servers: cache {name}: {exc}") from None
        lat, lon = _number(item.get("latitude")), _number(item.get("longitude"))
        located = lat is not None and lon is not None and (lat, lon) != (0.0, 0.0)
        prefixes = {p.rstrip("/") for p in item.get("namespacePrefixes") or [] if isinstance(p, str)}
        served = sorted(prefixes & set(namespaces))
        if public_paths <= prefixes:
            served.append(PUBLIC)
        rows.append(
            {
                "name": name.strip(),
                "endpoint": endpoint,
                "latitude": f"{lat}" if located else "",
                "longitude": f"{lon}" if located else "",
                "status": "up",
                "downtime": "true" if _flag(item.get("filtered")) else "false",
                "weight": "1",
                "namespaces": ";".join(served) or "none",
            }
        )
    if not rows:
        raise SyncError("director_ui/servers: the director lists no cache")
    return rows


def merged(rows: Iterable[dict[str, str]], current: Mapping[str, dict[str, str]]) -> list[dict[str, str]]:
    """Keep what the operator set on caches already in the file: status, weight, site, city, country, ip, note."""
    out = []
    for row in rows:
        known = current.get(row["name"], {})
        out.append({**row, **{column: known[column] for column in KEPT_COLUMNS if known.get(column)}})
    return out


def topology_namespaces(document: Any) -> tuple[dict[str, bool], dict[str, set[str]]]:
    """/osdf/namespaces -> ({path: require_token}, {cache resource name: paths it may serve})."""
    if not isinstance(document, Mapping) or not isinstance(document.get("namespaces"), list):
        raise SyncError("/osdf/namespaces: expected an object with a `namespaces` list")
    namespaces: dict[str, bool] = {}
    served: dict[str, set[str]] = {}
    for item in _list(document["namespaces"], "/osdf/namespaces namespaces"):
        try:
            path = check_path(str(item.get("path", "")).rstrip("/"))
        except ValueError as exc:
            raise SyncError(f"/osdf/namespaces: {exc}") from None
        namespaces[path] = _flag(item.get("usetokenonread"))
        for cache in _list(item.get("caches") or [], f"/osdf/namespaces {path} caches"):
            resource = cache.get("resource")
            if isinstance(resource, str) and resource:
                served.setdefault(resource, set()).add(path)
    if not namespaces:
        raise SyncError("/osdf/namespaces: Topology lists no namespace")
    if not served:
        raise SyncError(
            "/osdf/namespaces: Topology lists no cache for any namespace (its caches are Pelican caches, which this "
            "document omits); sync from the Pelican director instead"
        )
    return namespaces, served


def _csv(columns: Iterable[str], rows: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_checked(
    caches_rows: list[dict[str, str]], namespaces: Mapping[str, bool], caches_out: Path, namespaces_out: Path
) -> Synced:
    """Check both files as the service would load them, then write them atomically, namespaces first."""
    namespace_rows = [{"path": path, "require_token": str(token).lower()} for path, token in sorted(namespaces.items())]
    try:
        table = parse_namespaces(_csv(NAMESPACE_COLUMNS, namespace_rows).splitlines(keepends=True), "namespaces")
        caches = parse_caches(_csv(COLUMNS, caches_rows).splitlines(keepends=True), "caches")
        Federation(caches, table)
    except (NamespaceFileError, CacheFileError, FederationError) as exc:
        raise SyncError(f"the synced files would not load: {exc}") from None
    write_csv(namespaces_out, NAMESPACE_COLUMNS, namespace_rows)
    write_csv(caches_out, COLUMNS, ({column: row.get(column, "") for column in COLUMNS} for row in caches_rows))
    return Synced(len(caches.caches), len(table))


def current_rows(path: Path) -> dict[str, dict[str, str]]:
    """The caches file's rows by cache name, when it loads; {} when there is none or it does not load."""
    try:
        load_caches(path)
        with path.open(newline="", encoding="utf-8") as handle:
            return {row["name"].strip(): row for row in table_reader(handle, ("name",))}
    except (CacheFileError, OSError, UnicodeDecodeError, csv.Error, ValueError):
        return {}


def sync_director(url: str, caches_out: Path, namespaces_out: Path, timeout_s: float = 30.0) -> Synced:
    namespaces = director_namespaces(fetch(url, NAMESPACES, timeout_s))
    rows = director_caches(fetch(url, SERVERS, timeout_s), namespaces)
    return write_checked(merged(rows, current_rows(caches_out)), namespaces, caches_out, namespaces_out)


def sync_topology(url: str, caches_out: Path, namespaces_out: Path, timeout_s: float = 30.0) -> Synced:
    namespaces, served = topology_namespaces(fetch(url, TOPOLOGY, timeout_s))
    current = current_rows(caches_out)
    if not current:
        raise SyncError(f"{caches_out}: Topology's document has no cache positions: the caches file must load first")
    rows = []
    for name, row in current.items():
        public = PUBLIC in (row.get("namespaces") or PUBLIC).split(";")
        paths = sorted(served.get(name, set()))
        rows.append({**row, "namespaces": ";".join(paths + ([PUBLIC] if public else [])) or "none"})
    unknown = sorted(set(served) - set(current))
    notes = (f"not in the caches file (this document gives no position): {', '.join(unknown)}",) if unknown else ()
    synced = write_checked(rows, namespaces, caches_out, namespaces_out)
    return Synced(synced.caches, synced.namespaces, notes)
