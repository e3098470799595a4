"""Host names to addresses for the CVMFS geo API, which places the servers a request names by their addresses.

The names come from anyone's requests, so every part of the work is bounded:

- **Per request**: at most LOOKUPS_PER_REQUEST names that are not already known are waited for; the others
  count as not resolved in time.
- **In flight**: lookups run in c-ares (aiodns), which sends a query at once and waits on one socket per DNS
  server: no thread is held, and nothing queues. At most PENDING_BYTES of lookups are in flight; a lookup that
  cannot start now is not started (its name counts as not resolved in time). Two requests naming the same
  name share one lookup.
- **In time**: a request waits at most `timeout_s` for its names, from when their lookups are sent. c-ares
  sends a query once more if the first gets no answer (a recursive resolver may take a while for a name it has
  not cached), doubling the wait: it is given a third of `timeout_s` first (less once it has seen the server
  answer quickly: c-ares's own timeouts follow the server's latency, 250 ms at least), so that it too is done
  by then.
- **Remembered**: every answer a lookup gave is kept: an address and a name that does not exist for the legacy
  service's five minutes, a name whose lookup ran out of time (or whose server failed) for LATE_TTL_S, so that
  a repeated unknown name is not asked again meanwhile. The memo is bounded in bytes (MEMO_BYTES, entries
  costed as measured by tests/test_resolver.py with tracemalloc).

IPv4 is preferred to IPv6, as the legacy service did.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Final, NamedTuple

import aiodns
import pycares
from cachetools import TLRUCache

from locator.core.addresses import IPAddress, parse_ip_literal
from locator.core.lookups import Resolution

AddrInfo = pycares.AddrInfoResult

TTL_S = 300.0  # the legacy service's geo_cache_secs, for answers
LATE_TTL_S = 30.0  # for a lookup that ran out of time or whose server failed: asked again sooner
MEMO_BYTES = 4_000_000
MEMO_ENTRY_BYTES = 480  # besides the name's characters: the str, the memo's entries and expiry link, the value
LOOKUPS_PER_REQUEST = 4  # CVMFS names a handful of Stratum-1s, known after their first lookup
PENDING_BYTES = 24_000_000
PENDING_ENTRY_BYTES = 7_500  # besides the name: c-ares's A and AAAA queries and the future (RSS, measured)
TRIES = 2  # each query sent at most twice, the second time waiting twice as long
MAX_QUERIES_PER_REQUEST = LOOKUPS_PER_REQUEST * 2 * TRIES  # an A and an AAAA query for each name, each sent twice
# c-ares's answers that are about the name (it has no address) rather than about the lookup (it failed)
NO_SUCH_NAME = frozenset({pycares.errno.ARES_ENOTFOUND, pycares.errno.ARES_ENODATA, pycares.errno.ARES_EBADNAME})


class Late(Enum):
    """A lookup that gave no answer in time: it timed out, its server failed, or it could not start."""

    LATE = "late"


LATE: Final = Late.LATE
Found = IPAddress | None | Late  # an address, no such name, or no answer in time


class Entry(NamedTuple):
    """What the memo keeps of a name: its answer, and what keeping it costs (the memo is bounded in bytes)."""

    found: Found
    size: int


def entry_size(entry: Entry) -> int:
    return entry.size


def lifetime(name: str, entry: Entry, now: float) -> float:
    return now + (LATE_TTL_S if entry.found is LATE else TTL_S)


class Resolver:
    def __init__(self, timeout_s: float, servers: Sequence[str] = ()) -> None:
        self.timeout_s = timeout_s
        self.servers = tuple(servers)  # `host` or `host:port`; none: the system's (/etc/resolv.conf)
        self.memo: TLRUCache[str, Entry] = TLRUCache(MEMO_BYTES, ttu=lifetime, getsizeof=entry_size)
        self.pending: dict[str, asyncio.Future[AddrInfo]] = {}
        self.pending_bytes = 0
        self.lookups = 0  # started, for the tests
        self._dns: aiodns.DNSResolver | None = None

    def _client(self) -> aiodns.DNSResolver:
        """Made on first use, inside the event loop that serves (aiodns binds to it)."""
        if self._dns is None:
            first_wait = self.timeout_s / (2**TRIES - 1)
            self._dns = aiodns.DNSResolver(list(self.servers) or None, timeout=first_wait, tries=TRIES)
        return self._dns

    async def resolve(self, names: Iterable[str]) -> Resolution:
        """Each name's address, None when it does not resolve; `late` names did not resolve in time."""
        found: dict[str, Found] = {}
        waiting: dict[str, asyncio.Future[AddrInfo]] = {}
        for name in names:
            known = self.memo.get(name)
            if known is not None:
                found[name] = known.found
                continue
            lookup = self.pending.get(name) if len(waiting) < LOOKUPS_PER_REQUEST else None
            if lookup is None and len(waiting) < LOOKUPS_PER_REQUEST:
                lookup = self._start(name)
            if lookup is None:
                found[name] = LATE
            else:
                waiting[name] = lookup
        if waiting:
            # asyncio.wait, not gather: a request that goes away must not cancel a lookup others may share; and
            # a bound of its own, whatever c-ares does with its timeouts (a lookup still running when the request
            # stops waiting stays in flight, and counted, until c-ares ends it)
            await asyncio.wait(waiting.values(), timeout=self.timeout_s)
            found.update((name, outcome(lookup)) for name, lookup in waiting.items())
        late = frozenset(name for name, value in found.items() if value is LATE)
        addresses = {name: None if isinstance(value, Late) else value for name, value in found.items()}
        return Resolution(addresses, late)

    def _start(self, name: str) -> asyncio.Future[AddrInfo] | None:
        """A lookup sent now, or None when the lookups in flight hold their bound."""
        cost = len(name) + PENDING_ENTRY_BYTES
        if self.pending_bytes + cost > PENDING_BYTES:
            return None
        try:
            lookup = self._client().getaddrinfo(name, family=socket.AF_UNSPEC)
        except (UnicodeError, ValueError, aiodns.error.DNSError):  # not a name c-ares can ask for
            self.memo[name] = Entry(None, len(name) + MEMO_ENTRY_BYTES)
            return None
        self.pending_bytes += cost
        self.lookups += 1
        self.pending[name] = lookup

        def done(lookup: asyncio.Future[AddrInfo]) -> None:
            del self.pending[name]
            self.pending_bytes -= cost
            self.memo[name] = Entry(outcome(lookup), len(name) + MEMO_ENTRY_BYTES)

        lookup.add_done_callback(done)
        return lookup

    async def close(self) -> None:
        """End every lookup in flight (the service is stopping), before the event loop closes under c-ares."""
        if self._dns is not None:
            await self._dns.close()
            await asyncio.sleep(0)  # c-ares's cancellations arrive through the loop
            self._dns = None


def outcome(lookup: asyncio.Future[AddrInfo]) -> Found:
    """A lookup's answer: the first IPv4 address, else the first IPv6 one; None for a name without any; LATE
    when it has not ended, timed out or failed."""
    if not lookup.done() or lookup.cancelled():
        return LATE
    error = lookup.exception()
    if error is not None:
        code = error.args[0] if isinstance(error, aiodns.error.DNSError) and error.args else None
        return None if code in NO_SUCH_NAME else LATE
    nodes = lookup.result().nodes
    for family in (socket.AF_INET, socket.AF_INET6):
        for node in nodes:
            if node.family == family:
                return parse_ip_literal(node.addr[0].decode())
    return None
