"""The baseline for every HTTP benchmark: Starlette answering a fixed small JSON body on any GET path.

    python -m bench.bare_app --port P [--log-level info]

It runs under exactly the uvicorn call `locator serve` makes (one worker, the locator's logging
configuration, uvicorn's access log off, `proxy_headers=False`), so that locator ÷ bare isolates what the
locator itself costs: its middleware (request id, metrics, its own access log when on), query parsing, the
edge context, the cascade, the ranking and the bigger body. The bare app logs nothing per request.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from locator.web.logs import logging_config

BODY = {"service": "bare", "status": "ok", "caches": ["https://cache.example.org:8443"]}


async def fixed(request: Request) -> Response:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/{path:path}", fixed, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="json", choices=["json", "text"])
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"], help="as LOCATOR_HTTP")
    args = parser.parse_args()
    # The same call as locator.cli.cmd_serve, minus the factory: same worker count, logging and proxy rules.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        http=args.http,
        log_config=logging_config(args.log_level, args.log_format),
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
