"""Reading a JSON document from a server the locator does not control (a Pelican director, OSG Topology).

Whatever the server sends, the reader's memory and time stay bounded, and any failure is one line:

- **bytes**: at most `max_bytes` of body are read (the declared length is checked first, then every chunk);
  the body is asked for uncompressed and a compressed one is refused, so no small answer unpacks into a large
  one;
- **time**: one deadline for the whole transfer, from connecting to the last byte: a server that trickles a
  byte at a time cannot stretch it;
- **values**: a document of more than MAX_VALUES JSON values is refused before it is decoded (each value
  costs a Python object; every value after the first in an array or object follows a comma, so commas and
  brackets bound their number); nesting deeper than the decoder's recursion limit is refused;
- **shape**: the document is decoded with msgspec into the typed structure the caller names (fields it does
  not name are skipped, not built); text that is not valid Unicode is refused.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import httpx2 as httpx
import msgspec

T = TypeVar("T")

MAX_VALUES = 1_000_000  # a real director's lists hold a few tens of thousands


class FetchError(Exception):
    """The document could not be read; the message says why in one line."""


async def fetch_bytes(url: str, max_bytes: int, timeout_s: float) -> bytearray:
    """The body of a 200 answer to GET `url`, within the bounds above."""
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async with (
                httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client,
                client.stream("GET", url, headers={"accept-encoding": "identity"}) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                encoding = response.headers.get("content-encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    raise FetchError(f"{url}: the answer is compressed ({encoding}), which was not asked for")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"{url}: the answer is larger than {max_bytes:,} bytes ({int(declared):,})")
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"{url}: the answer is larger than {max_bytes:,} bytes")
    except TimeoutError:
        raise FetchError(f"{url}: no complete answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    return body


def decode(body: bytes | bytearray, kind: type[T], url: str) -> T:
    """`body` as a `kind` (a msgspec-decodable type); FetchError naming what is wrong and where."""
    values = body.count(b",") + body.count(b"[") + body.count(b"{") + 1
    if values > MAX_VALUES:
        raise FetchError(f"{url}: the answer holds more than {MAX_VALUES:,} values")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise FetchError(f"{url}: unexpected document: {exc}") from None
    except msgspec.DecodeError as exc:
        raise FetchError(f"{url}: the answer is not valid JSON: {exc}") from None
    except RecursionError:
        raise FetchError(f"{url}: the answer is nested too deeply") from None


async def fetch_json(url: str, kind: type[T], max_bytes: int, timeout_s: float) -> T:
    return decode(await fetch_bytes(url, max_bytes, timeout_s), kind, url)
