"""HTTP connections whose request heads are bounded in size and in time, whatever uvicorn's parser.

uvicorn bounds neither by itself: its httptools parser keeps a header value of any length in memory until
the line ends (one connection sending 100 MB of header grew the process by 160 MB), and h11's limit applies only
to a head still incomplete when a read ends, so a large head that arrives whole passes. Two rules close that:

- **Size.** The bytes of a request head (request line and headers) may not exceed `max_head_bytes`
  (LOCATOR_MAX_HEAD_BYTES, 16 KB). The connection counts the bytes it receives while a head is incomplete
  and answers `431` and closes once they pass the limit; a head that arrived whole is measured when it is
  complete (`oversized_head`, in the app's outermost middleware). Memory per connection is then bounded by
  the limit plus one read (256 KiB). h11's own limit is set one read higher, so both parsers answer alike.
- **Time.** A head must be complete within `head_timeout_s` (LOCATOR_HEAD_TIMEOUT_S, 10 s) of its first byte,
  or of the connection's start: a client that trickles a head, or connects and says nothing, is answered
  `408` and closed. Between requests, uvicorn's keep-alive timeout closes idle connections.

`locator serve` runs uvicorn with `HttpToolsProtocol` or `H11Protocol` from here; `configure` sets both limits
in each worker process (the app factory calls it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol as BaseH11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as BaseHttpToolsProtocol

# uvicorn's `http` setting -> this module's protocol classes, by import string (worker processes import them).
PROTOCOLS = {
    "auto": "locator.web.connections:HttpToolsProtocol",
    "httptools": "locator.web.connections:HttpToolsProtocol",
    "h11": "locator.web.connections:H11Protocol",
}


READ_BYTES = 262144  # the most asyncio reads from a socket at once: the slack past the limit before a 431


class Limits:
    max_head_bytes = 16384
    head_timeout_s = 10.0


def configure(max_head_bytes: int, head_timeout_s: float) -> None:
    """Set the limits of this process's connections (each uvicorn worker builds its app, which calls this)."""
    Limits.max_head_bytes = max_head_bytes
    Limits.head_timeout_s = head_timeout_s


def _answer(status: int, reason: str, code: str, detail: str) -> bytes:
    body = msgspec.json.encode({"error": code, "detail": detail})
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


def head_bytes(scope: Any) -> int:
    """The size of a complete request head as the ASGI scope holds it (request line and header lines)."""
    line = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"]) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def oversized_head(scope: Any) -> str | None:
    """Why a head that arrived whole is refused (431 header_too_large), or None."""
    size = head_bytes(scope)
    if size <= Limits.max_head_bytes:
        return None
    return f"the request head is {size} bytes; at most {Limits.max_head_bytes} (LOCATOR_MAX_HEAD_BYTES)"


class _HeadLimit:
    """The rules over one of uvicorn's protocols; `_in_head` says whether the parser is between requests or
    inside a head.

    One timer per connection, not one per request: it is armed when a head starts and none is pending, and
    when it fires it either answers 408 or, if the head it was armed for is done, re-arms for the deadline
    of the head in progress (if any). Under keep-alive load that is one timer event per connection every
    `head_timeout_s`, instead of a timer created and cancelled for every request.
    """

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _head_received: int = 0
    _head_started: float | None = None  # loop time the head in progress began (None: between heads)
    _head_timer: asyncio.TimerHandle | None = None

    def _in_head(self) -> bool:
        raise NotImplementedError

    def _head_begins(self) -> None:
        self._head_started = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_started + Limits.head_timeout_s, self._head_expired)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._head_started is None or self.transport.is_closing():
            return  # no head in progress: the next one arms the timer again
        due = self._head_started + Limits.head_timeout_s
        if self.loop.time() < due:  # the head this was armed for is done; this one began later
            self._head_timer = self.loop.call_at(due, self._head_expired)
            return
        detail = f"the request head did not arrive within {Limits.head_timeout_s:g} s (LOCATOR_HEAD_TIMEOUT_S)"
        self.transport.write(_answer(408, "Request Timeout", "head_timeout", detail))
        self.transport.close()

    def _refuse(self) -> None:
        detail = f"more than {Limits.max_head_bytes} bytes of request head (LOCATOR_MAX_HEAD_BYTES)"
        self.transport.write(_answer(431, "Request Header Fields Too Large", "header_too_large", detail))
        self.transport.close()

    def _head_done(self) -> None:
        """A head is complete: the next one starts from nothing, and no clock runs until its first byte."""
        self._head_received = 0
        self._head_started = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_received = 0
        self._head_timer = None
        self._head_begins()  # a client that connects and says nothing is a slow head too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._in_head():
            if self._head_started is None:  # the first bytes of the next head on a kept-alive connection
                self._head_begins()
            self._head_received += len(data)
        super().data_received(data)  # type: ignore[misc]
        self._after_data()

    def _after_data(self) -> None:
        """After the parser has seen a read: a head still incomplete past the limit is refused."""
        raise NotImplementedError


class HttpToolsProtocol(_HeadLimit, BaseHttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads; httptools' callbacks mark where a head ends."""

    _receiving_head = True

    def _in_head(self) -> bool:
        return self._receiving_head

    def _after_data(self) -> None:
        # A head completed in this read reset the count (on_headers_complete), so the count alone decides.
        if self._head_received > Limits.max_head_bytes and not self.transport.is_closing():
            self._refuse()

    def on_headers_complete(self) -> None:
        self._receiving_head = False
        self._head_done()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """The parser gave up: a head past the limit is answered as such. (httptools cannot parse a URL of 64 KB
        or more, and says so once the head is complete, when the count has been reset: the head is measured.)"""
        url, headers = getattr(self, "url", b""), getattr(self, "headers", [])
        head = len(url) + sum(len(name) + len(value) + 4 for name, value in headers)
        if head > Limits.max_head_bytes or (self._in_head() and self._head_received > Limits.max_head_bytes):
            self._refuse()
        else:
            super().send_400_response(msg)

    def on_message_complete(self) -> None:
        self._receiving_head = True  # the next bytes begin the next request's head
        super().on_message_complete()


class H11Protocol(_HeadLimit, BaseH11Protocol):
    """uvicorn's h11 protocol with bounded heads; h11 is between requests (IDLE) until a head is complete."""

    def _in_head(self) -> bool:
        return bool(self.conn.their_state is h11.IDLE)

    def _after_data(self) -> None:
        if self.transport.is_closing():
            return
        if not self._in_head():
            self._head_done()
        elif self._head_received > Limits.max_head_bytes:
            self._refuse()
