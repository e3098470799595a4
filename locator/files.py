"""Writing files so that readers never see half of one: build beside the target, then rename over it."""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

STALE_S = 60.0  # a temporary file this old was left by a writer that was killed; no writer takes this long


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it atomically replaces `path`.

    An exception leaves the old file (or none), never a half-written one, and no temporary file. A writer
    killed outright (SIGKILL, power loss) cannot clean up: its temporary file is removed by the next write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with suppress(OSError):
            if time.time() - stale.stat().st_mtime > STALE_S:
                stale.unlink()
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> int:
    """Write a CSV with a header atomically (see `replacing`); returns the number of data rows."""
    count = 0
    with replacing(path) as temp, temp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def table_reader(lines: Iterable[str], required: Sequence[str]) -> csv.DictReader[str]:
    """A CSV DictReader that skips `#` comment lines; ValueError if a required column is missing."""
    reader = csv.DictReader(line for line in lines if not line.lstrip().startswith("#"))
    missing = [col for col in required if col not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    return reader


def read_table(path: Path, parse: Callable[[Iterable[str], str], T], error: Callable[[str], Exception], what: str) -> T:
    """Open and parse one data file (`parse(lines, source name)`); a missing file, an unreadable one, bad
    UTF-8 or broken CSV become `error` with one line naming the file."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return parse(handle, str(path))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
