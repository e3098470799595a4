"""The legacy emulation served over HTTP, at the URLs the real service answers, for probes and benchmarks.

`/cvmfs/<repo>/api/v<version>/geo/<caller>/<list>` (Stratum-1 layout) and `/api/v1.0/geo/<caller>/<list>`
(WLCG WPAD layout). Headers and the socket peer play the part of the WSGI environ.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from evaluation.legacy import LegacyGeo, legacy_api


def environ_of(request: Request) -> dict[str, str]:
    environ = {}
    for header, key in (
        ("cf-connecting-ip", "HTTP_CF_CONNECTING_IP"),
        ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
    ):
        if header in request.headers:
            environ[key] = request.headers[header]
    if request.client is not None:
        environ["REMOTE_ADDR"] = request.client.host
    return environ


def create_legacy_app(geo: LegacyGeo) -> Starlette:
    async def stratum_one(request: Request) -> Response:
        path_info = "/" + request.path_params["repo"] + "/" + request.path_params["rest"]
        return answer(request, path_info)

    async def wpad(request: Request) -> Response:
        return answer(request, "//" + request.path_params["rest"])

    def answer(request: Request, path_info: str) -> Response:
        wire = legacy_api(path_info, environ_of(request), geo)
        headers = {"cache-control": wire.cache_control} if wire.cache_control else {}
        return PlainTextResponse(wire.body, status_code=wire.status, headers=headers)

    return Starlette(
        routes=[
            Route("/cvmfs/{repo}/api/{rest:path}", stratum_one, methods=["GET"]),
            Route("/api/{rest:path}", wpad, methods=["GET"]),
        ]
    )
