"""The namespaces file (LOCATOR_NAMESPACES_FILE): path prefixes and whether reading them needs a token."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from locator.core.namespaces import Namespace, NamespaceTable, check_path
from locator.sources.files import read_table, table_reader

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
    try:
        reader = table_reader(lines, COLUMNS)
    except ValueError as exc:
        raise NamespaceFileError(f"{source}: {exc}") from None
    namespaces: dict[str, Namespace] = {}
    for row in reader:
        try:
            path = check_path(row.get("path") or "")
            namespace = Namespace(path, _bool(row.get("require_token") or ""))
        except ValueError as exc:
            raise NamespaceFileError(f"{source}, line {reader.line_num}: {exc}") from None
        if path in namespaces:
            raise NamespaceFileError(f"{source}, line {reader.line_num}: duplicate namespace {path}")
        namespaces[path] = namespace
    return NamespaceTable(namespaces.values())


def load_namespaces(path: Path | None) -> NamespaceTable:
    """Read the namespaces file; a missing file means no listed namespace (every path is public data)."""
    if path is None or not path.exists():
        return NamespaceTable()
    return read_table(path, parse_namespaces, NamespaceFileError, "namespaces file")
