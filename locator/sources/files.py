"""Writing files so that readers never see half of one: build beside the target, then rename over it."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

STALE_S = 60.0  # a temporary file this old was left by a writer that was killed; no writer takes this long


Signature = tuple[int, int, int] | None  # (inode, size, mtime in ns), None when the file is missing


def signature(path: Path | None) -> Signature:
    """What tells a replaced or rewritten file from the one read before."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it atomically replaces `path`.

    An exception leaves the old file (or none), never a half-written one, and no temporary file. A writer
    killed outright (SIGKILL, power loss) cannot clean up: its temporary file, and an SQLite journal beside
    it, are removed by the next write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):  # with what a killed writer left beside it (-journal)
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


def parse_rows(
    lines: Iterable[str],
    required: Sequence[str],
    source: str,
    error: Callable[[str], Exception],
    parse_row: Callable[[dict[str, str]], T],
) -> list[T]:
    """Each row through `parse_row`; a missing column, or a ValueError a row raises, becomes `error` naming the
    source and the line, so that every data file reports a bad row the same way."""
    try:
        reader = table_reader(lines, required)
    except ValueError as exc:
        raise error(f"{source}: {exc}") from None
    parsed = []
    for row in reader:
        try:
            parsed.append(parse_row(row))
        except ValueError as exc:
            raise error(f"{source}, line {reader.line_num}: {exc}") from None
    return parsed


READ_TRIES = 3


def read_table(path: Path, parse: Callable[[Iterable[str], str], T], error: Callable[[str], Exception], what: str) -> T:
    """Open and parse one data file (`parse(lines, source name)`); a missing file, an unreadable one, bad
    UTF-8 or broken CSV become `error` with one line naming the file.

    A file that is still being written must not go into service: one that changes while it is read is read
    again, and one whose last line has no newline is refused as cut short (files are replaced by renaming
    a complete one into place, which a reader never sees half-way).
    """
    try:
        for _ in range(READ_TRIES):
            with path.open("rb") as raw:
                before = os.fstat(raw.fileno())
                if before.st_size and os.pread(raw.fileno(), 1, before.st_size - 1) != b"\n":
                    raise error(f"{path}: {what} does not end with a newline: cut short, or still being written?")
                with io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
                    value = parse(handle, str(path))
                    after = os.fstat(raw.fileno())
            if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
                return value
            time.sleep(0.1)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    raise error(f"{path}: {what} changed while being read, {READ_TRIES} times: still being written?")
