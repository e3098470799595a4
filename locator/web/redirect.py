"""Redirect mode: any path without a route of its own gets a 307 to the nearest cache that may serve it.

The target is a configured cache endpoint + the request's own path and query, nothing else.
The path and query are checked so that the answer cannot leave the cache host (`//evil.example`), cannot
carry header injection (CR/LF) and is valid ASCII in a Location header. The headers are Pelican's director's,
so that Pelican clients and CVMFS (`CVMFS_EXTERNAL_METALINK`) can reuse the answer: `Link` (RFC 6249) with
`pri` and `depth`, and `X-Pelican-Namespace`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from locator import __version__
from locator.core.namespaces import Namespace, clean_request_path, has_control, link_depth
from locator.web import metalink
from locator.web.bodies import endpoints
from locator.web.errors import BadRequest, UriTooLong
from locator.web.openapi import ERRORS, NO_STORE, json_answer
from locator.web.query import NO_QUERY, NearestQuery, read_ask
from locator.web.state import Shared

MAX_LINKS = 6  # caches named in all (Location + Link); clients try about 3 (Pelican #1247)
LINKS_QUERY = NearestQuery(n=MAX_LINKS)
# Path and query echoed into Location and six Link URLs: bounded, so no answer outgrows a proxy's header limit.
MAX_TARGET_CHARS = 4096
# Characters left as they are: RFC 3986 unreserved, sub-delims, ":@/" and "%" (already-encoded octets).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


def checked_path(raw_path: str) -> tuple[str, str]:
    """(the path as sent, percent-encoded where needed; the path decoded and cleaned, for namespace matching).

    `raw_path` is the request target's bytes decoded as Latin-1, so every byte survives the round trip.
    BadRequest if it could escape the cache host or inject headers; UriTooLong beyond MAX_TARGET_CHARS.
    """
    if len(raw_path) > MAX_TARGET_CHARS:
        raise UriTooLong(f"the path is longer than {MAX_TARGET_CHARS} characters")
    decoded = unquote(raw_path, errors="replace")
    if not raw_path.startswith("/"):
        raise BadRequest("the path must start with '/'", "invalid_path")
    if has_control(raw_path) or has_control(decoded):
        raise BadRequest("the path contains control characters such as CR or LF", "invalid_path")
    if any(path[:2] in ("//", "/\\") for path in (raw_path, decoded)):
        raise BadRequest("the path must not start with '//' or '/\\' (it would name another host)", "invalid_path")
    return quote(raw_path, safe=_PATH_SAFE, encoding="latin-1"), clean_request_path(decoded)


def encoded_path(path: str) -> str:
    """A decoded path (a `path=` value) percent-encoded as a redirect's path is."""
    return quote(path, safe=_PATH_SAFE)


def checked_query(raw_query: str) -> str:
    if has_control(raw_query) or has_control(unquote(raw_query, errors="replace")):
        raise BadRequest("the query string contains control characters such as CR or LF", "invalid_query")
    return quote(raw_query, safe=_QUERY_SAFE, encoding="latin-1")


def target(endpoint: str, path: str, query: str) -> str:
    """Endpoint + checked path (+ `?` query); the endpoint was validated when the cache file was loaded."""
    return f"{endpoint}{path}?{query}" if query else f"{endpoint}{path}"


def namespace_header(namespace: Namespace | None) -> str | None:
    """`X-Pelican-Namespace`; None for public data above listed namespaces (no prefix can stand for it)."""
    if namespace is None or namespace.path is None:
        return None
    prefix = quote(namespace.path, safe=_PATH_SAFE)  # a decoded path may hold any character; headers are ASCII
    return f"namespace={prefix}, require-token={'true' if namespace.require_token else 'false'}"


def object_urls(endpoints: Sequence[str], path: str, raw_query: str) -> list[str]:
    """The object's URL at each cache: endpoint + checked path (+ `?` checked query)."""
    query = checked_query(raw_query)
    return [target(endpoint, path, query) for endpoint in endpoints]


def redirect_headers(
    endpoints: Sequence[str], path: str, cleaned: str, raw_query: str, namespace: Namespace | None
) -> dict[str, str]:
    """Location for the first endpoint, Link for it and the next ones (at most MAX_LINKS in all), then the
    object's Metalink; `Vary: Accept` since a client preferring the Metalink gets it instead."""
    if len(path) + len(raw_query) > MAX_TARGET_CHARS:
        raise UriTooLong(f"path and query are longer than {MAX_TARGET_CHARS} characters")
    depth = link_depth(cleaned, None if namespace is None else namespace.path)
    urls = object_urls(endpoints[:MAX_LINKS], path, raw_query)
    headers = {
        "location": urls[0],
        "link": ", ".join(
            [
                *(f'<{url}>; rel="duplicate"; pri={rank}; depth={depth}' for rank, url in enumerate(urls, 1)),
                metalink.described_by(path),
            ]
        ),
        "cache-control": "no-store",
        "vary": "Accept",
    }
    pelican = namespace_header(namespace)
    if pelican is not None:
        headers["x-pelican-namespace"] = pelican
    return headers


async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
    """Every path without a route of its own: 307 to the nearest eligible cache, keeping path and query; the
    object's Metalink to a client that prefers one (davix and gfal2 failing over).

    Installed as the router's default rather than a `/{path:path}` route, whose pattern would not
    match a path with an (encoded) newline and so could not reject it with a 400.
    """
    if scope["method"] not in ("GET", "HEAD"):
        raise HTTPException(405, headers={"Allow": "GET, HEAD"})
    shared: Shared = scope["app"].state.shared
    raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    path, cleaned = checked_path(raw_path)
    federation = shared.store.current
    raw_query = scope["query_string"].decode("latin-1")
    if metalink.wanted(scope["headers"]):
        ask = read_ask(scope, NO_QUERY, cleaned, federation, shared.settings)
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(scope, links, ask.namespace)
        urls = object_urls(links.rendered, path, raw_query)
        body = metalink.document(urls, scope["path"], f"osdf-cache-locator/{__version__}")
        response = Response(
            body, media_type=metalink.MEDIA_TYPE, headers={"cache-control": "no-store", "vary": "Accept"}
        )
    else:
        ask = read_ask(scope, LINKS_QUERY, cleaned, federation, shared.settings)
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(scope, links, ask.namespace)
        response = Response(
            status_code=307, headers=redirect_headers(links.rendered, path, cleaned, raw_query, ask.namespace)
        )
        shared.metrics.count(shared.metrics.redirects)
    await response(scope, receive, send)


SUMMARY = "307 redirect to <nearest cache serving the path's namespace>/<path>"
# The catch-all's operation in /openapi.json (its path pattern, which excludes the routes' own, is added there).
OPERATION: dict[str, Any] = {
    "operationId": "redirect",
    "summary": SUMMARY,
    "parameters": [{"name": "path", "in": "path", "required": True}],
    "responses": {
        "307": {
            "description": "Temporary redirect to the nearest cache that serves the path's namespace.",
            "headers": {
                "Location": {"schema": {"type": "string"}},
                "Link": {
                    "description": 'Up to 6 caches: `<url>; rel="duplicate"; pri=N; depth=D` (RFC 6249; D: '
                    "path segments below the namespace prefix, as Pelican's director), then the Metalink: "
                    '`</nearest?path=...&format=metalink>; rel=describedby; type="application/metalink4+xml"`',
                    "schema": {"type": "string"},
                },
                "X-Pelican-Namespace": {
                    "description": "`namespace=<prefix>, require-token=<true|false>`; absent for a public "
                    "path above listed namespaces",
                    "schema": {"type": "string"},
                },
                **NO_STORE,
            },
        },
        "200": {
            "description": "With `Accept: application/metalink4+xml` (davix and gfal2 failing over): the "
            "Metalink 4 document of the object's URLs at every cache that may serve it, nearest first.",
            "headers": NO_STORE,
            "content": {metalink.MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        "400": json_answer("Error", "A path or query that could leave the cache host or inject headers."),
        "404": json_answer("Error", "no_namespace: the path is in no listed namespace (LOCATOR_UNLISTED_PATHS)."),
        "405": ERRORS["405"],
        "414": json_answer("Error", "uri_too_long: path and query longer than 4,096 characters."),
        "503": json_answer("Error", "No cache in service may serve the path's namespace."),
    },
}
