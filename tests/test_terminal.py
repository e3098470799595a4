"""`locator serve` as a person meets it at a terminal (issue 24): readable lines, one summary at start that says
what runs over the network and how to stop it, start-up failures in one line before anything starts, Ctrl-C a
clean stop; and JSON for everything that is not a terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locator.web.logs import chosen_format
from scripts.launch import HOST, free_port

REPO = Path(__file__).resolve().parent.parent


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCATOR_")}
    env["LOCATOR_AIRPORTS_STORE"] = str(tmp_path / "airports.sqlite")
    env.update({f"LOCATOR_{name.upper()}": value for name, value in settings.items()})
    return env


def read_until(fd: int, text: bytes, timeout_s: float) -> bytes:
    """What a terminal shows until `text` appears (or the process closes it, or time is up)."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end is closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_auto_is_json_for_anything_but_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert chosen_format("auto", io.StringIO()) == "json"
    assert chosen_format("auto", Terminal()) == "text"
    assert chosen_format("json", Terminal()) == "json" and chosen_format("text", io.StringIO()) == "text"


@pytest.mark.e2e
@pytest.mark.parametrize("through", ["locator serve", "make serve"])
def test_at_a_terminal_readable_lines_a_summary_and_a_clean_ctrl_c(tmp_path: Path, through: str) -> None:
    port = free_port()
    controller, terminal = pty.openpty()
    argv = (
        ["make", "--no-print-directory", "serve"]
        if through == "make serve"
        else [sys.executable, "-m", "locator", "serve"]
    )
    process = subprocess.Popen(
        argv,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environment(tmp_path, health_interval_s="30", port=str(port)),
        cwd=REPO,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        started = read_until(controller, b"Uvicorn running on", 60).decode(errors="replace")
        lines = [line for line in started.splitlines() if line.strip()]
        assert lines and not any(line.lstrip().startswith("{") for line in lines), started  # no JSON for a person
        assert any(f"starting on http://127.0.0.1:{port} with 1 worker(s); Ctrl-C stops it" in line for line in lines)
        summary = next(line for line in lines if "ready to serve: " in line)
        assert "42 caches (41 in service)" in summary and "airports" in summary and "GeoIP" in summary
        assert "every 30 s over the network (LOCATOR_HEALTH_INTERVAL_S=0 turns it off)" in summary
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground processes
        stopped = read_until(controller, b"Finished server process", 30).decode(errors="replace")
        stopped += read_until(controller, b"make: ***", 2).decode(errors="replace")  # what make would add
        status = process.wait(timeout=30)
        # locator serve exits 0; make passes the interrupt on as shells expect (killed by SIGINT), saying nothing
        assert status == (0 if through == "locator serve" else -signal.SIGINT)
        assert "Traceback" not in stopped and "Error" not in stopped and "make: ***" not in stopped, stopped
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)


@pytest.mark.e2e
def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "locator", "serve", "--port", str(port)],
            env=environment(tmp_path, health_interval_s="0"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"locator: error: cannot listen on {HOST}:{port}: Address already in use (another server there? --port or "
        "LOCATOR_PORT)"
    ]


@pytest.mark.e2e
def test_not_at_a_terminal_every_line_is_json(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "locator", "serve", "--port", str(port)],
        env=environment(tmp_path, health_interval_s="0"),
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        lines = []
        while not any("Uvicorn running" in line for line in lines):
            line = process.stderr.readline().decode()
            assert line, "locator serve ended before it served"
            lines.append(line)
        records = [json.loads(line) for line in lines]
        assert any(record["message"].startswith("ready to serve: ") for record in records)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()
