"""Host names to addresses for the CVMFS geo API, which places the servers a request names by their addresses.

Each lookup is bounded by a timeout and runs on a small thread pool of its own, so that names that never
resolve (or a slow resolver) cannot take the threads file reloads use. Answers, and names that do not exist,
are kept for the legacy service's five minutes, in a memo bounded in bytes: the names come from requests,
anyone's. A lookup that ran out of time is not kept (the resolver, or the pool, may only have been busy).
IPv4 is preferred to IPv6, as the legacy service did.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from cachetools import TTLCache

from locator.core.addresses import IPAddress, parse_ip_literal

TTL_S = 300.0  # the legacy service's geo_cache_secs
MEMO_BYTES = 4_000_000
ENTRY_BYTES = 400  # a name of up to 256 characters, an address and the memo's own bookkeeping
LOOKUP_THREADS = 4


def entry_bytes(address: IPAddress | None) -> int:
    return ENTRY_BYTES


class Resolver:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.memo: TTLCache[str, IPAddress | None] = TTLCache(MEMO_BYTES, TTL_S, getsizeof=entry_bytes)
        self._pool = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="geo-dns")

    async def resolve(self, names: Iterable[str]) -> dict[str, IPAddress | None]:
        """Each name's address, or None when it does not resolve within the timeout."""
        found: dict[str, IPAddress | None] = {}
        missing = []
        for name in names:
            if name in self.memo:
                found[name] = self.memo[name]
            else:
                missing.append(name)
        for name, (address, final) in zip(missing, await asyncio.gather(*map(self._lookup, missing)), strict=True):
            found[name] = address
            if final:
                self.memo[name] = address
        return found

    async def _lookup(self, name: str) -> tuple[IPAddress | None, bool]:
        """(the address or None, whether that is the name's answer rather than a lookup out of time)."""
        loop = asyncio.get_running_loop()
        lookup = loop.run_in_executor(self._pool, socket.getaddrinfo, name, 80, 0, 0, socket.IPPROTO_TCP)
        try:
            infos = await asyncio.wait_for(lookup, self.timeout_s)
        except TimeoutError:
            return None, False
        except (OSError, UnicodeError):
            return None, True
        for family in (socket.AF_INET, socket.AF_INET6):
            for info in infos:
                if info[0] == family:
                    return parse_ip_literal(str(info[4][0])), True
        return None, True
