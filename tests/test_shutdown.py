"""Graceful shutdown: on SIGTERM the server stops accepting, finishes the answer in flight, then exits."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_e2e import serve, wait_until_responds

pytestmark = pytest.mark.e2e


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path) -> None:
    # 20,000 caches make /caches a ~3 MB answer that a slow reader keeps in flight for as long as it likes.
    rows = "".join(
        f"c{i},https://c{i}.example.org:8443,{(i % 170) - 85}.5,{(i % 350) - 175}.25\n" for i in range(20_000)
    )
    (tmp_path / "caches.csv").write_text("name,endpoint,latitude,longitude\n" + rows)
    process, port = serve(
        tmp_path / "caches.csv", tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, log_format="text"
    )
    try:
        wait_until_responds(f"http://127.0.0.1:{port}/healthz", process)
        reader = socket.socket()
        # A small receive buffer, set before connecting: the server cannot push the answer out at once.
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        reader.connect(("127.0.0.1", port))
        reader.sendall(b"GET /caches HTTP/1.1\r\nHost: locator\r\n\r\n")
        received = reader.recv(2048)  # the answer has started...
        process.send_signal(signal.SIGTERM)  # ...when the server is told to stop
        time.sleep(1.0)
        with pytest.raises(OSError):  # it accepts no new connection
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        while chunk := reader.recv(65536):  # ...but the answer in flight is delivered whole
            received += chunk
        reader.close()
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        assert head.startswith(b"HTTP/1.1 200")
        assert len(body) == length > 2_000_000
        assert body.rstrip().endswith(b"}")
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stderr is not None
        with process.stderr:
            log = process.stderr.read().decode()
    assert "Shutting down" in log and "Finished server process" in log
