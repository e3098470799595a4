"""What Pelican's clients ask a federation's director besides objects: `GET /.well-known/pelican-configuration`
(discovery: where the director is) and `GET /api/v1.0/director/origin/<path>` (a read straight from the
origin that exports the path, pelicanfs's `direct_reads`)."""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from locator.core.addresses import in_networks, parse_ip
from locator.web.bodies import JSON, NO_STORE, PelicanConfiguration, Raw, encode
from locator.web.errors import BadRequest
from locator.web.openapi import NO_STORE as NO_STORE_SPEC
from locator.web.openapi import Documented, json_answer
from locator.web.query import COORDINATE_SPEC
from locator.web.redirect import OPERATION as REDIRECT_OPERATION
from locator.web.redirect import to_origin
from locator.web.state import Shared

ORIGIN_PREFIX = "/api/v1.0/director/origin"
# host[:port] as a Host header may carry it: a DNS name or IPv4 address, or a bracketed IPv6 address.
HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def own_url(scope: Scope) -> str:
    """scheme://host[:port] the request came to; through a trusted proxy, the one it names
    (`X-Forwarded-Proto`, `X-Forwarded-Host`, first value of each)."""
    shared: Shared = scope["app"].state.shared
    headers = Headers(scope=scope)
    scheme, host = scope["scheme"], headers.get("host")
    peer = scope.get("client")
    if peer and in_networks(parse_ip(peer[0]), shared.settings.trusted_proxies):
        scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip().lower()
        host = (headers.get("x-forwarded-host") or host or "").split(",")[0].strip() or None
    if host is None:
        server = scope.get("server")
        host = None if not server else f"{server[0]}:{server[1]}"
    if scheme not in ("http", "https") or host is None or not HOST.fullmatch(host):
        raise BadRequest("the request names no usable host (Host header) to build the director's URL", "bad_host")
    return f"{scheme}://{host}"


async def configuration(scope: Scope) -> Response:
    shared: Shared = scope["app"].state.shared
    endpoint = shared.settings.public_url or own_url(scope)
    return Raw(encode(PelicanConfiguration(endpoint)), JSON, NO_STORE)


async def origin(scope: Scope) -> Response:
    raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    return to_origin(scope, raw_path[len(ORIGIN_PREFIX) :])


ORIGIN_ANSWERS = {
    "307": {
        "description": "Temporary redirect to the nearest origin that exports the path, path and query kept; `Link` "
        "names the origins, `X-Pelican-Namespace` the namespace and `collections-url`.",
        "headers": REDIRECT_OPERATION["responses"]["307"]["headers"],
    },
    "400": json_answer("Error", "A path or query that could leave the origin host or inject headers."),
    "404": json_answer("Error", "no_origin: no origin in service exports the path."),
    "414": REDIRECT_OPERATION["responses"]["414"],
}

ROUTES = [
    Documented(
        "/.well-known/pelican-configuration",
        configuration,
        {
            "operationId": "pelican_configuration",
            "summary": "Federation discovery for Pelican's clients: the director's URL (this service)",
            "responses": {
                "200": {**json_answer("PelicanConfiguration", "Discovery document."), "headers": NO_STORE_SPEC},
                "400": json_answer("Error", "bad_host: no usable Host header (and LOCATOR_PUBLIC_URL unset)."),
            },
        },
    ),
    Documented(
        ORIGIN_PREFIX + "/{rest:path}",
        origin,
        {
            "operationId": "director_origin",
            "summary": "307 redirect to <nearest origin exporting the path>/<path> (pelicanfs direct_reads)",
            "parameters": [
                {
                    "name": "rest",
                    "in": "path",
                    "required": True,
                    "description": "The object's path without its leading '/'.",
                    "schema": {"type": "string", "pattern": "^(?![/\\\\])[^\\x00-\\x1f\\x7f]*$"},
                },
                COORDINATE_SPEC,
            ],
            "responses": ORIGIN_ANSWERS,
        },
    ),
]
