"""What Pelican's clients need of a director (issue 22), over HTTP to the real app: discovery, origins (direct reads,
listings, `collections-url`), the declared position header, the namespace `/`, and Pelican's own test cases that
map onto the locator (TestLongestNSMatch, TestGetLinkDepth) and its Go client's parse of the `Link` field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from locator.core.edge import read_declared
from locator.core.namespaces import link_depth, longest_prefix
from locator.settings import Settings, SettingsError
from locator.sources.caches_file import CacheFileError, load_caches
from locator.sources.sync import namespace_path

ClientFactory = Callable[..., TestClient]
MADISON = {"lat": "43.07", "lon": "-89.40"}
AT_MADISON = {"X-Pelican-Coordinate": "lat=43.07,long=-89.40"}  # where a redirect's query goes on to the server
ORIGINS = """\
MadisonOrigin,https://origin.madison.example:8443,43.0731,-89.4012,up,UW,/ligo/public;/data,origin
BostonOrigin,https://origin.boston.example:8443,42.36,-71.06,up,MIT,/ligo/public,origin
RootOrigin,https://root.example:8443,0,0,up,Anywhere,/,origin
"""


@pytest.fixture
def origins_client(data_dir: Path, make_client: ClientFactory) -> TestClient:
    caches = data_dir / "caches.csv"
    text = caches.read_text().replace("status,site\n", "status,site,namespaces,role\n", 1)
    text = text.replace("up,Internet2Chicago", "up,Internet2Chicago,/ligo/public;public,")
    caches.write_text(text + ORIGINS)
    return make_client()


def go_client_servers(link: str) -> list[str]:
    """Pelican's Go client (client/director.go, parseServersFromDirectorResponse) replayed: the first Link field
    line split on ',', spaces removed, each part split on ';': `<url>` is a server, `pri=N` its priority (0 when
    missing or not a number); stably sorted by priority."""
    servers: list[tuple[int, str]] = []
    for entry in link.split(","):
        url, priority = "", 0
        for value in entry.replace(" ", "").split(";"):
            if value.startswith("<"):
                url = value[1:-1]
            elif value.startswith("pri"):
                try:
                    priority = int(value[4:])
                except ValueError:
                    priority = 0
        servers.append((priority, url))
    return [url for _, url in sorted(servers, key=lambda item: item[0])]


def test_the_go_client_reads_the_caches_in_the_locators_order_and_nothing_else(client: TestClient) -> None:
    response = client.get("/ospool/file", params=MADISON, headers={"Accept": "*/*"})
    first_line = response.headers.get_list("link")[0]
    servers = go_client_servers(first_line)
    assert len(servers) == 6 and servers[0] == response.headers["location"]
    assert all(urlsplit(url).path == "/ospool/file" for url in servers)  # no Metalink entry among them
    asked = client.get("/ospool/file", params=MADISON, headers={"Accept": "application/metalink4+xml;q=0.5, */*"})
    lines = asked.headers.get_list("link")
    assert go_client_servers(lines[0]) == go_client_servers(response.headers.get_list("link")[0])
    assert len(lines) == 2 and "rel=describedby" in lines[1] and "describedby" not in lines[0]


def test_both_pelican_clients_read_the_same_servers(origins_client: TestClient) -> None:
    """pelicanfs's own parse (dir_header_parser.parse_director_response) and the Go client's agree on every answer
    kind: a cache's 307, an origin's, a listing's."""
    from pelicanfs.dir_header_parser import parse_director_response

    for response in (
        origins_client.get("/ligo/public/run1/file.gwf", headers=AT_MADISON),
        origins_client.get("/ospool/data/file", headers={**AT_MADISON, "Accept": "*/*"}),  # as pelicanfs asks
        origins_client.get("/api/v1.0/director/origin/ligo/public/run1/file.gwf", headers=AT_MADISON),
        origins_client.request("PROPFIND", "/ligo/public/run1", headers=AT_MADISON),
    ):
        parsed = parse_director_response(response.headers)
        assert parsed.object_servers == go_client_servers(response.headers.get_list("link")[0])
        assert parsed.location == response.headers["location"]
        namespace = response.headers.get("x-pelican-namespace")
        assert (parsed.x_pel_ns_hdr is None) == (namespace is None)


# TestLongestNSMatch (server_structs/director_test.go), the cases as written there; exports spelt with a trailing
# slash are read as `locator sync` reads a director's (`/foo/bar/` is the namespace /foo/bar).
LONGEST_MATCH = [
    ("prefers the deeper of two nested exports", "/foo/bar/baz", ["/foo", "/foo/bar"], "/foo/bar"),
    ("ad order does not decide the winner", "/foo/bar/baz", ["/foo/bar", "/foo"], "/foo/bar"),
    ("falls back to the shallower export", "/foo/other/baz", ["/foo", "/foo/bar"], "/foo"),
    ("a request path equal to the export prefix", "/foo/bar", ["/foo", "/foo/bar"], "/foo/bar"),
    ("the same with a trailing slash", "/foo/bar/", ["/foo", "/foo/bar"], "/foo/bar"),
    ("an export stored with a trailing slash", "/foo/bar/baz", ["/foo/bar/"], "/foo/bar"),
    ("not a sibling whose name merely starts the same", "/foobar/baz", ["/foo"], None),
    ("a root export covers everything", "/anything/at/all", ["/"], "/"),
    ("a deeper export still beats a root export", "/foo/bar", ["/", "/foo"], "/foo"),
    ("nothing when nothing matches", "/nowhere/object", ["/foo", "/bar"], None),
    ("nothing when there are no exports", "/foo/bar", [], None),
]


@pytest.mark.parametrize(("request_path", "exports", "expected"), [case[1:] for case in LONGEST_MATCH])
def test_pelicans_longest_namespace_match(request_path: str, exports: list[str], expected: str | None) -> None:
    from locator.core.namespaces import clean_request_path

    held = {namespace_path(path) for path in exports}
    assert longest_prefix(clean_request_path(request_path), held) == expected


# TestGetLinkDepth (director/director_test.go): the cases with a depth (its error cases are an empty path or
# prefix, and a prefix the path lacks, which the locator never asks: the prefix is the path's own namespace).
@pytest.mark.parametrize(
    ("path", "prefix", "depth"),
    [
        ("/foo/bar/barz.txt", "/foo/bar", 1),
        ("/foo/bar/barz.txt", "/foo/bar/", 1),
        ("/foo/bar/barz.txt", "/foo", 2),
        ("/foo/bar/barz.txt", "/foo/", 2),
        ("/foo/bar/barz.txt", "/", 3),
        ("/foo/barz.txt", "/foo", 1),
    ],
)
def test_pelicans_link_depth(path: str, prefix: str, depth: int) -> None:
    assert link_depth(path, prefix) == depth


def test_discovery_names_the_locator_itself(make_client: ClientFactory) -> None:
    plain = make_client(peer="198.51.100.9")
    response = plain.get("/.well-known/pelican-configuration", headers={"Host": "locator.example:8443"})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert response.json() == {"director_endpoint": "http://locator.example:8443"}
    # An untrusted peer's forwarded headers are not believed; a trusted proxy's are.
    forwarded = {"Host": "inside:8000", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "osdf.example"}
    assert plain.get("/.well-known/pelican-configuration", headers=forwarded).json() == {
        "director_endpoint": "http://inside:8000"
    }
    proxied = make_client(peer="127.0.0.1")
    assert proxied.get("/.well-known/pelican-configuration", headers=forwarded).json() == {
        "director_endpoint": "https://osdf.example"
    }
    bad = plain.get("/.well-known/pelican-configuration", headers={"Host": "evil.example/x?"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_host"
    set_url = make_client(public_url="https://osdf-locator.example/")
    assert set_url.get("/.well-known/pelican-configuration").json() == {
        "director_endpoint": "https://osdf-locator.example"
    }


@pytest.mark.parametrize("value", ["https://locator.example/director", "ftp://locator.example", "https://a:b@x.org"])
def test_a_public_url_with_a_path_or_another_scheme_is_refused(
    make_settings: Callable[..., Settings], value: str
) -> None:
    with pytest.raises(SettingsError, match="LOCATOR_PUBLIC_URL"):
        make_settings(public_url=value)


def test_direct_reads_and_listings_go_to_the_nearest_origin_exporting_the_path(origins_client: TestClient) -> None:
    for response in (
        origins_client.get("/api/v1.0/director/origin/ligo/public/run1/file.gwf?authz=x", headers=AT_MADISON),
        origins_client.get("/ligo/public/run1/file.gwf?directread&authz=x", headers=AT_MADISON),
        origins_client.request("PROPFIND", "/ligo/public/run1", headers={**AT_MADISON, "Depth": "1"}),
    ):
        assert response.status_code == 307, response.text
        location = urlsplit(response.headers["location"])
        assert location.netloc == "origin.madison.example:8443"
        assert location.query in ("authz=x", "directread&authz=x", "")  # path and query kept
        links = go_client_servers(response.headers["link"])
        assert [urlsplit(url).netloc for url in links] == [
            "origin.madison.example:8443",
            "origin.boston.example:8443",
        ]  # the origins exporting /ligo/public, nearest first; no cache
        assert response.headers["x-pelican-namespace"] == (
            "namespace=/ligo/public, require-token=false, collections-url=https://origin.madison.example:8443"
        )
    # The longest export wins; a root export covers what no other origin exports; it has no position (0,0).
    root = origins_client.get("/api/v1.0/director/origin/ospool/file", headers=AT_MADISON)
    assert root.status_code == 307 and root.headers["location"] == "https://root.example:8443/ospool/file"


def test_a_caches_redirect_names_where_to_list(origins_client: TestClient) -> None:
    response = origins_client.get("/ligo/public/run1/file.gwf", headers=AT_MADISON)
    assert response.status_code == 307
    assert urlsplit(response.headers["location"]).netloc == "chicago.example.org:8443"  # a cache, not an origin
    assert "collections-url=https://origin.madison.example:8443" in response.headers["x-pelican-namespace"]
    assert all("origin" not in url for url in go_client_servers(response.headers["link"]))


def test_no_origin_for_the_path_is_a_404(client: TestClient) -> None:
    for response in (
        client.get("/api/v1.0/director/origin/ospool/file"),
        client.request("PROPFIND", "/ospool/"),
        client.get("/ospool/file?directread"),
    ):
        assert response.status_code == 404 and response.json()["error"] == "no_origin"
    assert client.get("/ospool/file?directread=false").status_code == 307  # an explicit no: a cache
    other = client.request("DELETE", "/ospool/file")
    assert other.status_code == 405 and other.headers["allow"] == "GET, HEAD, PROPFIND"


def test_nearest_and_caches_show_origins_apart(origins_client: TestClient) -> None:
    body = origins_client.get("/nearest", params={**MADISON, "path": "/ligo/public/x"}).json()
    assert [cache["name"] for cache in body["caches"]][0] == "Chicago"
    assert [(o["name"], o["reason"]) for o in body["origins"]] == [
        ("MadisonOrigin", "nearest"),
        ("BostonOrigin", "distance"),
    ]
    assert origins_client.get("/nearest", params=MADISON).json()["origins"] == []  # no path: nothing to read
    listed = origins_client.get("/caches").json()
    assert "MadisonOrigin" not in {cache["name"] for cache in listed["caches"]}
    assert {(o["name"], tuple(o["exports"])) for o in listed["origins"]} == {
        ("MadisonOrigin", ("/data", "/ligo/public")),
        ("BostonOrigin", ("/ligo/public",)),
        ("RootOrigin", ("/",)),
    }
    assert next(o for o in listed["origins"] if o["name"] == "RootOrigin")["latitude"] is None  # 0,0: no position


def test_the_caches_file_role_column(tmp_path: Path) -> None:
    header = "name,endpoint,latitude,longitude,namespaces,role\n"
    caches = tmp_path / "caches.csv"
    caches.write_text(header + "A,https://a.example,40,-90,,\nO,https://o.example,41,-91,/x,origin\n")
    loaded = load_caches(caches)
    assert [c.name for c in loaded.caches] == ["A"] and [o.name for o in loaded.origins] == ["O"]
    for row, why in (
        ("O,https://o.example,41,-91,,origin", "must list the paths it exports"),
        ("O,https://o.example,41,-91,public,origin", "must list the paths it exports"),
        ("O,https://o.example,41,-91,/x,mirror", "role 'mirror'"),
    ):
        caches.write_text(header + "A,https://a.example,40,-90,,\n" + row + "\n")
        with pytest.raises(CacheFileError, match=why):
            load_caches(caches)


def test_an_unknown_column_is_reported_not_ignored(data_dir: Path, make_client: ClientFactory) -> None:
    caches = data_dir / "caches.csv"
    caches.write_text(caches.read_text().replace("status,site\n", "status,site,wieght\n", 1))
    ready = make_client().get("/readyz").json()
    assert ready["status"] == "degraded"
    assert any("wieght" in note for note in ready["degraded"])


def test_the_namespace_root_is_valid(data_dir: Path, make_client: ClientFactory) -> None:
    (data_dir / "namespaces.csv").write_text("path,require_token\n/,false\n/ligo/secret,true\n")
    caches = data_dir / "caches.csv"
    caches.write_text(
        caches.read_text()
        .replace("status,site\n", "status,site,namespaces\n", 1)
        .replace("up,Internet2Chicago", "up,Internet2Chicago,/")
    )
    client = make_client()
    response = client.get("/anything/at/all", params=MADISON)
    assert response.status_code == 307 and response.headers["x-pelican-namespace"].startswith("namespace=/, ")
    assert urlsplit(response.headers["location"]).netloc == "chicago.example.org:8443"  # the one serving /
    assert "depth=3" in response.headers["link"]


@pytest.mark.parametrize(
    ("header", "method", "skipped"),
    [
        ("lat=43.0739,long=-89.3848", "declared", None),
        ("lat = 5e-05 , long = -89.3848", "declared", None),  # what the Go client's %g writes, and spaces
        ("lat=0x1.5p5,long=-89.3848", "declared", None),  # Go's hexadecimal floats
        ("lat=91,long=0", "ignored", "out_of_range_x-pelican-coordinate"),
        ("long=-89.3848", "ignored", "malformed_x-pelican-coordinate"),
        ("lat=abc,long=-89.3848", "ignored", "malformed_x-pelican-coordinate"),
        ("lat=NaN,long=1", "ignored", "not_a_number_x-pelican-coordinate"),
    ],
)
def test_a_declared_position_header_from_any_peer(
    make_client: ClientFactory, header: str, method: str, skipped: str | None
) -> None:
    client = make_client(peer="203.0.113.7")  # no trusted proxy: the client's own word about itself still counts
    body = client.get("/nearest", headers={"X-Pelican-Coordinate": header, "CF-Connecting-IP": "1.2.3.4"}).json()
    assert (body["method"] == "declared") == (method == "declared")
    if skipped is not None:
        assert body["skipped"]["declared"] == skipped
    else:
        coordinate, _ = read_declared(header)
        assert coordinate is not None
        assert (body["client"]["latitude"], body["client"]["longitude"]) == (coordinate.latitude, coordinate.longitude)


def test_query_coordinates_win_over_the_header(client: TestClient) -> None:
    body = client.get("/nearest", params=MADISON, headers={"X-Pelican-Coordinate": "lat=29.76,long=-95.37"}).json()
    assert body["method"] == "declared" and body["client"]["latitude"] == 43.07
    houston = client.get("/nearest", headers={"X-Pelican-Coordinate": "lat=29.76,long=-95.37"}).json()
    assert houston["caches"][0]["name"] == "Houston"
