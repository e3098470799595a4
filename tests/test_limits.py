"""Request heads bounded in size and time, whatever the HTTP parser: against a real `locator serve` process."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import CACHES_CSV
from tests.test_e2e import serve, stop, wait_until_responds

pytestmark = pytest.mark.e2e
MB = 1 << 20


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of `locator serve` with the given parser, a 1 s head timeout and no access log."""
    data = tmp_path_factory.mktemp("limits")
    caches = data / "caches.csv"
    caches.write_text(CACHES_CSV)
    process, port = serve(
        caches,
        data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        http=request.param,
        head_timeout_s="1",
        access_log="false",
    )
    try:
        wait_until_responds(f"http://127.0.0.1:{port}/healthz", process)
        yield port, process.pid
    finally:
        stop(process)


def exchange(port: int, payload: bytes, wait_s: float = 10.0) -> bytes:
    """Send `payload` (as far as the server takes it) and return what comes back before the connection ends."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait_s)
        try:
            sock.sendall(payload)
        except OSError:  # the server closed while we were still sending: its answer is waiting
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def status(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


HEAD = b"GET /nearest?lat=40&lon=-90&n=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"


def test_a_normal_request_and_a_head_just_under_the_limit_pass(server: tuple[int, int]) -> None:
    port, _ = server
    assert status(exchange(port, HEAD + b"\r\n")) == "HTTP/1.1 200 OK"
    padding = b"x-padding: " + b"p" * (16384 - len(HEAD) - 200) + b"\r\n"
    assert status(exchange(port, HEAD + padding + b"\r\n")) == "HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    "extra",
    [
        b"x-big: " + b"a" * (10 * MB) + b"\r\n",  # one 10 MB header
        b"".join(b"x-h%d: v\r\n" % i for i in range(50_000)),  # 50,000 headers
        b"x-big: " + b"a" * 100_000 + b"\r\n",  # 100 KB, which h11 let through when it arrived whole
    ],
    ids=["10 MB header", "50,000 headers", "100 KB header"],
)
def test_an_oversized_head_is_refused_with_431(server: tuple[int, int], extra: bytes) -> None:
    port, _ = server
    answer = exchange(port, HEAD + extra + b"\r\n")
    assert status(answer) == "HTTP/1.1 431 Request Header Fields Too Large", answer[:300]
    assert b'"error":"header_too_large"' in answer


@pytest.mark.parametrize("size", [20_000, 65_536, 70_000, 200_000])
def test_an_oversized_request_line_is_refused_with_431(server: tuple[int, int], size: int) -> None:
    """Finding 11: a request line of 64 KB, which httptools refuses as malformed, gets the documented 431 too."""
    port, _ = server
    answer = exchange(port, b"GET /nearest?x=" + b"a" * size + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert status(answer) == "HTTP/1.1 431 Request Header Fields Too Large", answer[:300]
    assert b'"error":"header_too_large"' in answer


def test_a_head_that_never_ends_is_dropped_after_the_timeout(server: tuple[int, int]) -> None:
    port, _ = server
    started = time.monotonic()
    answer = exchange(port, HEAD + b"x-slow: 1", wait_s=20)  # the blank line never comes
    assert status(answer) == "HTTP/1.1 408 Request Timeout" and b'"error":"head_timeout"' in answer
    assert time.monotonic() - started < 15  # the 1 s timeout, not our 20 s patience, ended it
    silent = exchange(port, b"", wait_s=20)  # connects and says nothing
    assert status(silent) == "HTTP/1.1 408 Request Timeout"


def test_a_later_head_on_a_kept_alive_connection_gets_its_own_time(server: tuple[int, int]) -> None:
    """One timer per connection: armed at the connection's start (due at 1 s), it must not cut off the second
    request's head, begun at 0.7 s, before that head's own second has passed."""
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):  # the whole answer (head and body may come apart)
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK")
        time.sleep(max(0.0, 0.7 - (time.monotonic() - started)))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")  # and no blank line
        sock.settimeout(0.5)  # to 1.2 s: past the first timer's due time, inside the second head's second
        with pytest.raises(TimeoutError):
            sock.recv(65536)
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 408 Request Timeout")  # then its own timeout ends it


def test_floods_of_unfinished_heads_do_not_grow_memory(server: tuple[int, int]) -> None:
    """Eight connections each pushing 100 MB of one header line: each is cut off at the limit, and the resident
    memory of the process stays where it was (it grew by 160 MB for one such connection before)."""
    port, pid = server
    process = psutil.Process(pid)
    before = process.memory_info().rss
    flood = HEAD + b"x-big: " + b"a" * (100 * MB)
    sockets = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(5)
        sockets.append(sock)
    peak = before
    for sock in sockets:
        try:
            sock.sendall(flood)
        except OSError:
            pass  # cut off: the server closed the connection
        peak = max(peak, process.memory_info().rss)
    answers = []
    for sock in sockets:
        try:
            answers.append(status(sock.recv(200)))
        except OSError:
            answers.append("closed")
        sock.close()
    assert set(answers) <= {"HTTP/1.1 431 Request Header Fields Too Large", "closed", ""}
    assert peak - before < 48 * MB, f"grew by {(peak - before) / MB:.0f} MB"
    assert status(exchange(port, HEAD + b"\r\n")) == "HTTP/1.1 200 OK"  # and it still serves


def test_pipelined_requests_are_not_mistaken_for_a_large_head(server: tuple[int, int]) -> None:
    port, _ = server
    one = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: " + b"p" * 400 + b"\r\n\r\n"
    answer = exchange(port, one * 80 + b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 81  # 37 KB of requests in one write, each head well under 16 KB


def test_limit_settings_are_checked(tmp_path: Path) -> None:
    from locator.settings import Settings, SettingsError

    assert Settings.from_env({}).max_head_bytes == 16384
    with pytest.raises(SettingsError, match="LOCATOR_MAX_HEAD_BYTES has value '10'"):
        Settings.from_env({"LOCATOR_MAX_HEAD_BYTES": "10"})
