"""Metalink 4 answers (RFC 5854) and their advertisement on the redirect (RFC 6249)."""

from __future__ import annotations

from urllib.parse import quote, unquote
from xml.etree import ElementTree
from xml.parsers import expat

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from locator.web.metalink import MEDIA_TYPE, NAMESPACE, accepts, file_name

HOUSTON = {"cf-iplatitude": "29.8", "cf-iplongitude": "-95.3", "cf-ipcity": "Houston", "cf-ray": "0-IAH"}
NS = {"m": NAMESPACE}


def urls(response: object) -> list[tuple[str, str]]:
    """(priority, URL) of every url element of the one file, in document order; checks the document's shape."""
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.headers["content-type"] == MEDIA_TYPE  # type: ignore[attr-defined]
    root = ElementTree.fromstring(response.content)  # type: ignore[attr-defined]
    assert root.tag == f"{{{NAMESPACE}}}metalink"
    assert root.find("m:generator", NS) is not None
    (entry,) = root.findall("m:file", NS)
    return [(url.get("priority", ""), url.text or "") for url in entry.findall("m:url", NS)]


def test_format_metalink_lists_every_cache_that_may_serve_the_object(client: TestClient) -> None:
    order = [c["endpoint"] for c in client.get("/nearest", headers=HOUSTON).json()["caches"]]
    response = client.get("/nearest", params={"path": "/ospool/a b/file.txt", "format": "metalink"}, headers=HOUSTON)
    assert urls(response) == [(str(i), f"{endpoint}/ospool/a%20b/file.txt") for i, endpoint in enumerate(order, 1)]
    root = ElementTree.fromstring(response.content)
    assert root.find("m:file", NS).get("name") == "file.txt"  # type: ignore[union-attr]
    assert response.headers["cache-control"] == "no-store" and response.headers["vary"] == "Accept"


def test_the_accept_header_asks_for_it_too(client: TestClient) -> None:
    asked = {**HOUSTON, "accept": "application/metalink4+xml, */*;q=0.1"}
    by_header = client.get("/nearest", params={"path": "/ospool/file.txt"}, headers=asked)
    by_format = client.get("/nearest", params={"path": "/ospool/file.txt", "format": "metalink"}, headers=HOUSTON)
    assert urls(by_header) == urls(by_format)
    # without an object there is nothing to describe: the usual JSON; an explicit format wins over the header
    assert client.get("/nearest", headers=asked).headers["content-type"] == "application/json"
    text = client.get("/nearest", params={"path": "/ospool/f", "format": "text"}, headers=asked)
    assert text.headers["content-type"].startswith("text/plain")


def test_format_metalink_without_a_path_is_a_bad_request(client: TestClient) -> None:
    response = client.get("/nearest", params={"format": "metalink"})
    assert (response.status_code, response.json()["error"]) == (400, "missing_path")


ARIA2 = {**HOUSTON, "accept": "*/*,application/metalink4+xml,application/metalink+xml"}


def test_the_redirect_names_it_only_to_a_client_that_names_the_type(client: TestClient) -> None:
    """Pelican's clients take every `<...>` of a Link field as a cache: they never see the Metalink's link. aria2
    names the type (beside `*/*`): it gets the redirect and, on a Link line of its own after the caches', the
    Metalink (RFC 6249 describedby), so that no proxy merging the lines can slip it among the caches."""
    plain = client.get("/ospool/O4/frame.gwf?authz=tok", headers=HOUSTON)
    assert plain.status_code == 307 and "describedby" not in plain.headers["link"]
    assert plain.headers.get_list("link") == [plain.headers["link"]]
    named = client.get("/ospool/O4/frame.gwf?authz=tok", headers=ARIA2)
    assert named.status_code == 307 and named.headers["vary"] == "Accept"
    caches, described = named.headers.get_list("link")
    assert caches == plain.headers["link"]
    assert described == (
        '</nearest?path=/ospool/O4/frame.gwf&format=metalink>; rel=describedby; type="application/metalink4+xml"'
    )


def test_the_objects_url_answers_it(client: TestClient) -> None:
    """davix and gfal2 ask the URL they were given again, with the Accept header, when a transfer fails."""
    redirect = client.get("/ospool/O4/frame.gwf?authz=tok", headers=ARIA2)
    described = redirect.headers.get_list("link")[1]
    duplicates = [link.split(">")[0][1:] for link in redirect.headers["link"].split(", ") if "duplicate" in link]
    again = client.get("/ospool/O4/frame.gwf?authz=tok", headers={**HOUSTON, "accept": MEDIA_TYPE})
    assert [url for _, url in urls(again)] == duplicates  # the same caches, the query kept
    followed = client.get(described[1 : described.index(">")], headers=HOUSTON)
    assert [url for _, url in urls(followed)] == [url.split("?")[0] for url in duplicates]
    assert client.head("/ospool/O4/frame.gwf", headers={**HOUSTON, "accept": MEDIA_TYPE}).status_code == 200


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("application/metalink4+xml", True),  # davix and gfal2 failing over
        ("text/html, Application/Metalink4+XML;q=0.5", True),
        ("application/metalink4+xml, */*;q=0.1", True),
        ("*/*,application/metalink4+xml,application/metalink+xml", False),  # aria2: anything will do
        ("application/metalink4+xml;q=0.5, application/*;q=0.9", False),
        ("application/metalink4+xml;q=0", False),
        ("application/metalink4+xml;q=x", False),
        ("application/metalink+xml", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_accepts(accept: str, wanted: bool) -> None:
    assert accepts(accept) is wanted


def test_file_names_never_climb() -> None:
    assert [file_name(p) for p in ("/a/b.txt", "/a/dir/", "/", "/a/..")] == ["b.txt", "dir", "object", "object"]


@pytest.mark.parametrize("path", ["/ospool/a+b&c=d/x%20y.txt", "/ospool/%C3%A9t%C3%A9/%3Fq.txt"])
def test_the_advertised_metalink_names_the_same_object(client: TestClient, path: str) -> None:
    """`+`, `&`, `=` and encoded octets survive the trip through the describedby link's query."""
    redirect = client.get(path, headers=ARIA2)
    caches, link = redirect.headers.get_list("link")
    duplicates = [entry.split(">")[0][1:] for entry in caches.split(", ")]
    described = link[1 : link.index(">")]
    assert [url for _, url in urls(client.get(described, headers=HOUSTON))] == duplicates


@given(segment=st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30))
@example(segment="\ufffe")
@example(segment="a\uffffb.txt")
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_metalink_the_service_sends_is_xml(client: TestClient, segment: str) -> None:
    """Finding 10: for any path the service accepts, by the object's URL or by `path=`, the document parses with
    expat (what XML 1.0 cannot carry, U+FFFE and U+FFFF among it, is percent-encoded in the file's name)."""
    path = "/ospool/" + quote(segment, safe="")
    for response in (
        client.get(path, headers={**HOUSTON, "accept": MEDIA_TYPE}),
        client.get("/nearest", params={"path": unquote(path), "format": "metalink"}, headers=HOUSTON),
    ):
        if response.status_code == 200:
            parser = expat.ParserCreate()
            parser.Parse(response.content, True)
        else:
            assert response.status_code == 400 and response.json()["error"] == "invalid_path", response.text


def test_a_name_xml_cannot_carry_is_encoded() -> None:
    assert file_name("/a/\ufffe\uffff.txt") == "%EF%BF%BE%EF%BF%BF.txt"


def test_several_accept_lines_are_one_list(client: TestClient) -> None:
    """Finding 10: `Accept: */*` and `Accept: application/metalink4+xml` on two lines are the list aria2 sends on
    one (RFC 9110): the redirect, not the document."""
    two_lines = client.get("/ospool/x.txt", headers=[*HOUSTON.items(), ("accept", "*/*"), ("accept", MEDIA_TYPE)])
    one_line = client.get("/ospool/x.txt", headers={**HOUSTON, "accept": f"*/*, {MEDIA_TYPE}"})
    assert two_lines.status_code == one_line.status_code == 307
