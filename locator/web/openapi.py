"""The OpenAPI 3.1 description of the HTTP interface, served at /openapi.json.

The schemas are generated from the body types the service encodes (locator.web.bodies); only the paths are
written here. tests/test_openapi.py keeps it true: every route and query parameter is here, and real
answers validate against the schemas; schemathesis fuzzes the service from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from locator import __version__
from locator.web.bodies import BODIES
from locator.web.metalink import MEDIA_TYPE as METALINK
from locator.web.query import FORMATS, MAX_N, MAX_PATH_CHARS, MAX_VALUE_CHARS, N_PATTERN


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "400": _json("Error", "Bad input: the error code names the parameter's problem."),
    "403": _json("Error", "ip_override_disabled: `ip=` is turned off here (LOCATOR_ALLOW_IP_OVERRIDE)."),
    "404": _json("Error", "no_namespace: `path` is in no listed namespace and LOCATOR_UNLISTED_PATHS=refuse."),
    "405": _json("Error", "Method not allowed (the Allow header lists the methods)."),
}
NO_STORE = {
    "Cache-Control": {"description": "Always `no-store`: the answer depends on who asks.", "schema": {"type": "string"}}
}

QUERY_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "lat",
        "in": "query",
        "description": "Declared latitude in degrees; give lat and lon together.",
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
    },
    {
        "name": "lon",
        "in": "query",
        "description": "Declared longitude in degrees; give lat and lon together.",
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
    },
    {
        "name": "ip",
        "in": "query",
        "description": "Locate this IPv4 or IPv6 address instead of the caller.",
        "schema": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}], "maxLength": MAX_VALUE_CHARS},
    },
    {
        "name": "colo",
        "in": "query",
        "description": "IATA code of the receiving data centre.",
        "schema": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
    },
    {
        "name": "n",
        "in": "query",
        "description": f"At most this many caches, a whole number from 1 to {MAX_N} in digits; default all.",
        "schema": {"type": "string", "pattern": N_PATTERN},
    },
    {
        "name": "format",
        "in": "query",
        "description": "json (default), text (one endpoint per line) or metalink (needs `path`).",
        "schema": {"type": "string", "enum": list(FORMATS)},
    },
    {
        "name": "path",
        "in": "query",
        "description": "The object's path: only caches that serve its namespace are ranked. Without it, the answer "
        "is for public data (the caches open to any VO).",
        "schema": {"type": "string", "pattern": "^/[^\\x00-\\x1f\\x7f]*$", "maxLength": MAX_PATH_CHARS},
    },
]
for _parameter in QUERY_PARAMETERS:
    _parameter["allowEmptyValue"] = True  # `?lat=&lon=` is the same as no lat and lon (unset shell variables)


GEO_REST: dict[str, Any] = {
    "name": "rest",
    "in": "path",
    "required": True,
    "description": "`v<version>/geo/<caching string>/<server1>,<server2>,...` (`/` inside: as the legacy service "
    "reads PATH_INFO). The caching string locates the client when it is, or resolves to, an address; "
    "`+PXYSEP+` in the list separates the servers from proxies.",
    "schema": {"type": "string"},
}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
GEO_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "1-based indices of the servers, nearest first, comma separated, a newline at the end "
        "(`Cache-Control: max-age=3600`).",
        "content": _TEXT,
    },
    "400": {
        "description": "`Bad Request: <reason>` (`Cache-Control: max-age=300`): malformed api URL, unrecognized "
        "api function, no slash in geo path, remote addr not found in database, no server addr found in "
        "database, more than 64 servers. A path with control characters gets the JSON error (invalid_path), "
        "as on every route.",
        "content": {**_TEXT, "application/json": {"schema": _ref("Error")}},
    },
}


def redirect_path(routes: Iterable[str]) -> dict[str, str]:
    """What a redirect path may hold: not empty and not one of the service's own routes (those answer
    themselves), no control characters, and no leading '/' or '\\' (which would make `<endpoint>/<path>`
    name another host)."""
    own = "|".join(re.escape(route.lstrip("/")) for route in routes if route != "/" and "{" not in route)
    prefixes = "|".join(template_prefix(route) for route in routes if "{" in route)
    return {
        "type": "string",
        "pattern": f"^(?!(?:{own})$)(?!(?:{prefixes}))(?![/\\\\])[^\\x00-\\x1f\\x7f]+$",
    }


def template_prefix(route: str) -> str:
    """A pattern for the paths a templated route takes: `/cvmfs/{repo}/api/{rest:path}` -> `cvmfs/[^/]+/api/`."""
    fixed = route.lstrip("/").split("{rest:path}")[0]
    return "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", fixed))


def openapi_path(route: str) -> str:
    """Starlette's `{rest:path}` is OpenAPI's `{rest}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route)


# THE route table: the service's own routes, in the order the router tries them (every other path is a
# redirect). `operationId` names the LocatorApp method that answers; the app's routes, its index page and the
# metrics' route labels are all derived from this table.
ROUTES: dict[str, Any] = {
    "/nearest": {
        "get": {
            "operationId": "nearest",
            "summary": "The caches nearest to the caller, nearest first (lat, lon, ip, colo, n, format, path)",
            "parameters": QUERY_PARAMETERS,
            "responses": {
                "200": {
                    "description": "The decision and the ordered caches: JSON; one endpoint per line for "
                    "`format=text`; a Metalink 4 document (RFC 5854) of the object's URLs for `format=metalink`, "
                    "or with a `path` and `Accept: application/metalink4+xml`.",
                    "headers": NO_STORE,
                    "content": {
                        "application/json": {"schema": _ref("Nearest")},
                        "text/plain": {"schema": {"type": "string"}},
                        METALINK: {"schema": {"type": "string"}},
                    },
                },
                **ERRORS,
            },
        }
    },
    "/": {
        "get": {
            "operationId": "index",
            "summary": "What this service offers",
            "responses": {"200": _json("Index", "Endpoints.")},
        }
    },
    "/_caches": {
        "get": {
            "operationId": "worker_caches",
            "summary": "The same decision in the 2022 Cloudflare Worker's shape",
            "parameters": QUERY_PARAMETERS,
            "responses": {"200": _json("WorkerCaches", "Worker-compatible answer."), **ERRORS},
        }
    },
    "/caches": {
        "get": {
            "operationId": "caches",
            "summary": "The configured caches, their health, and why each is or is not ranked",
            "responses": {"200": _json("CacheList", "Caches.")},
        }
    },
    "/healthz": {
        "get": {"operationId": "healthz", "summary": "Liveness", "responses": {"200": _json("Alive", "Alive.")}}
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness, degraded modes, the GeoIP database, health prober and reload state",
            "responses": {"200": _json("Ready", "Serving.")},
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics_page",
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": _json("Error", "LOCATOR_METRICS_TOKEN is set and the bearer token is missing or wrong."),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi_page",
            "summary": "This interface, described",
            "responses": {"200": {"description": "OpenAPI 3.1."}},
        }
    },
    "/cvmfs/{repo}/api/{rest:path}": {
        "get": {
            "operationId": "geo_cvmfs",
            "summary": "The CVMFS geo API, as a Stratum-1 serves it: v1.0/geo/<caching>/<server1>,<server2>,...",
            "parameters": [
                {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}},
                GEO_REST,
            ],
            "responses": GEO_RESPONSES,
        }
    },
    "/api/{rest:path}": {
        "get": {
            "operationId": "geo_wpad",
            "summary": "The CVMFS geo API, as WLCG WPAD serves it: v1.0/geo/<caching>/<server1>,<server2>,...",
            "parameters": [GEO_REST],
            "responses": GEO_RESPONSES,
        }
    },
}
REDIRECT_SUMMARY = "307 redirect to <nearest cache serving the path's namespace>/<path>"
# Answers any route may get before it runs (locator/observe.py and locator/connections.py).
EVERY_ROUTE = {
    "400": _json("Error", "invalid_path: the path holds control characters (any route)."),
    "408": {"description": "head_timeout: the request head took longer than LOCATOR_HEAD_TIMEOUT_S; closed."},
    "431": _json("Error", "header_too_large: the request head is larger than LOCATOR_MAX_HEAD_BYTES."),
}


def index() -> dict[str, str]:
    """The index page's list: every route's summary, then the redirect."""
    return {path: spec["get"]["summary"] for path, spec in ROUTES.items()} | {"/<path>": REDIRECT_SUMMARY}


def redirect_route(routes: Iterable[str]) -> dict[str, Any]:
    """The catch-all redirect, for any path that `routes` do not answer."""
    return {
        "get": {
            "operationId": "redirect",
            "summary": REDIRECT_SUMMARY,
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": redirect_path(routes)}],
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
                    "content": {METALINK: {"schema": {"type": "string"}}},
                },
                "400": _json("Error", "A path or query that could leave the cache host or inject headers."),
                "404": _json("Error", "no_namespace: the path is in no listed namespace (LOCATOR_UNLISTED_PATHS)."),
                "405": ERRORS["405"],
                "414": _json("Error", "uri_too_long: path and query longer than 4,096 characters."),
                "503": _json("Error", "No cache in service may serve the path's namespace."),
            },
        },
    }


def openapi() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OSDF cache locator",
            "version": __version__,
            "description": "Finds the OSDF data caches nearest to a client, from CDN edge headers, local GeoIP "
            "or the receiving data centre; answers with an ordered list or a 307 redirect.",
        },
        "paths": {
            openapi_path(path): {"get": {**spec["get"], "responses": EVERY_ROUTE | spec["get"]["responses"]}}
            for path, spec in {**ROUTES, "/{path}": redirect_route(ROUTES)}.items()
        },
        "components": {"schemas": schemas()},
    }


def schemas() -> dict[str, Any]:
    """JSON Schemas of every body, generated from the types in locator.web.bodies."""
    _, components = msgspec.json.schema_components(BODIES, ref_template="#/components/schemas/{name}")
    return components
