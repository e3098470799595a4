"""`locator sync`: read the federation from where it lives and write the files the service reads.

- director: a Pelican director's server list (`/api/v1.0/director_ui/servers`: name, type, URL, position,
  namespace prefixes, whether it is filtered) and namespaces (`/api/v2.0/director/listNamespaces`: path, public
  reads) become the caches file (its caches, and its origins with `role` origin and what each exports) and the
  namespaces file. A cache is open to public data outside
  the listed namespaces when it serves every public namespace the director lists (a Pelican cache without
  registry restrictions advertises them all). The operator's `status`, `weight`, `ip` and `note` of a cache
  already in the caches file are kept; `downtime` is the director's filter.
- topology: OSG Topology's `/osdf/namespaces` becomes the namespaces file, the `namespaces` cells of the
  caches already in the caches file (Topology's document has no cache positions) and the origins it names for
  each namespace (no positions either, except those the file already gives an origin of that name).

What is read is bounded (locator.sources.fetch: LOCATOR_SYNC_MAX_MB of body, `timeout_s` for the whole sync,
trickles included, a bound on JSON values and nesting) and validated, and the files are checked as the service
would load them, before either is written; each is then replaced atomically (written beside, renamed over),
namespaces first, so that live reload picks them up. A bad or empty document changes nothing and raises
SyncError with one line. So does a result that would hurt the service though it loads, unless the caller says
it is meant (`Guards`): one that takes away more than LOCATOR_RELOAD_MAX_SHRINK of the caches in the file (a
running service would refuse it, a restarted one would serve from the few left), or one that leaves no cache
open to public data where the file had some (every request without a listed namespace would get a 503).
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec

from locator.core.caches import ORIGIN, PUBLIC
from locator.core.federation import Federation, FederationError
from locator.core.namespaces import ROOT, check_path
from locator.sources.caches_file import (
    COLUMNS,
    CacheFileError,
    check_name,
    load_caches,
    parse_caches,
    parse_endpoint,
)
from locator.sources.fetch import FetchError, fetch_json
from locator.sources.files import table_reader, write_csv
from locator.sources.namespaces_file import NamespaceFileError, parse_namespaces

KEPT_COLUMNS = ("status", "weight", "site", "city", "country", "ip", "note")  # the operator's, kept by a sync
NAMESPACE_COLUMNS = ("path", "require_token")
SERVERS = "/api/v1.0/director_ui/servers"  # caches and origins
NAMESPACES = "/api/v2.0/director/listNamespaces"
TOPOLOGY = "/osdf/namespaces"
INTERNAL_PREFIX = "/pelican/"  # the director's own monitoring namespace, never a data namespace
MAX_CELL_CHARS = 100_000  # the caches file's CSV reader takes fields of up to 131,072 characters

T = TypeVar("T")
Flag = bool | str | None  # true, or "true"


class SyncError(Exception):
    """Nothing was written; the message says why in one line."""


@dataclass(frozen=True)
class Synced:
    caches: int
    namespaces: int
    notes: tuple[str, ...] = ()
    origins: int = 0


@dataclass(frozen=True)
class Guards:
    """How far a sync may go. The bounds come from the settings; the two `allow_` flags from the command line."""

    max_bytes: int = 16_000_000
    timeout_s: float = 30.0
    max_shrink: float = 0.5  # LOCATOR_RELOAD_MAX_SHRINK
    allow_private: bool = False  # LOCATOR_ALLOW_PRIVATE_ENDPOINTS
    allow_shrink: bool = False  # --allow-shrink
    allow_no_public: bool = False  # --allow-no-public


# The documents, as far as a sync reads them (msgspec skips the other fields without building them).
class Capabilities(msgspec.Struct):
    PublicRead: Flag = None  # noqa: N815 - Pelican's names


class NamespaceAd(msgspec.Struct):
    """listNamespaces (server_structs.NamespaceAdV2), with both JSON spellings of the capabilities."""

    path: str | None = None
    capabilities: Capabilities | None = None
    Caps: Capabilities | None = None  # noqa: N815
    PublicRead: Flag = None  # noqa: N815


class ServerAd(msgspec.Struct):
    """One entry of director_ui/servers (listServerResponse)."""

    name: str | None = None
    url: str | None = None
    authUrl: str | None = None  # noqa: N815
    type: str = "Cache"
    latitude: float | None = None
    longitude: float | None = None
    namespacePrefixes: list[str] | None = None  # noqa: N815
    filtered: Flag = None
    ioLoad: float | None = None  # noqa: N815 - read by the load feed (locator.sources.load_feed)
    statusWeight: float | None = None  # noqa: N815


class TopologyCache(msgspec.Struct):
    resource: str | None = None


class TopologyOrigin(msgspec.Struct):
    resource: str | None = None
    endpoint: str | None = None  # host:port, plain HTTP
    auth_endpoint: str | None = None  # host:port, HTTPS (where a token is needed)


class TopologyNamespace(msgspec.Struct):
    path: str = ""
    usetokenonread: Flag = None
    caches: list[TopologyCache] | None = None
    origins: list[TopologyOrigin] | None = None


class TopologyDocument(msgspec.Struct):
    namespaces: list[TopologyNamespace]


def _flag(value: Flag) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def bounded(base_url: str, reads: Callable[[str], Awaitable[T]], guards: Guards) -> T:
    """Run `reads(base)` (the documents of one sync, read concurrently) within the one deadline; SyncError
    for anything wrong."""
    base = base_url.rstrip("/")

    async def within() -> T:
        async with asyncio.timeout(guards.timeout_s):
            return await reads(base)

    try:
        return asyncio.run(within())
    except FetchError as exc:
        raise SyncError(str(exc)) from None
    except TimeoutError:
        raise SyncError(f"{base}: no complete answer within {guards.timeout_s:g} s") from None


def namespace_path(text: str) -> str:
    """A namespace as a director or Topology spells it (`/foo/`, `/`), as the files hold it (`/foo`, `/`)."""
    return check_path(text.rstrip("/") or ROOT)


def internal(path: str) -> bool:
    return path.startswith(INTERNAL_PREFIX) or path.rstrip("/") == INTERNAL_PREFIX.rstrip("/")


def director_namespaces(document: list[NamespaceAd]) -> dict[str, bool]:
    """listNamespaces -> {path: require_token}."""
    namespaces: dict[str, bool] = {}
    for item in document:
        if item.path is None:
            raise SyncError("listNamespaces: a namespace without a path")
        if internal(item.path):
            continue
        caps = item.capabilities or item.Caps
        public = _flag(caps.PublicRead) if caps is not None else _flag(item.PublicRead)
        try:
            path = namespace_path(item.path)
        except ValueError as exc:
            raise SyncError(f"listNamespaces: {exc}") from None
        if path in namespaces:
            raise SyncError(f"listNamespaces: {path} is listed twice (as {item.path!r} and before)")
        namespaces[path] = not public
    if not namespaces:
        raise SyncError("listNamespaces: the director lists no namespace")
    return namespaces


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def director_servers(document: list[ServerAd], namespaces: Mapping[str, bool], guards: Guards) -> list[dict[str, str]]:
    """director_ui/servers -> caches file rows, caches and origins (before merging what the operator keeps). An
    origin exporting nothing but the director's own namespace is left out."""
    public_paths = {path for path, token in namespaces.items() if not token}
    rows = []
    for item in document:
        if item.type not in ("Cache", "Origin"):
            continue
        kind = item.type.lower()
        name, url = item.name, item.url or item.authUrl
        if name is None or not name.strip() or url is None:
            raise SyncError(f"director_ui/servers: a {kind} without a name or URL: {name!r}, {url!r}"[:200])
        try:
            name = check_name(name)
            endpoint = parse_endpoint(url, guards.allow_private)
            prefixes = {namespace_path(p) for p in item.namespacePrefixes or [] if not internal(p)}
        except ValueError as exc:
            raise SyncError(f"director_ui/servers: {kind} {name[:60]!r}: {exc}") from None
        if kind == ORIGIN:
            served = sorted(prefixes)
            if not served:
                continue
        else:
            served = sorted(prefixes & set(namespaces))
            if public_paths <= prefixes:
                served.append(PUBLIC)
        lat, lon = _number(item.latitude), _number(item.longitude)
        located = lat is not None and lon is not None and (lat, lon) != (0.0, 0.0)
        rows.append(
            {
                "name": name,
                "endpoint": endpoint,
                "latitude": f"{lat}" if located else "",
                "longitude": f"{lon}" if located else "",
                "status": "up",
                "downtime": "true" if _flag(item.filtered) else "false",
                "weight": "1",
                "namespaces": ";".join(served) or "none",
                "role": kind,
            }
        )
    if not any(row["role"] != ORIGIN for row in rows):
        raise SyncError("director_ui/servers: the director lists no cache")
    return rows


def merged(rows: Iterable[dict[str, str]], current: Mapping[str, dict[str, str]]) -> list[dict[str, str]]:
    """Keep what the operator set on caches already in the file: status, weight, site, city, country, ip, note."""
    out = []
    for row in rows:
        known = current.get(row["name"], {})
        out.append({**row, **{column: known[column] for column in KEPT_COLUMNS if known.get(column)}})
    return out


def topology_namespaces(document: TopologyDocument) -> tuple[dict[str, bool], dict[str, set[str]]]:
    """/osdf/namespaces -> ({path: require_token}, {cache resource name: paths it may serve})."""
    namespaces: dict[str, bool] = {}
    served: dict[str, set[str]] = {}
    for item in document.namespaces:
        try:
            path = namespace_path(item.path)
        except ValueError as exc:
            raise SyncError(f"/osdf/namespaces: {exc}") from None
        if path in namespaces:
            raise SyncError(f"/osdf/namespaces: {path} is listed twice (as {item.path!r} and before)")
        namespaces[path] = _flag(item.usetokenonread)
        for cache in item.caches or []:
            if cache.resource:
                served.setdefault(cache.resource, set()).add(path)
    if not namespaces:
        raise SyncError("/osdf/namespaces: Topology lists no namespace")
    if not served:
        raise SyncError(
            "/osdf/namespaces: Topology lists no cache for any namespace (its caches are Pelican caches, which this "
            "document omits); sync from the Pelican director instead"
        )
    return namespaces, served


def topology_origins(
    document: TopologyDocument, current: Mapping[str, dict[str, str]], guards: Guards
) -> list[dict[str, str]]:
    """/osdf/namespaces -> origin rows: each origin once, with every path it exports; plain HTTP at `endpoint`
    for a namespace read without a token, HTTPS at `auth_endpoint` otherwise. Topology gives no position: one
    the file already gives an origin of that name is kept."""
    rows: dict[str, dict[str, str]] = {}
    for item in document.namespaces:
        path = namespace_path(item.path)  # checked by topology_namespaces
        secure = _flag(item.usetokenonread)
        for origin in item.origins or []:
            address = (origin.auth_endpoint if secure else origin.endpoint) or origin.endpoint or origin.auth_endpoint
            if not origin.resource or not address:
                continue
            try:
                name = check_name(origin.resource)
                endpoint = parse_endpoint(f"{'https' if secure else 'http'}://{address}", guards.allow_private)
            except ValueError as exc:
                raise SyncError(f"/osdf/namespaces: origin {origin.resource[:60]!r}: {exc}") from None
            known = current.get(name, {})
            row = rows.setdefault(
                name,
                {
                    "name": name,
                    "endpoint": endpoint,
                    "latitude": known.get("latitude", ""),
                    "longitude": known.get("longitude", ""),
                    "status": "up",
                    "downtime": "false",
                    "weight": "1",
                    "namespaces": "",
                    "role": ORIGIN,
                },
            )
            row["namespaces"] = ";".join(sorted({*filter(None, row["namespaces"].split(";")), path}))
    return list(rows.values())


def _csv(columns: Iterable[str], rows: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _cells_fit(rows: Iterable[Mapping[str, str]]) -> None:
    for row in rows:
        for column, cell in row.items():
            if len(cell) > MAX_CELL_CHARS:
                raise SyncError(
                    f"cache {row.get('name', '?')[:60]!r}: its {column} would be longer than the file holds"
                )


def guarded(caches_out: Path, written: Federation, guards: Guards) -> None:
    """Refuse a result that loads but would hurt the service (see the module docstring)."""
    try:
        current = load_caches(caches_out, allow_private=True)
    except CacheFileError:
        return  # nothing usable there now: anything that loads is better
    lost = len(current) - len(written.caches)
    if not guards.allow_shrink and lost > guards.max_shrink * len(current):
        raise SyncError(
            f"the result lists {len(written.caches)} caches where {caches_out} lists {len(current)}: a cut of more "
            f"than LOCATOR_RELOAD_MAX_SHRINK={guards.max_shrink:g} of them is refused (--allow-shrink if it is meant)"
        )
    public_now = any(cache.public and cache.in_service for cache in current.caches)
    public_then = any(cache.public and cache.in_service for cache in written.caches.caches)
    if public_now and not public_then and not guards.allow_no_public:
        raise SyncError(
            "the result leaves no cache in service open to public data (every request outside a listed namespace "
            "would get a 503); --allow-no-public if it is meant"
        )


def write_checked(
    caches_rows: list[dict[str, str]],
    namespaces: Mapping[str, bool],
    caches_out: Path,
    namespaces_out: Path,
    guards: Guards,
) -> Synced:
    """Check both files as the service would load them, then write them atomically, namespaces first."""
    namespace_rows = [{"path": path, "require_token": str(token).lower()} for path, token in sorted(namespaces.items())]
    _cells_fit(caches_rows)
    try:
        table = parse_namespaces(_csv(NAMESPACE_COLUMNS, namespace_rows).splitlines(keepends=True), "namespaces")
        text = _csv(COLUMNS, caches_rows)
        caches = parse_caches(text.splitlines(keepends=True), "caches", guards.allow_private)
        federation = Federation(caches, table)
    except (NamespaceFileError, CacheFileError, FederationError, csv.Error) as exc:
        raise SyncError(f"the synced files would not load: {exc}") from None
    guarded(caches_out, federation, guards)
    write_csv(namespaces_out, NAMESPACE_COLUMNS, namespace_rows)
    write_csv(caches_out, COLUMNS, ({column: row.get(column, "") for column in COLUMNS} for row in caches_rows))
    return Synced(len(caches.caches), len(table), origins=len(caches.origins))


def current_rows(path: Path) -> dict[str, dict[str, str]]:
    """The caches file's rows by cache name, when it loads; {} when there is none or it does not load."""
    try:
        load_caches(path, allow_private=True)
        with path.open(newline="", encoding="utf-8") as handle:
            return {row["name"].strip(): row for row in table_reader(handle, ("name",))}
    except (CacheFileError, OSError, UnicodeDecodeError, csv.Error, ValueError):
        return {}


def sync_director(url: str, caches_out: Path, namespaces_out: Path, guards: Guards = Guards()) -> Synced:
    async def reads(base: str) -> tuple[list[NamespaceAd], list[ServerAd]]:
        return await asyncio.gather(
            fetch_json(base + NAMESPACES, list[NamespaceAd], guards.max_bytes, guards.timeout_s),
            fetch_json(base + SERVERS, list[ServerAd], guards.max_bytes, guards.timeout_s),
        )

    listed, servers = bounded(url, reads, guards)
    namespaces = director_namespaces(listed)
    rows = director_servers(servers, namespaces, guards)
    return write_checked(merged(rows, current_rows(caches_out)), namespaces, caches_out, namespaces_out, guards)


def sync_topology(url: str, caches_out: Path, namespaces_out: Path, guards: Guards = Guards()) -> Synced:
    async def reads(base: str) -> TopologyDocument:
        return await fetch_json(base + TOPOLOGY, TopologyDocument, guards.max_bytes, guards.timeout_s)

    document = bounded(url, reads, guards)
    namespaces, served = topology_namespaces(document)
    current = current_rows(caches_out)
    if not current:
        raise SyncError(f"{caches_out}: Topology's document has no cache positions: the caches file must load first")
    rows = []
    for name, row in current.items():
        if (row.get("role") or "").strip().lower() == ORIGIN:
            continue  # the document names the origins
        public = PUBLIC in (row.get("namespaces") or PUBLIC).split(";")
        paths = sorted(served.get(name, set()))
        rows.append({**row, "namespaces": ";".join(paths + ([PUBLIC] if public else [])) or "none"})
    rows.extend(topology_origins(document, current, guards))
    unknown = sorted(set(served) - set(current))
    notes = (f"not in the caches file (this document gives no position): {', '.join(unknown)}",) if unknown else ()
    synced = write_checked(rows, namespaces, caches_out, namespaces_out, guards)
    return Synced(synced.caches, synced.namespaces, notes, synced.origins)
