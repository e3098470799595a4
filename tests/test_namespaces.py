"""Namespaces: prefix matching on whole segments, public data, the namespaces file, and the shipped data as
derived from OSG Topology's own rule."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from locator.core.namespaces import Namespace, NamespaceTable, clean_request_path, link_depth
from locator.sources.caches_file import load_caches
from locator.sources.namespaces_file import NamespaceFileError, load_namespaces

REPO = Path(__file__).resolve().parent.parent
TABLE = NamespaceTable(
    Namespace(path, token)
    for path, token in [
        ("/igwn/test", True),
        ("/igwn/test-write", True),
        ("/ospool/ap2", False),
        ("/ospool/ap2/private", True),
        ("/Gluex", False),
        ("/gluex", False),
    ]
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/igwn/test/file", "/igwn/test"),
        ("/igwn/test-write/file", "/igwn/test-write"),  # not /igwn/test: whole segments only
        ("/igwn/test", "/igwn/test"),
        ("/ospool/ap2/x", "/ospool/ap2"),
        ("/ospool/ap2/private/x", "/ospool/ap2/private"),  # the longest prefix wins
        ("/ospool/ap2/privateer/x", "/ospool/ap2"),
        ("/Gluex/a", "/Gluex"),
        ("/gluex/a", "/gluex"),  # paths are case-sensitive
        ("/ospool/ap2/../../igwn/test/f", "/igwn/test"),  # as the cache will resolve it
        ("//igwn///test/./f", "/igwn/test"),
    ],
    ids=lambda value: value,
)
def test_longest_listed_prefix_on_whole_segments(path: str, expected: str) -> None:
    namespace = TABLE.resolve(path)
    assert namespace.listed and namespace.path == expected


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/ospool/ap20/data/x", "/ospool/ap20"),  # /ospool holds listed namespaces: stop one segment lower
        ("/igwn/other/x", "/igwn/other"),
        ("/chtc/data/x", "/chtc"),  # nothing listed below /chtc: the first segment stands for it
        ("/file.txt", "/file.txt"),
        ("/igwn", None),  # above listed namespaces: no prefix can stand for it without covering them
        ("/", None),
    ],
)
def test_public_data_gets_the_shortest_prefix_that_covers_no_listed_namespace(path: str, prefix: str | None) -> None:
    namespace = TABLE.resolve(path)
    assert namespace == Namespace(prefix, require_token=False, listed=False)


def test_link_depth_counts_segments_below_the_prefix_as_pelican_does() -> None:
    assert link_depth("/igwn/test/a/b.gwf", "/igwn/test") == 2
    assert link_depth("/igwn/test", "/igwn/test") == 0
    assert link_depth("/igwn/test/", "/igwn/test") == 0
    assert link_depth("/a/b/c", None) == 3
    assert clean_request_path("/a/../../b") == "/b"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path\n/a\n", "missing column"),
        ("path,require_token\ngwdata,false\n", "line 2: namespace path 'gwdata' must start with '/'"),
        ("path,require_token\n/a/,false\n", "line 2: .*trailing"),
        ("path,require_token\n/a/../b,false\n", "line 2: .*'\\.\\.'"),
        ("path,require_token\n/a,maybe\n", "line 2: require_token 'maybe'"),
        ("path,require_token\n/a,true\n/a,false\n", "line 3: duplicate namespace /a"),
    ],
)
def test_bad_namespace_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "namespaces.csv"
    path.write_text(content)
    with pytest.raises(NamespaceFileError, match=message):
        load_namespaces(path)


def test_a_missing_namespaces_file_lists_nothing(tmp_path: Path) -> None:
    assert len(load_namespaces(tmp_path / "absent.csv")) == 0
    assert len(load_namespaces(None)) == 0


# --- the shipped data, derived from OSG Topology (data/sources: the extracts, same snapshot as caches.csv) -------

SOURCES = REPO / "data" / "sources"


def topology_pairs() -> list[dict[str, str]]:
    with (SOURCES / "osdf_namespace_caches.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_shipped_namespaces_are_topologys_with_their_token_rule() -> None:
    listing = json.loads((SOURCES / "osdf_namespaces.json").read_text())
    shipped = {ns.path: ns.require_token for ns in load_namespaces(REPO / "data" / "namespaces.csv")}
    assert shipped == {entry["path"]: entry["usetokenonread"] for entry in listing["namespaces"]}
    assert sum(shipped.values()) == 8  # LIGO's token namespaces; /gwdata and GlueX's two are public


def test_each_shipped_cache_serves_what_topologys_rule_allows() -> None:
    """Topology's pair table (AllowedVOs x AllowedCaches) against the caches file's `namespaces` column, and the
    public-data rule (AllowedVOs ANY or ANY_PUBLIC) against `public`."""
    allowed: dict[str, set[str]] = {}
    vos: dict[str, str] = {}
    for row in topology_pairs():
        allowed.setdefault(row["cache"], set()).add(row["namespace"])
        vos[row["cache"]] = row["cache_allowed_vos"]
    for overlay in (REPO / "data" / "caches.csv", REPO / "deploy" / "k8s" / "overlays" / "large" / "caches.csv"):
        for cache in load_caches(overlay).caches:
            assert set(cache.namespaces) == allowed.get(cache.name, set()), cache.name
            assert cache.public == bool({"ANY", "ANY_PUBLIC"} & set(vos.get(cache.name, "").split(";"))), cache.name


def test_the_44_active_caches_split_as_topology_says() -> None:
    """README of the extracts: of the 44 active caches, 21 serve all 11 namespaces, 9 only the public ones, 5 only
    LIGO's, 4 only /gwdata, 5 none."""
    caches = load_caches(REPO / "deploy" / "k8s" / "overlays" / "large" / "caches.csv").caches
    public = {"/gwdata", "/Gluex", "/gluex"}
    ligo = {ns.path for ns in load_namespaces(REPO / "data" / "namespaces.csv")} - {"/Gluex", "/gluex"}

    def kind(served: frozenset[str]) -> str:
        if len(served) == 11:
            return "all"
        if served == public:
            return "public"
        if served == ligo:
            return "ligo"
        return {frozenset({"/gwdata"}): "gwdata", frozenset(): "none"}[served]

    assert len(caches) == 44
    assert Counter(kind(cache.namespaces) for cache in caches) == {
        "all": 21,
        "public": 9,
        "ligo": 5,
        "gwdata": 4,
        "none": 5,
    }
