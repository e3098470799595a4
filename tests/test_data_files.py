"""Loading the cache and override files: the shipped ones, and clear errors for broken ones."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import pytest

from locator.sources.caches_file import CacheFileError, load_caches
from locator.sources.files import read_table
from locator.sources.overrides_file import OverridesError, load_overrides

REPO = Path(__file__).resolve().parent.parent
HEADER = "name,endpoint,latitude,longitude,status\n"


def test_shipped_cache_files_load() -> None:
    current = load_caches(REPO / "data" / "caches.csv")
    assert len(current.caches) == 42
    assert all(cache.endpoint.startswith("https://") for cache in current.caches)
    fzu = current.named("FZU_STASH")
    assert fzu is not None and fzu.downtime and fzu.status == "up" and not fzu.in_service
    assert len(current.in_service) == 41
    worker = load_caches(REPO / "data" / "evaluation" / "2022" / "caches.csv")
    assert [c.authority for c in worker.caches][:2] == [
        "osg.chic.nrp.internet2.edu:8000",
        "osg.kans.nrp.internet2.edu:8000",
    ]
    assert len(worker.in_service) == 9


def test_shipped_overrides_are_empty() -> None:
    assert len(load_overrides(REPO / "data" / "overrides.csv")) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,endpoint\n", "missing column"),
        (HEADER + "A,ftp://a.example,1,2,up\n", "line 2: endpoint 'ftp://a.example' is not"),
        (HEADER + "A,https://user:pw@a.example,1,2,up\n", "credentials"),
        (HEADER + "A,https://a.example?x=1,1,2,up\n", "query"),
        (HEADER + "A,https://a.example:99999,1,2,up\n", "invalid port"),
        (HEADER + "A,https://a.example:0,1,2,up\n", "invalid port"),
        (HEADER + "A,https://a.example:,1,2,up\n", "invalid port"),
        (HEADER + "A,https://a.example?,1,2,up\n", "query"),
        (HEADER + "A,https://a.example#,1,2,up\n", "fragment"),
        (HEADER + "A,https://a.exa\\mple,1,2,up\n", "backslash"),
        (HEADER + "A,https://osdf1.,1,2,up\n", "'osdf1.' is not a host name"),  # a file cut mid-URL
        (HEADER + "A,https://a_b.example,1,2,up\n", "not a host name"),
        (HEADER + "A,https://-a.example,1,2,up\n", "not a host name"),
        (HEADER + "A,https://a..example,1,2,up\n", "not a host name"),
        (HEADER + "A,https://10.1,1,2,up\n", "not a host name"),
        (HEADER + "A,https://a.example,1,2,up", "does not end with a newline"),
        (HEADER + "A,https://a.example,91,2,up\n", "line 2: latitude"),
        (HEADER + "A,https://a.example,1,2,maybe\n", "status 'maybe'"),
        (HEADER + "A,https://a.example,1,2,up\nA,https://b.example,1,2,up\n", "line 3: duplicate cache name"),
        (HEADER + ",https://a.example,1,2,up\n", "name is empty"),
        (HEADER, "no cache is in service"),
        ("name,endpoint,latitude,longitude,downtime\nA,https://a.example,1,2,true\n", "no cache is in service"),
        ("name,endpoint,latitude,longitude,weight\nA,https://a.example,1,2,-1\n", "line 2: weight '-1'"),
        ("name,endpoint,latitude,longitude,weight\nA,https://a.example,1,2,nan\n", "line 2: weight 'nan'"),
        ("name,endpoint,latitude,longitude,downtime\nA,https://a.example,1,2,soon\n", "downtime 'soon'"),
        ("name,endpoint,latitude,longitude,namespaces\nA,https://a.example,1,2,gwdata\n", "must start with '/'"),
        ("name,endpoint,latitude,longitude,namespaces\nA,https://a.example,1,2,/a/\n", "trailing"),
        ("name,endpoint,latitude,longitude,namespaces\nA,https://a.example,1,2,none;public\n", "cannot be combined"),
    ],
)
def test_bad_cache_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "caches.csv"
    path.write_text(content)
    with pytest.raises(CacheFileError, match=message):
        load_caches(path)


def test_missing_and_undecodable_cache_file(tmp_path: Path) -> None:
    with pytest.raises(CacheFileError, match="not found"):
        load_caches(tmp_path / "nope.csv")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(CacheFileError, match="can.t decode"):
        load_caches(path)


@pytest.mark.parametrize(
    "endpoint",
    ["https://a.example.org:8443", "http://129.93.1.1:8000/base", "https://[2001:4860::1]:8443", "https://A-1.ORG"],
)
def test_good_endpoints(tmp_path: Path, endpoint: str) -> None:
    path = tmp_path / "caches.csv"
    path.write_text(f"{HEADER}A,{endpoint}/,1,2,up\n")
    assert load_caches(path).caches[0].endpoint == endpoint


RISKY_ENDPOINTS = [
    "http://169.254.169.254/latest",  # the cloud metadata service
    "http://localhost:6379",
    "http://cache.localhost:8000",
    "http://127.0.0.1:8000",
    "http://10.1.2.3:8000",
    "http://[::1]:8443",
    "http://[fd00:ec2::254]",  # AWS's metadata service over IPv6
    "http://0.0.0.0:8000",
    "http://192.0.2.1:8000",  # documentation: not on the Internet either
]


@pytest.mark.parametrize("endpoint", RISKY_ENDPOINTS)
def test_endpoints_of_this_hosts_own_networks_are_refused_unless_allowed(tmp_path: Path, endpoint: str) -> None:
    """Finding 7: every redirect sends clients to an endpoint and the prober fetches it, so one at loopback, a
    private or link-local network (metadata) or another non-public address is refused unless the operator allows
    it (LOCATOR_ALLOW_PRIVATE_ENDPOINTS, for tests and single-host setups)."""
    path = tmp_path / "caches.csv"
    path.write_text(f"{HEADER}A,{endpoint},1,2,up\n")
    with pytest.raises(CacheFileError, match="LOCATOR_ALLOW_PRIVATE_ENDPOINTS"):
        load_caches(path)
    assert load_caches(path, allow_private=True).caches[0].endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("https://[fe80::1%25eth0]:8443", "a %-escape"),  # an interface of whatever host reads it
        ("https://" + "a" * 60_000 + ".example", "longer than 256 characters"),
    ],
)
def test_zone_ids_and_oversized_endpoints_are_refused_always(tmp_path: Path, endpoint: str, message: str) -> None:
    path = tmp_path / "caches.csv"
    path.write_text(f"{HEADER}A,{endpoint},1,2,up\n")
    with pytest.raises(CacheFileError, match=message):
        load_caches(path, allow_private=True)
    assert len(str(pytest.raises(CacheFileError, load_caches, path).value)) < 300  # the error is one short line


@pytest.mark.parametrize(
    ("name", "message"),
    [('"#hidden"', "starts with '#'"), ("a\tb", "not printable"), ("x" * 129, "longer than 128")],
)
def test_a_name_the_file_cannot_hold_is_an_error(tmp_path: Path, name: str, message: str) -> None:
    """Finding 7: a name the file format cannot hold is an error, never a silent drop (a line starting with `#`
    is a comment)."""
    path = tmp_path / "caches.csv"
    path.write_text(f"{HEADER}{name},https://a.example,1,2,up\nB,https://b.example,1,2,up\n")
    with pytest.raises(CacheFileError, match=message):
        load_caches(path)


def test_a_file_that_changes_while_being_read_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "caches.csv"
    path.write_text(HEADER + "A,https://a.example,1,2,up\n")
    reads: list[int] = []

    def parse(lines: Iterable[str], source: str) -> list[str]:
        rows = list(lines)
        reads.append(len(rows))
        if len(reads) == 1:
            with path.open("a") as handle:  # a writer appending while we read
                handle.write("B,https://b.example,1,2,up\n")
        return rows

    assert len(read_table(path, parse, CacheFileError, "cache file")) == 3
    assert reads == [2, 3]

    def always_changing(lines: Iterable[str], source: str) -> list[str]:
        with path.open("a") as handle:
            handle.write("C,https://c.example,1,2,up\n")
        return list(lines)

    with pytest.raises(CacheFileError, match="changed while being read, 3 times"):
        read_table(path, always_changing, CacheFileError, "cache file")


def test_overrides_longest_prefix_wins(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text(
        "network,latitude,longitude,note\n129.93.0.0/16,1,1,wide\n129.93.5.0/24,2,2,narrow\n::/0,3,3,every ipv6\n"
    )
    table = load_overrides(path)
    assert len(table) == 3
    hit = table.lookup(ipaddress.ip_address("129.93.5.9"))
    assert hit is not None and hit.note == "narrow"
    hit = table.lookup(ipaddress.ip_address("129.93.6.9"))
    assert hit is not None and hit.note == "wide"
    assert table.lookup(ipaddress.ip_address("8.8.8.8")) is None
    hit = table.lookup(ipaddress.ip_address("2001:db8::1"))
    assert hit is not None and hit.note == "every ipv6"


def test_missing_overrides_file_is_empty_and_a_bad_one_is_an_error(tmp_path: Path) -> None:
    assert len(load_overrides(tmp_path / "none.csv")) == 0
    assert len(load_overrides(None)) == 0
    path = tmp_path / "o.csv"
    path.write_text("network,latitude,longitude\n999.1.1.0/24,1,1\n")
    with pytest.raises(OverridesError, match="line 2"):
        load_overrides(path)
