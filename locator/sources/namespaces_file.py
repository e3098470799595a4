"""The namespaces file (LOCATOR_NAMESPACES_FILE): path prefixes and whether reading them needs a token."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from locator.core.namespaces import Namespace, NamespaceTable, check_path
from locator.sources.files import parse_rows, read_table

COLUMNS = ("path", "require_token")


class NamespaceFileError(ValueError):
    """The namespaces file cannot be used; the message names the file and the line."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0", ""):
        return False
    raise ValueError(f"require_token {text!r} is not true or false")


def parse_namespaces(lines: Iterable[str], source: str) -> NamespaceTable:
    seen: set[str] = set()

    def namespace(row: dict[str, str]) -> Namespace:
        path = check_path(row.get("path") or "")
        if path in seen:
            raise ValueError(f"duplicate namespace {path}")
        seen.add(path)
        return Namespace(path, _bool(row.get("require_token") or ""))

    return NamespaceTable(parse_rows(lines, COLUMNS, source, NamespaceFileError, namespace))


def load_namespaces(path: Path | None) -> NamespaceTable:
    """Read the namespaces file; a missing file means no listed namespace (every path is public data)."""
    if path is None or not path.exists():
        return NamespaceTable()
    return read_table(path, parse_namespaces, NamespaceFileError, "namespaces file")
