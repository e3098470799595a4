"""The geo API's resolver against a real DNS server on 127.0.0.1 (scripts/fake_dns.py): what it answers, what
it remembers, and the bounds on its work, its time and its memory."""

from __future__ import annotations

import asyncio
import ipaddress
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from locator.sources import resolver as resolver_module
from locator.sources.resolver import LATE, LOOKUPS_PER_REQUEST, MEMO_BYTES, Entry, Resolver
from scripts.fake_dns import FakeDNS
from tests.conftest import DNS_NAMES


@pytest.fixture
def dns() -> Iterator[FakeDNS]:
    """A DNS server of the test's own, so that its query count is the test's."""
    server = FakeDNS(DNS_NAMES)
    yield server
    server.close()


async def settled(resolver: Resolver) -> None:
    """Every lookup in flight ended, and what it held given back (c-ares's own timeouts end them)."""
    for _ in range(100):
        if not resolver.pending:
            break
        await asyncio.sleep(0.05)
    assert resolver.pending == {} and resolver.pending_bytes == 0


def test_addresses_ipv4_first_names_that_do_not_exist_and_names_never_answered(dns: FakeDNS) -> None:
    async def run() -> None:
        resolver = Resolver(0.5, [dns.server])
        started = time.monotonic()
        found = await resolver.resolve(["unl.example", "v6only.example", "nowhere.example", "never.example"])
        took = time.monotonic() - started
        assert found.addresses == {
            "unl.example": ipaddress.ip_address("129.93.1.1"),
            "v6only.example": ipaddress.ip_address("2001:4860::8888"),
            "nowhere.example": None,
            "never.example": None,
        }
        assert found.late == {"never.example"}  # no answer is not "no such name"
        assert 0.4 < took < 1.5  # the one timeout, from when the lookups were sent
        asked = dns.queries
        again = await resolver.resolve(["unl.example", "nowhere.example", "never.example"])
        assert again.addresses == {name: found.addresses[name] for name in again.addresses}
        assert again.late == {"never.example"}
        assert dns.queries == asked  # all three remembered: none asked again
        assert resolver.memo["never.example"].found is LATE
        await resolver.close()

    asyncio.run(run())


def test_at_most_a_few_new_names_are_looked_up_for_one_request(dns: FakeDNS) -> None:
    """Finding 1 and the 91 queries per request of finding 2: a request naming 64 new names costs a few lookups
    (an A and an AAAA query each); the others count as not resolved in time."""
    names = [f"new{i}.nowhere.example" for i in range(64)]

    async def run() -> None:
        resolver = Resolver(0.5, [dns.server])
        found = await resolver.resolve(names)
        assert resolver.lookups == LOOKUPS_PER_REQUEST
        assert dns.queries <= 2 * LOOKUPS_PER_REQUEST
        assert len(found.late) == 64 - LOOKUPS_PER_REQUEST
        assert all(name not in found.late for name in names[:LOOKUPS_PER_REQUEST])  # the first, in request order
        await resolver.close()

    asyncio.run(run())


def test_a_name_that_resolves_at_once_does_so_while_others_never_answer(dns: FakeDNS) -> None:
    """Finding 2: with lookups of names that never answer in flight, the timeout of a new lookup starts when it is
    sent; a name the DNS knows resolves at once."""

    async def run() -> None:
        resolver = Resolver(2.0, [dns.server])
        flood = [
            asyncio.ensure_future(resolver.resolve([f"never{i}-{j}.example" for j in range(LOOKUPS_PER_REQUEST)]))
            for i in range(200)
        ]
        await asyncio.sleep(0.2)
        assert len(resolver.pending) == 200 * LOOKUPS_PER_REQUEST
        started = time.monotonic()
        found = await resolver.resolve(["cern.example", "unl.example"])
        assert time.monotonic() - started < 0.5
        assert found.late == frozenset()
        assert found.addresses["cern.example"] == ipaddress.ip_address("128.142.1.1")
        await asyncio.gather(*flood)
        await settled(resolver)
        await resolver.close()

    asyncio.run(run())


def test_lookups_in_flight_are_bounded_in_bytes_and_shared(dns: FakeDNS, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup that cannot start because the lookups in flight hold their bound is not started (not resolved in
    time, and not remembered: asked again later); two requests naming one name share its lookup."""
    monkeypatch.setattr(resolver_module, "PENDING_BYTES", 3 * (resolver_module.PENDING_ENTRY_BYTES + 20))

    async def run() -> None:
        resolver = Resolver(0.5, [dns.server])
        first = asyncio.ensure_future(resolver.resolve(["never-a.example", "never-b.example", "never-c.example"]))
        shared = asyncio.ensure_future(resolver.resolve(["never-a.example"]))
        await asyncio.sleep(0.1)
        assert resolver.lookups == 3
        refused = await resolver.resolve(["unl.example"])
        assert refused.late == {"unl.example"} and "unl.example" not in resolver.memo
        await asyncio.gather(first, shared)
        assert resolver.lookups == 3  # the shared name was asked once
        await settled(resolver)  # c-ares ends the lookups the requests stopped waiting for
        assert (await resolver.resolve(["unl.example"])).addresses["unl.example"] == ipaddress.ip_address("129.93.1.1")
        await resolver.close()

    asyncio.run(run())


def test_the_memo_holds_no_more_memory_than_its_stated_bound() -> None:
    """Finding 11: measured with tracemalloc, 10,000 names of 256 characters (answers and names that do not exist)
    hold no more than MEMO_BYTES, and the memo counts no less than each entry holds."""
    resolver = Resolver(1.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            name = f"{i:05d}".ljust(256, "x")  # made here, as a request's name is: its memory counts
            found = ipaddress.ip_address(f"129.93.{i % 250}.{i % 200}") if i % 2 else None
            resolver.memo[name] = Entry(found, len(name) + resolver_module.MEMO_ENTRY_BYTES)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= MEMO_BYTES
    assert resolver.memo.currsize >= held * 0.95  # what it counts is what it holds (within the allocator's slack)
