"""The one settings object, read once from ``LOCATOR_*`` environment variables and passed down.

Every setting is declared once in ``SETTINGS`` (name, default, help); the README table is checked against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
from starlette.datastructures import Secret

from locator.core.addresses import IPNetwork
from locator.embedded import DEFAULT_EMBEDDED, EMBEDDED, embedded_path

PREFIX = "LOCATOR_"
# The embedded data: a package of its own (the repository's data/, inside the wheel), on disk as pip installs it.
DATA_DIR = Path(str(resources.files("locator_data")))


class SettingsError(ValueError):
    """A LOCATOR_* variable has a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Setting:
    field: str
    default: str
    help: str
    secret: bool = False  # its value is never shown, not even in an error about it

    @property
    def env(self) -> str:
        return PREFIX + self.field.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "caches_file",
        str(DATA_DIR / "caches.csv"),
        "CSV of caches to rank (name, endpoint, latitude, longitude, status).",
    ),
    Setting(
        "namespaces_file",
        str(DATA_DIR / "namespaces.csv"),
        "CSV of listed namespaces (path, require_token); a missing file means none: every path is public data.",
    ),
    Setting(
        "unlisted_paths",
        "public",
        "A path in no listed namespace: `public` (public data, served by the caches open to it) or `refuse` (404).",
    ),
    Setting(
        "overrides_file",
        str(DATA_DIR / "overrides.csv"),
        "Optional CSV of operator overrides (network, latitude, longitude, note); a missing file means none.",
    ),
    Setting(
        "airports_csv",
        str(DATA_DIR / "airports.csv"),
        "Airport table (iata, name, city, country, latitude, longitude).",
    ),
    Setting(
        "airports_store",
        "",
        "Key-value store (sqlitedict) built from the airports CSV when missing or older than it; empty = a file "
        "in the user's cache directory named for the CSV (an installed package's directory may be read-only).",
    ),
    Setting(
        "geoip_db",
        "embedded",
        "MaxMind-format City database: a path, `embedded` (= `dbip-2023`, DB-IP City Lite 2023-04 from PyPI), "
        "`geolite2-2018` (GeoLite2-City 2018-07 from PyPI), or empty for no local GeoIP.",
    ),
    Setting(
        "trusted_proxies",
        "127.0.0.0/8,::1/128",
        "Comma-separated CIDRs of peers allowed to set edge headers and forwarded client addresses.",
    ),
    Setting(
        "max_accuracy_km",
        "900",
        "A GeoIP answer whose accuracy radius is at least this is unusable "
        "(MaxMind says 1000 km when it only knows the country).",
    ),
    Setting(
        "far_from_colo_km",
        "1500",
        "A GeoIP position farther than this from the receiving colo, when the colo is in North America or "
        "Europe, is suspect and skipped (0 disables the cross-check).",
    ),
    Setting(
        "far_from_colo_elsewhere_km",
        "5000",
        "The same for colos on other continents (and colos whose continent is unknown), where anycast carries "
        "clients farther; 0 disables it there.",
    ),
    Setting("default_colo", "", "IATA code of the place this locator runs, used when no edge names a colo."),
    Setting(
        "memo_mb",
        "32",
        "Megabytes of recently rendered answers kept (clients share the edge's city positions); 0 = none.",
    ),
    Setting(
        "spread_km",
        "50",
        "Caches within this many km of the nearest one share its clients by a weighted rendezvous hash.",
    ),
    Setting("health_interval_s", "30", "Seconds between health probes of every cache; 0 = no probing."),
    Setting("health_timeout_s", "5", "Seconds a health probe may take before it counts as failed."),
    Setting("health_path", "/", "Path requested from each cache endpoint by the probe; any answer below 500 is alive."),
    Setting("health_concurrency", "16", "Health probes in flight at once."),
    Setting(
        "geo_dns_timeout_s",
        "2",
        "Seconds the CVMFS geo API waits for a server name to resolve; one that does not goes last.",
    ),
    Setting(
        "geo_dns_servers",
        "",
        "Comma-separated DNS servers (`address` or `address:port`) the CVMFS geo API asks; empty = the system's "
        "(/etc/resolv.conf).",
    ),
    Setting(
        "allow_private_endpoints",
        "false",
        "Accept cache endpoints at loopback, private, link-local (cloud metadata) or other non-public addresses, "
        "and `localhost`: for tests and single-host setups; `false` refuses such a caches file.",
    ),
    Setting(
        "sync_max_mb",
        "16",
        "Largest answer `locator sync` reads from a director or Topology, in megabytes (decimal); a larger one is "
        "refused before it is parsed.",
    ),
    Setting(
        "fallback_sticky_s",
        "1200",
        "How long a client network keeps the same random order when it cannot be located.",
    ),
    Setting("host", "127.0.0.1", "Address `locator serve` listens on."),
    Setting("port", "8000", "Port `locator serve` listens on."),
    Setting("workers", "1", "Number of uvicorn worker processes for `locator serve`."),
    Setting("http", "auto", "HTTP parser for `locator serve`: `httptools` (C, the default through `auto`) or `h11`."),
    Setting("max_head_bytes", "16384", "Largest request head (request line and headers) in bytes; a larger one: 431."),
    Setting("head_timeout_s", "10", "Seconds a request head may take to arrive, from its first byte; then 408."),
    Setting("allow_ip_override", "true", "Allow `?ip=` (locate another address, for testing); `false` answers 403."),
    Setting(
        "metrics_token", "", "When set, /metrics needs `Authorization: Bearer <token>`; empty = open.", secret=True
    ),
    Setting(
        "geoip_update_url",
        "",
        "Where `locator geoip update` downloads a City database (`.mmdb`, `.mmdb.gz` or MaxMind's `.tar.gz`; "
        "`{month}` = the current YYYY-MM); empty = MaxMind's GeoLite2-City download, with the account below.",
    ),
    Setting("maxmind_account_id", "", "MaxMind account id for `locator geoip update` (sent with the licence key)."),
    Setting("maxmind_license_key", "", "MaxMind licence key for `locator geoip update`.", secret=True),
    Setting("log_level", "info", "Log level: debug, info, warning, error."),
    Setting("log_format", "json", "`json` (one object per line, for log pipelines) or `text` (for people)."),
    Setting(
        "access_log", "true", "Log one line per request (request id, decision, chosen cache); `false` turns it off."
    ),
    Setting(
        "reload_interval_s",
        "5",
        "How often the data files and the GeoIP database are checked for changes and reloaded "
        "without a restart; 0 = only on SIGHUP.",
    ),
    Setting(
        "reload_max_shrink",
        "0.5",
        "Largest fraction of the listed caches a reload may take away; a bigger cut (a file cut short?) is "
        "refused until a restart. 1 = no limit.",
    ),
)


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _optional_path(text: str) -> Path | None:
    return _path(text) if text.strip() else None


def _geoip_path(text: str) -> Path | None:
    name = text.strip()
    name = DEFAULT_EMBEDDED if name == "embedded" else name
    if name in EMBEDDED:
        path = embedded_path(name)
        if path is None:
            raise ValueError(f"the embedded database {name} is not installed (package {EMBEDDED[name].package})")
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


def _nonnegative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a finite number >= 0")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("must be a number from 0 to 1")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be an integer >= 1")
    return value


def _head_bytes(text: str) -> int:
    value = int(text)
    if not 1024 <= value <= 1_048_576:
        raise ValueError("must be a whole number of bytes from 1024 to 1048576")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be a port number 1-65535")
    return value


def _positive_float(text: str) -> float:
    value = _nonnegative_float(text)
    if value == 0:
        raise ValueError("must be a finite number > 0")
    return value


def _unlisted(text: str) -> str:
    value = text.strip().lower()
    if value not in ("public", "refuse"):
        raise ValueError("must be public or refuse")
    return value


def _probe_path(text: str) -> str:
    value = text.strip()
    if not value.startswith("/") or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
        raise ValueError("must be an absolute URL path without spaces or control characters")
    return value


def _colo(text: str) -> str | None:
    text = text.strip().upper()
    if not text:
        return None
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        raise ValueError("must be a three-letter IATA code")
    return text


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _token(text: str) -> Secret:
    token = text.strip()
    if token and (len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token):
        raise ValueError("must be at least 16 printable ASCII characters without spaces")
    return Secret(token)


def _log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("json", "text"):
        raise ValueError("must be json or text")
    return value


def _http(text: str) -> str:
    value = text.strip().lower()
    if value not in ("auto", "h11", "httptools"):
        raise ValueError("must be auto, h11 or httptools")
    return value


def _log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be one of debug, info, warning, error")
    return level


_PARSERS: dict[str, Callable[[str], Any]] = {
    "caches_file": _path,
    "namespaces_file": _optional_path,
    "unlisted_paths": _unlisted,
    "overrides_file": _optional_path,
    "airports_csv": _path,
    "airports_store": _optional_path,
    "geoip_db": _geoip_path,
    "trusted_proxies": _networks,
    "max_accuracy_km": _nonnegative_float,
    "far_from_colo_km": _nonnegative_float,
    "far_from_colo_elsewhere_km": _nonnegative_float,
    "default_colo": _colo,
    "memo_mb": _nonnegative_float,
    "spread_km": _nonnegative_float,
    "health_interval_s": _nonnegative_float,
    "health_timeout_s": _positive_float,
    "health_path": _probe_path,
    "health_concurrency": _positive_int,
    "geo_dns_timeout_s": _positive_float,
    "geo_dns_servers": _dns_servers,
    "allow_private_endpoints": _bool,
    "sync_max_mb": _positive_float,
    "fallback_sticky_s": _positive_int,
    "host": str.strip,
    "port": _port,
    "workers": _positive_int,
    "http": _http,
    "max_head_bytes": _head_bytes,
    "head_timeout_s": _positive_float,
    "allow_ip_override": _bool,
    "metrics_token": _token,
    "geoip_update_url": str.strip,
    "maxmind_account_id": str.strip,
    "maxmind_license_key": _token,
    "log_level": _log_level,
    "log_format": _log_format,
    "access_log": _bool,
    "reload_interval_s": _nonnegative_float,
    "reload_max_shrink": _fraction,
}


@dataclass(frozen=True)
class Settings:
    """Everything the service, the CLI and the evaluation may be configured with."""

    caches_file: Path
    namespaces_file: Path | None
    unlisted_paths: str
    overrides_file: Path | None
    airports_csv: Path
    airports_store: Path
    geoip_db: Path | None
    trusted_proxies: tuple[IPNetwork, ...]
    max_accuracy_km: float
    far_from_colo_km: float
    far_from_colo_elsewhere_km: float
    default_colo: str | None
    memo_mb: float
    spread_km: float
    health_interval_s: float
    health_timeout_s: float
    health_path: str
    health_concurrency: int
    geo_dns_timeout_s: float
    geo_dns_servers: tuple[str, ...]
    allow_private_endpoints: bool
    sync_max_mb: float
    fallback_sticky_s: int
    host: str
    port: int
    workers: int
    http: str
    max_head_bytes: int
    head_timeout_s: float
    allow_ip_override: bool
    metrics_token: Secret
    geoip_update_url: str
    maxmind_account_id: str
    maxmind_license_key: Secret
    log_level: str
    log_format: str
    access_log: bool
    reload_interval_s: float
    reload_max_shrink: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: str) -> Settings:
        """Read LOCATOR_* from `environ` (default: the process environment); keyword overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = overrides.get(setting.field, environ.get(setting.env, setting.default))
            try:
                values[setting.field] = _PARSERS[setting.field](raw)
            except ValueError as exc:
                shown = "a value that is not shown" if setting.secret else f"value {raw!r}"
                raise SettingsError(f"{setting.env} has {shown}: {exc}") from None
        if values["airports_store"] is None:
            values["airports_store"] = default_store(values["airports_csv"])
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The settings as LOCATOR_* values that `from_env` reads back to the same settings; a secret is left
        out (it is never shown)."""
        return {setting.env: env_text(getattr(self, setting.field)) for setting in SETTINGS if not setting.secret}


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


def default_store(airports_csv: Path) -> Path:
    """The airports store when LOCATOR_AIRPORTS_STORE is empty: in the user's cache directory (else the temporary
    directory), named for the CSV it is built from, so that two installs never share one."""
    digest = hashlib.sha1(str(airports_csv.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    candidates = (Path(platformdirs.user_cache_dir("osdf-cache-locator")), Path(tempfile.gettempdir()))
    for directory in candidates:
        with contextlib.suppress(OSError):
            directory.mkdir(parents=True, exist_ok=True)
            if os.access(directory, os.W_OK):
                return directory / f"osdf-locator-airports-{digest}.sqlite"
    return candidates[-1] / f"osdf-locator-airports-{digest}.sqlite"  # not writable: building it says so


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """LOCATOR_* names that are not settings: usually typos, worth a warning at start-up."""
    known = {setting.env for setting in SETTINGS}
    return sorted(key for key in environ if key.startswith(PREFIX) and key not in known)
