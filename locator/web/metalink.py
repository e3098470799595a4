"""Metalink 4 (RFC 5854): the ordered caches for one object as prioritised URLs, for clients that fail over
through metalinks (davix and gfal2 ask the object's URL again with `Accept: application/metalink4+xml` when a
transfer fails; aria2 reads a Metalink document it is given). The 307 advertises the document with
`Link: <...>; rel=describedby; type="application/metalink4+xml"` (RFC 6249).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote
from xml.etree import ElementTree

MEDIA_TYPE = "application/metalink4+xml"
CONTENT_TYPE = MEDIA_TYPE.encode()
NAMESPACE = "urn:ietf:params:xml:ns:metalink"
ElementTree.register_namespace("", NAMESPACE)  # written as the default namespace, not `ns0:`


def quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def accept_header(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """A request's Accept header lines read as one list (RFC 9110: repeated lines are one field), if they name
    the Metalink type; most requests have none that does, and cost a scan."""
    lines = [value for name, value in headers if name == b"accept"]
    if not any(b"metalink4" in value.lower() for value in lines):
        return None
    return b",".join(lines).decode("latin-1")


def wanted(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request prefers a Metalink to anything else (`accepts`)."""
    accept = accept_header(headers)
    return accept is not None and accepts(accept)


def negotiate(headers: Iterable[tuple[bytes, bytes]], path: str) -> tuple[bool, str | None]:
    """For an object's URL: (whether the request prefers the Metalink itself, the `Link` value naming it for a
    request that names the type without preferring it, as aria2 does; None for the others, which never see it:
    Pelican's clients read every `<...>` of a Link field as a cache)."""
    accept = accept_header(headers)
    if accept is None:
        return False, None
    return (True, None) if accepts(accept) else (False, described_by(path))


def accepts(accept: str) -> bool:
    """Whether an Accept header prefers a Metalink to anything else: the type named with a higher q than any
    wildcard range. davix asks for it alone; aria2 lists it beside `*/*` and gets the object (a redirect) as
    any client does, since it may not follow the document (`--follow-metalink=false` still lists it)."""
    wanted = wildcard = 0.0
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        kind = kind.lower()
        if kind == MEDIA_TYPE:
            wanted = max(wanted, quality(params))
        elif kind.endswith("/*"):
            wildcard = max(wildcard, quality(params))
    return wanted > wildcard


# What XML 1.0 cannot carry (its Char production): C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def file_name(path: str) -> str:
    """The `name` of the file element: the object's last segment (RFC 5854 forbids directories climbing up),
    with what XML cannot carry percent-encoded (as in the object's URLs)."""
    name = posixpath.basename(path.rstrip("/"))
    name = NOT_XML.sub(lambda match: quote(match.group(), errors="surrogatepass"), name)
    return name if name not in ("", ".", "..") else "object"


def document(urls: Sequence[str], path: str, generator: str) -> bytes:
    """The Metalink for one object: each URL with its priority, 1 the most preferred."""
    root = ElementTree.Element(f"{{{NAMESPACE}}}metalink")
    ElementTree.SubElement(root, f"{{{NAMESPACE}}}generator").text = generator
    entry = ElementTree.SubElement(root, f"{{{NAMESPACE}}}file", name=file_name(path))
    for priority, url in enumerate(urls, 1):
        ElementTree.SubElement(entry, f"{{{NAMESPACE}}}url", priority=str(priority)).text = url
    ElementTree.indent(root)
    written: bytes = ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return written + b"\n"


def described_by(path: str) -> str:
    """The `Link` value naming the Metalink of an object at this service. `path` is percent-encoded as a
    redirect's (locator.web.redirect.checked_path): only `&` and `+` mean something else in a query value."""
    value = path.replace("+", "%2B").replace("&", "%26")
    return f'</nearest?path={value}&format=metalink>; rel=describedby; type="{MEDIA_TYPE}"'
