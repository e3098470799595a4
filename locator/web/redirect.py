"""Redirect mode: any path without a route of its own gets a 307 to the nearest cache that may serve it.

The target is a configured cache endpoint + the request's own path and query, nothing else.
The path and query are checked so that the answer cannot leave the cache host (`//evil.example`), cannot
carry header injection (CR/LF) and is valid ASCII in a Location header. The headers are Pelican's director's,
so that Pelican clients and CVMFS (`CVMFS_EXTERNAL_METALINK`) can reuse the answer: `Link` (RFC 6249) with
`pri` and `depth`, and `X-Pelican-Namespace` (with `collections-url`, the nearest origin exporting the path,
where Pelican's clients list a namespace).

As Pelican's director, a `PROPFIND` (a listing) or a read with `?directread` goes to the nearest origin that
exports the path instead (`locator.web.director` adds `/api/v1.0/director/origin/<path>`); a 307 keeps the
method and the body, so the listing's Depth and body reach the origin untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from locator import __version__
from locator.core.namespaces import Namespace, clean_request_path, has_control, link_depth
from locator.web import metalink
from locator.web.bodies import NO_STORE as NO_STORE_HEADER
from locator.web.bodies import Raw, endpoints, origin_endpoints
from locator.web.errors import BadRequest, NotFound, UriTooLong
from locator.web.openapi import ERRORS, NO_STORE, json_answer
from locator.web.query import COORDINATE_SPEC, NO_QUERY, NearestQuery, read_ask
from locator.web.state import Shared

MAX_LINKS = 6  # caches named in all (Location + Link); clients try about 3 (Pelican #1247)
LINKS_QUERY = NearestQuery(n=MAX_LINKS)
# Path and query echoed into Location and six Link URLs: bounded, so no answer outgrows a proxy's header limit.
MAX_TARGET_CHARS = 4096
# Characters left as they are: RFC 3986 unreserved, sub-delims, ":@/" and "%" (already-encoded octets).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_ENCODED = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~%]*")  # what `quote` with _PATH_SAFE leaves as it is


def encoded(text: str, encoding: str = "utf-8") -> str:
    """`text` percent-encoded where a URL needs it; most paths need nothing, and are checked, not rebuilt."""
    return text if _ENCODED.fullmatch(text) else quote(text, safe=_PATH_SAFE, encoding=encoding)


def checked_path(raw_path: str) -> tuple[str, str]:
    """(the path as sent, percent-encoded where needed; the path decoded and cleaned, for namespace matching).

    `raw_path` is the request target's bytes decoded as Latin-1, so every byte survives the round trip.
    BadRequest if it could escape the cache host or inject headers; UriTooLong beyond MAX_TARGET_CHARS.
    """
    if len(raw_path) > MAX_TARGET_CHARS:
        raise UriTooLong(f"the path is longer than {MAX_TARGET_CHARS} characters")
    decoded = unquote(raw_path, errors="replace") if "%" in raw_path else raw_path
    if not raw_path.startswith("/"):
        raise BadRequest("the path must start with '/'", "invalid_path")
    if has_control(raw_path) or (decoded is not raw_path and has_control(decoded)):
        raise BadRequest("the path contains control characters such as CR or LF", "invalid_path")
    if any(path[:2] in ("//", "/\\") for path in (raw_path, decoded)):
        raise BadRequest("the path must not start with '//' or '/\\' (it would name another host)", "invalid_path")
    return encoded(raw_path, "latin-1"), clean_request_path(decoded)


def encoded_path(path: str) -> str:
    """A decoded path (a `path=` value) percent-encoded as a redirect's path is."""
    return encoded(path)


def checked_query(raw_query: str) -> str:
    if not raw_query:
        return raw_query
    if has_control(raw_query) or has_control(unquote(raw_query, errors="replace")):
        raise BadRequest("the query string contains control characters such as CR or LF", "invalid_query")
    return quote(raw_query, safe=_QUERY_SAFE, encoding="latin-1")


def target(endpoint: str, path: str, query: str) -> str:
    """Endpoint + checked path (+ `?` query); the endpoint was validated when the cache file was loaded."""
    return f"{endpoint}{path}?{query}" if query else f"{endpoint}{path}"


def namespace_header(namespace: Namespace | None, collections: str | None = None) -> str | None:
    """`X-Pelican-Namespace`, with `collections-url` where an origin exports the path; None for public data above
    listed namespaces (no prefix can stand for it)."""
    if namespace is None or namespace.path is None:
        return None
    prefix = encoded(namespace.path)  # a decoded path may hold any character; headers are ASCII
    header = f"namespace={prefix}, require-token={'true' if namespace.require_token else 'false'}"
    return header if collections is None else f"{header}, collections-url={collections}"


def object_urls(endpoints: Sequence[str], path: str, raw_query: str) -> list[str]:
    """The object's URL at each cache: endpoint + checked path (+ `?` checked query)."""
    query = checked_query(raw_query)
    return [target(endpoint, path, query) for endpoint in endpoints]


def redirect_headers(
    endpoints: Sequence[str],
    path: str,
    cleaned: str,
    raw_query: str,
    namespace: Namespace | None,
    described: str | None = None,
    collections: str | None = None,
    prefix: str | None = None,
) -> list[tuple[bytes, bytes]]:
    """Location for the first endpoint, a Link field of it and the next ones (at most MAX_LINKS in all) and
    nothing else, then for a client that named the Metalink type, a Link field line of its own naming the
    object's Metalink (`described`); `Vary: Accept` since a client preferring the Metalink gets it instead. As
    sent: every value is ASCII by construction (endpoints validated, path and query percent-encoded). `depth`
    counts from `prefix` (an origin's export), else from the namespace's."""
    if len(path) + len(raw_query) > MAX_TARGET_CHARS:
        raise UriTooLong(f"path and query are longer than {MAX_TARGET_CHARS} characters")
    depth = link_depth(cleaned, prefix if prefix is not None else None if namespace is None else namespace.path)
    urls = object_urls(endpoints[:MAX_LINKS], path, raw_query)
    links = ", ".join(f'<{url}>; rel="duplicate"; pri={rank}; depth={depth}' for rank, url in enumerate(urls, 1))
    headers = [(b"location", urls[0].encode()), (b"link", links.encode()), NO_STORE_HEADER, (b"vary", b"Accept")]
    if described is not None:
        headers.append((b"link", described.encode()))
    pelican = namespace_header(namespace, collections)
    if pelican is not None:
        headers.append((b"x-pelican-namespace", pelican.encode()))
    return headers


async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
    """Every path without a route of its own: 307 to the nearest eligible cache, keeping path and query; the
    object's Metalink to a client that prefers one (davix and gfal2 failing over).

    Installed as the router's default rather than a `/{path:path}` route, whose pattern would not
    match a path with an (encoded) newline and so could not reject it with a 400.
    """
    method = scope["method"]
    if method not in ("GET", "HEAD", "PROPFIND"):
        raise HTTPException(405, headers={"Allow": "GET, HEAD, PROPFIND"})
    raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    raw_query = scope["query_string"].decode("latin-1")
    if method == "PROPFIND" or (b"directread" in scope["query_string"] and direct_read(raw_query)):
        await to_origin(scope, raw_path)(scope, receive, send)
        return
    shared: Shared = scope["app"].state.shared
    path, cleaned = checked_path(raw_path)
    federation = shared.store.current
    document, described = metalink.negotiate(scope["headers"], path)
    if document:
        ask = read_ask(scope, federation, shared.settings, NO_QUERY, cleaned)
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(scope, links, ask.namespace)
        urls = object_urls(links.rendered, path, raw_query)
        body = metalink.document(urls, scope["path"], f"osdf-cache-locator/{__version__}")
        response = Raw(body, metalink.CONTENT_TYPE, NO_STORE_HEADER, (b"vary", b"Accept"))
    else:
        ask = read_ask(scope, federation, shared.settings, LINKS_QUERY, cleaned)
        links = shared.memo.answer(federation, ask, "links", endpoints)
        shared.decided(scope, links, ask.namespace)
        headers = redirect_headers(
            links.rendered, path, cleaned, raw_query, ask.namespace, described, links.collections
        )
        response = Raw(b"", None, *headers, status=307)
    await response(scope, receive, send)


def direct_read(raw_query: str) -> bool:
    """`?directread` (Pelican's clients send it bare; any value but false counts)."""
    return any(
        name == "directread" and value.lower() not in ("false", "0")
        for name, value in parse_qsl(raw_query, keep_blank_values=True)
    )


def to_origin(scope: Scope, raw_path: str) -> Raw:
    """307 to the nearest origin that exports the path (path and query kept), the origins in `Link` and the
    namespace header as for a cache; 404 when no origin exports it."""
    shared: Shared = scope["app"].state.shared
    path, cleaned = checked_path(raw_path)
    federation = shared.store.current
    ask = read_ask(scope, federation, shared.settings, LINKS_QUERY, cleaned)
    if ask.export is None:
        raise NotFound(f"no origin exports {cleaned}", "no_origin")
    links = shared.memo.answer(federation, ask, "origins", origin_endpoints)
    shared.decided(scope, links, ask.namespace, of_caches=False)
    raw_query = scope["query_string"].decode("latin-1")
    headers = redirect_headers(
        links.rendered, path, cleaned, raw_query, ask.namespace, None, links.collections, ask.export
    )
    return Raw(b"", None, *headers, status=307)


SUMMARY = "307 redirect to <nearest cache serving the path's namespace>/<path> (PROPFIND, ?directread: origin)"
# The catch-all's operation in /openapi.json (its path pattern, which excludes the routes' own, is added there).
OPERATION: dict[str, Any] = {
    "operationId": "redirect",
    "summary": SUMMARY,
    "description": "`PROPFIND` (a WebDAV listing, which OpenAPI cannot name as an operation) gets the same 307 as "
    "`?directread`, to the nearest origin exporting the path; the method, Depth and body go on untouched.",
    "parameters": [
        {"name": "path", "in": "path", "required": True},
        {
            "name": "directread",
            "in": "query",
            "description": "Read from the nearest origin that exports the path instead of a cache (Pelican's "
            "clients send it bare); the query string is kept in the redirect.",
            "schema": {"type": "string"},
            "allowEmptyValue": True,
        },
        COORDINATE_SPEC,
    ],
    "responses": {
        "307": {
            "description": "Temporary redirect to the nearest cache that serves the path's namespace (the "
            "nearest origin exporting it, with `?directread` or `PROPFIND`).",
            "headers": {
                "Location": {"schema": {"type": "string"}},
                "Link": {
                    "description": 'Up to 6 caches (or origins): `<url>; rel="duplicate"; pri=N; depth=D` (RFC '
                    "6249; D: path segments below the namespace prefix, as Pelican's director), nothing else on "
                    "that line. Only to a request whose Accept names application/metalink4+xml, a second Link "
                    'line: `</nearest?path=...&format=metalink>; rel=describedby; type="application/metalink4+xml"`',
                    "schema": {"type": "string"},
                },
                "X-Pelican-Namespace": {
                    "description": "`namespace=<prefix>, require-token=<true|false>`, then `, collections-url="
                    "<origin>` where an origin exports the path (where Pelican's clients list); absent for a "
                    "public path above listed namespaces",
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
        "404": json_answer(
            "Error",
            "no_namespace: the path is in no listed namespace (LOCATOR_UNLISTED_PATHS); no_origin: no origin "
            "exports the path (`?directread`, `PROPFIND`).",
        ),
        "405": ERRORS["405"],
        "414": json_answer("Error", "uri_too_long: path and query longer than 4,096 characters."),
        "503": json_answer("Error", "No cache in service may serve the path's namespace."),
    },
}
