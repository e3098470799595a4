"""The one memo of answers: a request's decision, rendered, kept by everything it depends on and bounded in bytes.

A site's jobs come from a few addresses through the same edge, so a repeat costs neither the edge headers'
parsing, the cascade, the ranking nor the rendering. The key is what an answer depends on, as the request
brought it (`locator.web.query.Ask`): the peer address and the edge headers as received, the query's values,
the namespace, n, and what is rendered. A new snapshot empties the memo; an unlocated client's answer lasts
until its sticky window ends (`Decision.expires_s`, from the core). The clock is injected, so tests need not
wait out a window.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

from cachetools import LRUCache

from locator.core.decide import Decision, decide
from locator.core.edge import edge_headers, read_edge
from locator.core.federation import Federation
from locator.core.locate import Location
from locator.web.query import Ask

R = TypeVar("R", bytes, tuple[str, ...])
# What an entry costs besides what its rendering and its key's header bytes hold: the key's other values, the
# location and the tuples holding them (measured in tests/test_memo.py).
ENTRY_BYTES = 2048


class Answer(NamedTuple, Generic[R]):
    """A decision as the memo keeps it: where the client is, the rendering, the first cache's name (None: no
    cache may serve it), the client's network, and until when it holds (None: until the snapshot changes)."""

    location: Location
    rendered: R
    first: str | None
    network: str
    expires_s: float | None


def rendered_bytes(rendered: bytes | tuple[str, ...]) -> int:
    return len(rendered) if isinstance(rendered, bytes) else sum(len(text) + 64 for text in rendered)


class AnswerMemo:
    """Answers by their key, LRU within `max_bytes` (0: none kept)."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self._entries: LRUCache[Hashable, tuple[Answer[bytes] | Answer[tuple[str, ...]], int]] = LRUCache(
            max(1, max_bytes), getsizeof=_entry_size
        )
        self._version = -1

    @property
    def stats(self) -> tuple[int, int, int]:
        """(entries, bytes held, bound in bytes), for the metrics."""
        return len(self._entries), int(self._entries.currsize), self.max_bytes

    def answer(self, federation: Federation, ask: Ask, kind: str, render: Callable[[Decision], R]) -> Answer[R]:
        """The answer to `ask` rendered by `render` (`kind` names the rendering): the one kept, if it still
        holds, else decided now from `federation` and kept."""
        now = self.clock()
        if federation.version != self._version:  # a new snapshot: every entry is stale
            self._entries.clear()
            self._version = federation.version
        query = ask.query
        key = (kind, ask.peer, ask.edge, query.declared, query.ip, query.colo, ask.namespace, query.n)
        kept = self._entries.get(key)
        if kept is not None:
            found = kept[0]
            if found.expires_s is None or now < found.expires_s:
                return found  # type: ignore[return-value]  # kept under this kind's key, so rendered by `render`
        context = read_edge(edge_headers(ask.edge), ask.peer, ask.trusted).with_query(query.ip, query.colo)
        decision = decide(federation, context, query.declared, ask.namespace, query.n, now)
        first = decision.first
        made = Answer(
            decision.location,
            render(decision),
            None if first is None else first.name,
            decision.network,
            decision.expires_s,
        )
        if self.max_bytes:
            size = rendered_bytes(made.rendered) + sum(len(name) + len(value) for name, value in ask.edge) + ENTRY_BYTES
            with contextlib.suppress(ValueError):  # larger than the whole memo: serve it, keep nothing
                self._entries[key] = (made, size)
        return made


def _entry_size(entry: tuple[object, int]) -> int:
    return entry[1]
