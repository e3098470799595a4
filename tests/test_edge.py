"""Reading client addresses and edge headers: forms, trust, malformed input."""

from __future__ import annotations

import ipaddress

import pytest

from locator.core.addresses import client_network, is_public, parse_ip
from locator.core.edge import EdgeContext, colo_from_ray, forwarded_client, read_edge

TRUSTED = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("129.93.1.1", "129.93.1.1"),
        (" 129.93.1.1 ", "129.93.1.1"),
        ("129.93.1.1:443", "129.93.1.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:129.93.1.1", "129.93.1.1"),
        ("unknown", None),
        ("", None),
        ("1.2.3", None),
        ("01.2.3.4", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]x", None),
        ("1" * 100, None),
        ("fe80::1%eth0", None),  # zone ids name an interface of another host
        ("fe80::1%a\r\nSet-Cookie: x=1", None),
        (None, None),
    ],
)
def test_parse_ip(text: str | None, expected: str | None) -> None:
    address = parse_ip(text)
    assert (None if address is None else str(address)) == expected


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ("129.93.1.1", "129.93.1.1"),
        ("6.6.6.6, 129.93.1.1", "129.93.1.1"),  # the left hop is the client's own claim
        ("129.93.1.1, 10.0.0.5", "129.93.1.1"),  # our ingress hop is skipped
        ("10.0.0.7, 10.0.0.5", "10.0.0.7"),  # all trusted: the origin is the leftmost
        ("129.93.1.1, unknown", None),  # a broken hop we must read: unknown, not a guess
        ("unknown, 129.93.1.1", "129.93.1.1"),  # garbage left of the client does not matter
        (",".join(["10.0.0.1"] * 40), None),  # too long
    ],
    ids=["single", "spoofed-left", "ingress-right", "all-trusted", "broken-right", "broken-left", "too-long"],
)
def test_forwarded_client(chain: str, expected: str | None) -> None:
    address = forwarded_client(chain, TRUSTED)
    assert (None if address is None else str(address)) == expected


def test_forwarded_headers_count_only_from_trusted_peers() -> None:
    headers = {"x-forwarded-for": "129.93.1.1", "cf-connecting-ip": "3.3.3.3"}
    assert str(read_edge(headers, "127.0.0.1", TRUSTED).client_ip) == "3.3.3.3"
    untrusted = read_edge(headers, "198.51.100.1", TRUSTED)
    assert str(untrusted.client_ip) == "198.51.100.1" and untrusted.client_ip_source == "peer"


def test_precedence_of_forwarding_headers() -> None:
    both = {"cloudfront-viewer-address": "3.3.3.3:5555", "x-forwarded-for": "129.93.1.1"}
    context = read_edge(both, "127.0.0.1", TRUSTED)
    assert (str(context.client_ip), context.client_ip_source) == ("3.3.3.3", "cloudfront-viewer-address")


def test_malformed_forwarded_address_is_not_replaced_by_the_proxy() -> None:
    context = read_edge({"cf-connecting-ip": "garbage"}, "127.0.0.1", TRUSTED)
    assert context.client_ip is None
    assert context.client_ip_source == "malformed_cf-connecting-ip"


def test_peer_that_is_not_an_address() -> None:
    context = read_edge({}, "testclient", TRUSTED)
    assert context.client_ip is None and context.client_ip_source == "absent"


@pytest.mark.parametrize(
    ("ray", "colo"),
    [
        ("230b030023ae2822-SJC", "SJC"),
        ("230b030023ae2822-sjc", "SJC"),
        ("230b030023ae2822", None),
        ("x-SJ", None),
        ("x-SJC1", None),
        ("-DFW", "DFW"),
    ],
)
def test_colo_from_ray(ray: str, colo: str | None) -> None:
    assert colo_from_ray(ray) == colo


def test_edge_report_text_cleanup() -> None:
    headers = {
        "cf-ipcity": "S\xc3\xa3o Paulo",
        "cf-ipcountry": "XX",
        "cf-iplatitude": "1",
        "cf-iplongitude": "2",
    }
    report = read_edge(headers, "127.0.0.1", TRUSTED).edge
    assert report is not None
    assert report.city == "São Paulo"  # raw UTF-8 bytes decoded
    assert report.country is None  # XX = unknown
    tor = read_edge({"cf-ipcountry": "T1"}, "127.0.0.1", TRUSTED).edge
    assert tor is not None and tor.country is None


def test_query_overrides_replace_the_edge() -> None:
    context = read_edge({"cf-ipcity": "X", "cf-ray": "1-DFW"}, "127.0.0.1", TRUSTED)
    overridden = context.with_query(parse_ip("129.93.1.1"), None)
    assert overridden.edge is None and overridden.edge_missing == "ip_override"
    assert overridden.colo is None
    assert EdgeContext().with_query(None, "LAX").colo == "LAX"


def test_public_and_network_helpers() -> None:
    assert is_public(ipaddress.ip_address("129.93.1.1"))
    for private in ("10.0.0.1", "127.0.0.1", "169.254.1.1", "::1", "fe80::1", "224.0.0.1", "100.64.0.1"):
        assert not is_public(ipaddress.ip_address(private))
    assert client_network(ipaddress.ip_address("129.93.1.77")) == "129.93.1.0/24"
    assert client_network(ipaddress.ip_address("2001:db8:1:2::5")) == "2001:db8:1::/48"
    assert client_network(None) == "unknown"
