"""The OpenAPI 3.1 description of the HTTP interface, served at /openapi.json.

Written by hand to say what clients may rely on; tests/test_openapi.py keeps it true: every route and
query parameter is here, and real answers validate against these schemas.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from locator import __version__
from locator.locate import Method
from locator.query import FORMATS, MAX_N, MAX_VALUE_CHARS

NULLABLE_NUMBER = {"type": ["number", "null"]}
NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "400": _json("Error", "Bad input: the error code names the parameter's problem."),
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
        "description": "At most this many caches; default all.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_N},
    },
    {
        "name": "format",
        "in": "query",
        "description": "json (default) or text (one endpoint per line).",
        "schema": {"type": "string", "enum": list(FORMATS)},
    },
]
for _parameter in QUERY_PARAMETERS:
    _parameter["allowEmptyValue"] = True  # `?lat=&lon=` is the same as no lat and lon (unset shell variables)


def redirect_path(routes: Iterable[str]) -> dict[str, str]:
    """What a redirect path may hold: not empty and not one of the service's own routes (those answer
    themselves), no control characters, and no leading '/' or '\\' (which would make `<endpoint>/<path>`
    name another host)."""
    own = "|".join(re.escape(route.lstrip("/")) for route in routes if route != "/")
    return {"type": "string", "pattern": f"^(?!(?:{own})$)(?![/\\\\])[^\\x00-\\x1f\\x7f]+$"}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "pattern": "^[a-z_]+$", "description": "machine-readable code"},
            "detail": {"type": "string", "description": "what was wrong, for people"},
        },
    },
    "Client": {
        "type": "object",
        "required": ["ip", "latitude", "longitude", "city", "country", "colo", "accuracy_km"],
        "additionalProperties": False,
        "properties": {
            "ip": NULLABLE_STRING,
            "latitude": NULLABLE_NUMBER,
            "longitude": NULLABLE_NUMBER,
            "city": NULLABLE_STRING,
            "country": NULLABLE_STRING,
            "colo": NULLABLE_STRING,
            "accuracy_km": NULLABLE_NUMBER,
        },
    },
    "EdgeReport": {
        "type": ["object", "null"],
        "required": ["provider", "latitude", "longitude", "city", "country", "region", "postal_code"],
        "additionalProperties": False,
        "properties": {
            "provider": {"type": "string", "enum": ["cloudflare", "cloudfront", "generic"]},
            **{name: NULLABLE_STRING for name in ("latitude", "longitude", "city", "country", "region", "postal_code")},
        },
    },
    "RankedCache": {
        "type": "object",
        "required": ["name", "endpoint", "latitude", "longitude", "distance_km"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "endpoint": {"type": "string", "format": "uri"},
            "latitude": NULLABLE_NUMBER,
            "longitude": NULLABLE_NUMBER,
            "distance_km": {**NULLABLE_NUMBER, "description": "null when unknown (no position, or a fallback order)"},
        },
    },
    "Nearest": {
        "type": "object",
        "required": ["method", "client", "skipped", "edge", "caches"],
        "additionalProperties": False,
        "properties": {
            "method": {"type": "string", "enum": [m.value for m in Method]},
            "client": _ref("Client"),
            "skipped": {
                "type": "object",
                "description": "each location source tried before the one used, and why it was skipped",
                "additionalProperties": {"type": "string"},
            },
            "edge": _ref("EdgeReport"),
            "caches": {"type": "array", "items": _ref("RankedCache")},
        },
    },
    "WorkerCaches": {
        "type": "object",
        "description": "The 2022 Cloudflare Worker's /_caches shape.",
        "required": ["city", "latitude", "longitude", "postalCode", "region", "AITA", "caches", "matched"],
        "additionalProperties": False,
        "properties": {
            "city": NULLABLE_STRING,
            "latitude": NULLABLE_STRING,
            "longitude": NULLABLE_STRING,
            "postalCode": NULLABLE_STRING,
            "region": NULLABLE_STRING,
            "AITA": NULLABLE_STRING,
            "caches": {
                "type": "array",
                "description": "[host:port, km] pairs, nearest first (km null when unknown)",
                "items": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, NULLABLE_NUMBER]},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
            "matched": {"type": "string"},
        },
    },
    "CacheList": {
        "type": "object",
        "required": ["count", "in_service", "caches"],
        "additionalProperties": False,
        "properties": {
            "count": {"type": "integer"},
            "in_service": {"type": "integer"},
            "caches": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "endpoint", "latitude", "longitude", "status", "site"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "endpoint": {"type": "string"},
                        "latitude": NULLABLE_NUMBER,
                        "longitude": NULLABLE_NUMBER,
                        "status": {"type": "string", "enum": ["up", "down", "disabled"]},
                        "site": {"type": "string"},
                    },
                },
            },
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {
        "type": "object",
        "required": [
            "status",
            "caches_in_service",
            "overrides",
            "geoip",
            "airports",
            "degraded",
            "reload",
            "loaded_at",
        ],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded"]},
            "caches_in_service": {"type": "integer"},
            "overrides": {"type": "integer"},
            "geoip": {"type": "boolean"},
            "airports": {"type": "integer"},
            "degraded": {"type": "array", "items": {"type": "string"}},
            "reload": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["path", "loaded_at", "error"],
                    "properties": {"path": NULLABLE_STRING, "loaded_at": {"type": "number"}, "error": NULLABLE_STRING},
                },
            },
            "loaded_at": {"type": "number"},
        },
    },
    "Index": {"type": "object", "required": ["service", "version", "endpoints"]},
}


# The service's own routes; every other path is a redirect.
ROUTES: dict[str, Any] = {
    "/": {"get": {"summary": "What this service offers", "responses": {"200": _json("Index", "Endpoints.")}}},
    "/nearest": {
        "get": {
            "summary": "The caches nearest to the caller, nearest first",
            "parameters": QUERY_PARAMETERS,
            "responses": {
                "200": {
                    "description": "The decision and the ordered caches.",
                    "headers": NO_STORE,
                    "content": {
                        "application/json": {"schema": _ref("Nearest")},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                },
                **ERRORS,
            },
        }
    },
    "/_caches": {
        "get": {
            "summary": "The same decision in the 2022 Cloudflare Worker's shape",
            "parameters": QUERY_PARAMETERS,
            "responses": {"200": _json("WorkerCaches", "Worker-compatible answer."), **ERRORS},
        }
    },
    "/caches": {"get": {"summary": "Every configured cache", "responses": {"200": _json("CacheList", "Caches.")}}},
    "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Health", "Alive.")}}},
    "/readyz": {
        "get": {
            "summary": "Readiness, degraded modes, reload state",
            "responses": {"200": _json("Ready", "Serving.")},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1."}}}},
}


def redirect_route(routes: Iterable[str]) -> dict[str, Any]:
    """The catch-all redirect, for any path that `routes` do not answer."""
    return {
        "get": {
            "summary": "Redirect to <nearest cache><path>?<query> (any path without a route of its own)",
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": redirect_path(routes)}],
            "responses": {
                "307": {
                    "description": "Temporary redirect; Link lists the nearest caches (at most 6).",
                    "headers": {
                        "Location": {"schema": {"type": "string"}},
                        "Link": {"schema": {"type": "string"}},
                        **NO_STORE,
                    },
                },
                "400": _json("Error", "A path or query that could leave the cache host or inject headers."),
                "405": ERRORS["405"],
                "503": _json("Error", "No cache is in service."),
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
        "paths": {**ROUTES, "/{path}": redirect_route(ROUTES)},
        "components": {"schemas": SCHEMAS},
    }
