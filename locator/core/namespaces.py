"""Namespaces: which part of the federation's path tree a request is for, and whether reading it needs a token.

A request path belongs to the listed namespace with the longest prefix, matched on whole path segments
(`/igwn/test` is not a prefix of `/igwn/test-write/x`). A path in no listed namespace is public data (OSG
Topology lists only the namespaces with restrictions; every other path is served by the caches open to
public data); it is given the shortest prefix of its own that has no listed namespace beneath it, so that a
client reusing the answer for that prefix (Pelican caches director answers by namespace) never applies it
to a listed namespace.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass

MAX_PATH_CHARS = 1024
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # C0 controls and DEL; a regex scans ~20x faster than ord() per char


def has_control(text: str) -> bool:
    """CR, LF and the other control characters: never in a path we echo or match."""
    return _CONTROL.search(text) is not None


@dataclass(frozen=True, slots=True)
class Namespace:
    """A path prefix of the federation. `listed`: from the namespaces file; otherwise public data.

    `path` is None for a public-data path that lies above listed namespaces (`/`, `/igwn`): no prefix of it
    can stand for it without also covering them.
    """

    path: str | None
    require_token: bool = False
    listed: bool = True


ROOT = "/"  # the namespace of the whole tree: a director may list it, an origin may export it


def check_path(text: str) -> str:
    """A namespace path as written in the files: `/a/b` (or `/`, the whole tree), whole segments, no trailing
    slash, no dots."""
    path = text.strip()
    if path == ROOT:
        return path
    if not path.startswith("/"):
        raise ValueError(f"namespace path {text!r} must start with '/'")
    if len(path) > MAX_PATH_CHARS or has_control(path):
        raise ValueError(
            f"namespace path {text!r} is longer than {MAX_PATH_CHARS} characters or has control characters"
        )
    if any(segment in ("", ".", "..") for segment in path[1:].split("/")):
        raise ValueError(f"namespace path {text!r} has an empty, '.' or '..' segment (or a trailing '/')")
    return path


def clean_request_path(path: str) -> str:
    """A decoded request path as a cache would resolve it: `..` and `.` applied, repeated slashes folded."""
    if path[:1] == "/" and "//" not in path and "/." not in path and (path == "/" or path[-1] != "/"):
        return path  # clean already (most are): nothing for normpath to do
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + cleaned.lstrip("/")


def prefixes(cleaned: str) -> Iterator[str]:
    """The whole-segment prefixes of a clean path, longest first, ending with `/`: longest-prefix matching as
    Pelican's LongestNSMatch (`/foo` covers `/foo/bar`, not `/foobar`; `/` covers everything)."""
    parts = cleaned.split("/")
    for end in range(len(parts), 1, -1):
        yield "/".join(parts[:end])
    yield ROOT


def longest_prefix(cleaned: str, paths: Container[str]) -> str | None:
    """The longest of `paths` that covers a clean request path, or None."""
    for prefix in prefixes(cleaned):
        if prefix in paths:
            return prefix
    return None


def link_depth(path: str, prefix: str | None) -> int:
    """Path segments between a namespace prefix and the object, as Pelican's getLinkDepth (RFC 6249 `depth`)."""
    rest = path[len(prefix) :] if prefix and path.startswith(prefix) else path
    rest = rest.strip("/")
    return len(rest.split("/")) if rest else 0


class NamespaceTable:
    """The listed namespaces, looked up by the segments of a request path."""

    def __init__(self, namespaces: Iterable[Namespace] = ()) -> None:
        self._by_path: dict[str, Namespace] = {}
        self._above: set[str] = set()  # proper prefixes of listed paths: public paths must not stop there
        for namespace in namespaces:
            if namespace.path is None or not namespace.listed:
                raise ValueError(f"{namespace} is not a listed namespace")
            self._by_path[namespace.path] = namespace
            parts = namespace.path.split("/")
            self._above.update("/".join(parts[:end]) for end in range(2, len(parts)))

    def __len__(self) -> int:
        return len(self._by_path)

    def __iter__(self) -> Iterator[Namespace]:
        return iter(self._by_path.values())

    def __contains__(self, path: object) -> bool:
        return path in self._by_path

    def resolve(self, path: str) -> Namespace:
        """The namespace of a request path (decoded); see the module docstring for public data."""
        cleaned = clean_request_path(path)
        listed = longest_prefix(cleaned, self._by_path)
        if listed is not None:
            return self._by_path[listed]
        parts = cleaned.split("/")
        for end in range(2, len(parts) + 1):
            prefix = "/".join(parts[:end])
            if prefix not in self._above and prefix != "/":
                return Namespace(prefix, require_token=False, listed=False)
        return Namespace(None, require_token=False, listed=False)
