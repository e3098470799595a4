"""Logging: JSON lines for log pipelines, plain text for people (by default: text when standard error is a
terminal, JSON otherwise), one configuration for uvicorn and us."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")  # the last whole second formatted, and its text


def timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond, as `datetime.isoformat` writes it; the second's text is made once a
    second (formatting a datetime cost more than the rest of an access-log line)."""
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}+00:00"


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """The one JSON shape of every log line, the service's own and the access log's."""
    record = {"ts": timestamp(created), "level": level, "logger": logger, "message": message, **fields}
    return orjson.dumps(record, default=str).decode()


def chosen_format(log_format: str, stream: TextIO | None = None) -> str:
    """`auto`: text for a person at a terminal, JSON for anything else (a pipe, a file, a log collector)."""
    if log_format != "auto":
        return log_format
    stream = stream or sys.stderr
    return "text" if stream.isatty() else "json"


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in record.__dict__.items() if key not in _STANDARD}
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), fields)


class AccessLog:
    """One line per request, written in batches.

    Through `logging`, a request line cost as much as deciding the request (a record, a formatter and a
    flushed write each time). This writes the same JSON (or text) line itself, buffers it, and writes the
    buffer when it holds BATCH lines or when `flush` is called: the app does so twice a second and at
    shutdown, so a line reaches the log within half a second.
    """

    BATCH = 256

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        self.log_format = chosen_format(log_format, stream)
        self.stream = stream
        self._lines: list[str] = []

    def write(self, fields: dict[str, Any]) -> None:
        now = time.time()
        if self.log_format == "json":
            line = json_line(now, "info", "locator.access", "request", fields)
        else:
            line = f"{timestamp(now)} INFO locator.access: request " + " ".join(f"{k}={v}" for k, v in fields.items())
        self._lines.append(line)
        if len(self._lines) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        text, self._lines = "\n".join(self._lines) + "\n", []
        stream = self.stream or sys.stderr
        stream.write(text)
        stream.flush()


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """A dictConfig for the root logger, uvicorn's loggers and ours (uvicorn's access log is off: ours is)."""
    formatter = (
        {"()": JSONFormatter}
        if chosen_format(log_format) == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            # one line per probe or sync request at info: only their problems are news
            "httpx2": {"handlers": [], "level": "WARNING", "propagate": True},
            "httpcore2": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }
