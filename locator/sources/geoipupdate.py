"""`locator geoip update`: download a City database, verify it, and rename it over LOCATOR_GEOIP_DB.

The source is LOCATOR_GEOIP_UPDATE_URL (a `.mmdb`, `.mmdb.gz`, or a `.tar.gz` holding one, as MaxMind serves
them; `{month}` in it becomes the current year and month, for DB-IP's monthly files), or MaxMind's
GeoLite2-City download when only an account id and licence key are set (the request `geoipupdate` makes,
with HTTP basic authentication). Before the swap the file must be a MaxMind database of a City type, pass
the check a server runs before use (a child process reads 20,000 addresses, so a corrupt file cannot crash
anything), and be built no earlier than the database it replaces. The running service sees the renamed
file and reloads it (`reload.py`), without a restart.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import io
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx2 as httpx

from locator.core.lookups import GeoIPInfo
from locator.embedded import EMBEDDED, embedded_path
from locator.settings import Settings
from locator.sources.geoip import GeoIPDatabase, GeoIPError

MAXMIND_URL = "https://download.maxmind.com/geoip/databases/GeoLite2-City/download?suffix=tar.gz"
MAX_DOWNLOAD_BYTES = 1 << 30  # City databases are 50-150 MB; a larger answer is not one
MAX_UNPACKED_BYTES = 1 << 30  # nor is a larger database, however it came packed
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20


class UpdateError(ValueError):
    """The update was refused; the message says why in one line, and the database in service stays."""


@dataclass(frozen=True)
class Updated:
    path: Path
    new: GeoIPInfo
    old: GeoIPInfo | None
    replaced: bool  # False when the download was the database already in service


def source(settings: Settings) -> tuple[str, tuple[str, str] | None]:
    """The URL to download and the basic-auth credentials to send with it, if any."""
    key = str(settings.maxmind_license_key)
    credentials = (settings.maxmind_account_id, key) if settings.maxmind_account_id and key else None
    if settings.geoip_update_url:
        month = datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
        return settings.geoip_update_url.replace("{month}", month), credentials
    if credentials is None:
        raise UpdateError(
            "no source: set LOCATOR_GEOIP_UPDATE_URL, or LOCATOR_MAXMIND_ACCOUNT_ID and LOCATOR_MAXMIND_LICENSE_KEY"
        )
    return MAXMIND_URL, credentials


def destination(settings: Settings) -> Path:
    path = settings.geoip_db
    embedded = {embedded_path(name) for name in EMBEDDED}
    if path is None or path in embedded:
        raise UpdateError("LOCATOR_GEOIP_DB names no file of its own: set it to the path the update should write")
    return path


def download(url: str, credentials: tuple[str, str] | None, into: Path, timeout_s: float) -> None:
    try:
        with httpx.stream("GET", url, auth=credentials, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise UpdateError(f"{url}: HTTP {response.status_code}")
            size = 0
            with into.open("wb") as handle:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise UpdateError(f"{url}: larger than {MAX_DOWNLOAD_BYTES >> 20} MB: not a City database")
                    handle.write(chunk)
    except httpx.HTTPError as exc:
        raise UpdateError(f"{url}: {type(exc).__name__}: {exc}") from None


def copy_bounded(source: IO[bytes] | io.BufferedIOBase, into: Path, limit: int) -> None:
    """Copy at most `limit` bytes, counting as it writes: a file that would be larger is refused (the caller's
    temporary directory then takes what was written with it)."""
    written = 0
    with into.open("wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise UpdateError(f"refused: the database unpacks to more than {limit >> 20} MB")
            out.write(chunk)


def unpack(downloaded: Path, into: Path, limit: int) -> None:
    """`into` gets the database itself, whether it came bare, gzipped, or in a gzipped tar; at most `limit`
    bytes of it are ever written (a small archive can claim, or unpack to, any size)."""
    with downloaded.open("rb") as handle:
        gzipped = handle.read(2) == GZIP_MAGIC
    try:
        if not gzipped:
            with downloaded.open("rb") as bare:
                copy_bounded(bare, into, limit)
        elif tarfile.is_tarfile(downloaded):
            # Read as a stream, member after member, so that the archive's index is never built in memory.
            with tarfile.open(downloaded, "r|gz") as archive:
                found = 0
                for member in archive:
                    if not (member.isfile() and member.name.endswith(".mmdb")):
                        continue
                    found += 1
                    if found > 1:
                        raise UpdateError("the archive holds more than one .mmdb file")
                    if member.size > limit:
                        raise UpdateError(
                            f"refused: the archive's database is {member.size >> 20} MB; at most {limit >> 20} MB"
                        )
                    extracted = archive.extractfile(member)
                    assert extracted is not None  # a regular file member always has one
                    with extracted:
                        copy_bounded(extracted, into, limit)
                if not found:
                    raise UpdateError("the archive holds no .mmdb file")
        else:
            with gzip.open(downloaded, "rb") as compressed:
                copy_bounded(compressed, into, limit)
    except (OSError, EOFError, tarfile.TarError, io.UnsupportedOperation, zlib.error) as exc:
        raise UpdateError(f"the download does not unpack: {type(exc).__name__}: {exc}") from None


def current(path: Path) -> GeoIPInfo | None:
    """The database in service, if there is a usable one (a damaged one may be replaced by anything)."""
    if not path.exists():
        return None
    try:
        database = GeoIPDatabase(path)
    except GeoIPError:
        return None
    database.close()
    return database.info


def update(settings: Settings, timeout_s: float = 300.0) -> Updated:
    """Download, unpack and verify beside the destination (same file system), then rename over it."""
    url, credentials = source(settings)
    path = destination(settings)
    old = current(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as work:
        downloaded, candidate = Path(work) / "download", Path(work) / path.name
        download(url, credentials, downloaded, timeout_s)
        unpack(downloaded, candidate, MAX_UNPACKED_BYTES)
        try:
            database = GeoIPDatabase(candidate)
        except GeoIPError as exc:
            why = str(exc).replace(str(candidate), "the download").removeprefix("the download: ")
            raise UpdateError(f"refused: {why}") from None
        database.close()
        new = dataclasses.replace(database.info, path=str(path))
        if old is not None and new.built < old.built:
            raise UpdateError(f"refused: built {new.built}, older than the database in service (built {old.built})")
        if old is not None and (new.built, new.database_type) == (old.built, old.database_type):
            return Updated(path, new, old, replaced=False)
        os.chmod(candidate, 0o644)
        os.replace(candidate, path)
    return Updated(path, new, old, replaced=True)
