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
from locator.core.rank import REASONS
from locator.web.query import Ask

R = TypeVar("R", bytes, tuple[str, ...])
LOAD = REASONS.index("load")
# What an entry costs besides what its rendering and its key's header bytes hold: the key's other values, the
# location and the tuples holding them (measured in tests/test_memo.py).
ENTRY_BYTES = 2048


class Answer(NamedTuple, Generic[R]):
    """A decision as the memo keeps it: where the client is, the rendering, the first cache's name (None: no
    cache may serve it), the client's network, until when it holds (None: until the snapshot changes) and the
    nearest origin exporting the path (None: none does), where Pelican's clients list it (`collections-url`)."""

    location: Location
    rendered: R
    first: str | None
    network: str
    expires_s: float | None
    collections: str | None
    moved_by_load: bool = False


def rendered_bytes(rendered: bytes | tuple[str, ...]) -> int:
    return len(rendered) if isinstance(rendered, bytes) else sum(len(text) + 64 for text in rendered)


class AnswerMemo:
    """Answers by their key, LRU within `max_bytes` (0: none kept)."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self._entries: LRUCache[Hashable, tuple[object, float | None, int]] = LRUCache(
            max(1, max_bytes), getsizeof=_entry_size
        )
        self._version = -1

    @property
    def stats(self) -> tuple[int, int, int]:
        """(entries, bytes held, bound in bytes), for the metrics."""
        return len(self._entries), int(self._entries.currsize), self.max_bytes

    def recall(self, key: Hashable, version: int) -> object | None:
        """What was kept under `key` for the snapshot `version`, if it still holds; None otherwise."""
        if version != self._version:  # a new snapshot: every entry is stale
            self._entries.clear()
            self._version = version
        kept = self._entries.get(key)
        if kept is None:
            return None
        value, expires_s, _ = kept
        return value if expires_s is None or self.clock() < expires_s else None

    def keep(self, key: Hashable, value: object, size: int, expires_s: float | None = None) -> None:
        """Keep `value` (which holds `size` bytes besides ENTRY_BYTES) until `expires_s` or the next snapshot."""
        if self.max_bytes:
            with contextlib.suppress(ValueError):  # larger than the whole memo: serve it, keep nothing
                self._entries[key] = (value, expires_s, size + ENTRY_BYTES)

    def answer(self, federation: Federation, ask: Ask, kind: str, render: Callable[[Decision], R]) -> Answer[R]:
        """The answer to `ask` rendered by `render` (`kind` names the rendering): the one kept, if it still
        holds, else decided now from `federation` and kept."""
        query, namespace = ask.query, ask.namespace
        served = None if namespace is None else (namespace.path, namespace.listed)  # what the answer depends on
        key = (kind, ask.peer, ask.edge, query.declared, query.ip, query.colo, served, query.n, ask.export)
        kept = self.recall(key, federation.version)
        if kept is not None:
            return kept  # type: ignore[return-value]  # kept under this kind's key, so rendered by `render`
        context = read_edge(edge_headers(ask.edge), ask.peer, ask.trusted).with_query(query.ip, query.colo)
        decision = decide(federation, context, query.declared, ask.namespace, query.n, self.clock(), ask.export)
        first = decision.first
        origin = next(decision.origins(), None)
        made = Answer(
            decision.location,
            render(decision),
            None if first is None else first.name,
            decision.network,
            decision.expires_s,
            None if origin is None else origin[0].endpoint,
            bool((decision.ranking.reasons == LOAD).any()),
        )
        size = rendered_bytes(made.rendered) + sum(len(name) + len(value) for name, value in ask.edge)
        self.keep(key, made, size, made.expires_s)
        return made


def _entry_size(entry: tuple[object, float | None, int]) -> int:
    return entry[2]
