"""Redirect targets: a configured cache endpoint + the request's own path and query, and nothing else.

The path and query are checked so that the answer cannot leave the cache host (`//evil.example`),
cannot carry header injection (CR/LF) and is valid ASCII in a Location header.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from locator.decide import RankedCache
from locator.errors import BadRequest, UriTooLong

MAX_LINKS = 6  # caches named in all (Location + Link); clients try about 3 (Pelican #1247)
# Path and query echoed into Location and six Link URLs: bounded, so no answer outgrows a proxy's header limit.
MAX_TARGET_CHARS = 4096
# Characters left as they are: RFC 3986 unreserved, sub-delims, ":@/" and "%" (already-encoded octets).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


_CONTROL = re.compile("[\x00-\x1f\x7f]")  # C0 controls and DEL; a regex scans ~20x faster than ord() per char


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def checked_path(raw_path: str) -> str:
    """The request path as sent, percent-encoded where needed; BadRequest if it could escape the host.

    `raw_path` is the request target's bytes decoded as Latin-1, so every byte survives the round trip.
    """
    decoded = unquote(raw_path, errors="replace")
    if not raw_path.startswith("/"):
        raise BadRequest("the path must start with '/'", "invalid_path")
    if _has_control(raw_path) or _has_control(decoded):
        raise BadRequest("the path contains control characters such as CR or LF", "invalid_path")
    if any(path[:2] in ("//", "/\\") for path in (raw_path, decoded)):
        raise BadRequest("the path must not start with '//' or '/\\' (it would name another host)", "invalid_path")
    return quote(raw_path, safe=_PATH_SAFE, encoding="latin-1")


def checked_query(raw_query: str) -> str:
    if _has_control(raw_query) or _has_control(unquote(raw_query, errors="replace")):
        raise BadRequest("the query string contains control characters such as CR or LF", "invalid_query")
    return quote(raw_query, safe=_QUERY_SAFE, encoding="latin-1")


def target(endpoint: str, path: str, query: str) -> str:
    """Endpoint + checked path (+ `?` query); the endpoint was validated when the cache file was loaded."""
    return f"{endpoint}{path}?{query}" if query else f"{endpoint}{path}"


def redirect_headers(ranked: list[RankedCache], raw_path: str, raw_query: str) -> dict[str, str]:
    """Location for the nearest cache, Link (RFC 6249, rel=duplicate) for it and up to 5 next ones."""
    if len(raw_path) + len(raw_query) > MAX_TARGET_CHARS:
        raise UriTooLong(f"path and query are longer than {MAX_TARGET_CHARS} characters")
    path, query = checked_path(raw_path), checked_query(raw_query)
    urls = [target(item.cache.endpoint, path, query) for item in ranked[:MAX_LINKS]]
    return {
        "location": urls[0],
        "link": ", ".join(f'<{url}>; rel="duplicate"; pri={rank}' for rank, url in enumerate(urls, start=1)),
        "cache-control": "no-store",
    }
