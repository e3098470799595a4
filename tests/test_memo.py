"""The memo of answers alone (locator.web.memo): what it keys on, how long an answer holds (an injected clock:
no test waits out a window), a new snapshot, its bound in bytes, and the memory an entry really holds."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest

from locator.core.decide import Decision
from locator.core.federation import Federation
from locator.resources import load_federation
from locator.settings import Settings
from locator.web.bodies import endpoints, nearest_json, nearest_text
from locator.web.memo import ENTRY_BYTES, AnswerMemo
from locator.web.query import NO_QUERY, Ask, parse_query_string, read_ask

CHICAGO = {"cf-iplatitude": "41.9", "cf-iplongitude": "-87.6", "cf-ipcity": "Chicago"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def federation(settings: Settings) -> Federation:
    return load_federation(settings)


def ask(
    federation: Federation,
    settings: Settings,
    headers: dict[str, str] | None = None,
    query: str = "",
    peer: str = "127.0.0.1",
    path: str | None = None,
) -> Ask:
    """The ask of a request as the service reads it (a trusted peer: the edge headers count)."""
    scope = {
        "client": (peer, 4000),
        "headers": [(name.encode(), value.encode()) for name, value in (headers or {}).items()],
    }
    parsed = parse_query_string(query.encode()) if query else NO_QUERY
    return read_ask(scope, federation, settings, parsed, path or parsed.path)


def counting(render: Callable[[Decision], bytes]) -> tuple[list[int], Callable[[Decision], bytes]]:
    calls: list[int] = []

    def counted(decision: Decision) -> bytes:
        calls.append(1)
        return render(decision)

    return calls, counted


def test_it_keys_by_what_the_answer_depends_on(federation: Federation, settings: Settings) -> None:
    memo = AnswerMemo(1_000_000)
    calls, render = counting(nearest_json)
    first = memo.answer(federation, ask(federation, settings, {**CHICAGO, "x-unrelated": "1"}), "json", render)
    again = memo.answer(federation, ask(federation, settings, {**CHICAGO, "x-unrelated": "2"}), "json", render)
    assert again is first and len(calls) == 1  # a header the locator does not read is no part of the key
    for other in (
        ask(federation, settings, {**CHICAGO, "cf-ipcity": "Elsewhere"}),
        ask(federation, settings, CHICAGO, "n=2"),
        ask(federation, settings, CHICAGO, peer="127.0.0.2"),
        ask(federation, settings, CHICAGO, "path=/ligo/secret/x"),
    ):
        memo.answer(federation, other, "json", render)
    memo.answer(federation, ask(federation, settings, CHICAGO), "text", nearest_text)  # another rendering
    assert memo.stats[0] == 6 and len(calls) == 5


def test_an_unlocated_clients_answer_lasts_its_sticky_window(federation: Federation, settings: Settings) -> None:
    clock = Clock()
    memo = AnswerMemo(1_000_000, clock)
    lost = ask(federation, settings)  # no position at all: a drawn order
    first = memo.answer(federation, lost, "links", endpoints)
    assert first.location.coordinate is None and first.expires_s is not None
    clock.now = first.expires_s - 0.001
    assert memo.answer(federation, lost, "links", endpoints) is first
    clock.now = first.expires_s  # the window has passed: a new draw
    later = memo.answer(federation, lost, "links", endpoints)
    assert later is not first and later.expires_s is not None and later.expires_s > first.expires_s
    located = memo.answer(federation, ask(federation, settings, CHICAGO), "links", endpoints)
    clock.now += 10 * federation.spread.sticky_s
    assert (
        located.expires_s is None
        and memo.answer(federation, ask(federation, settings, CHICAGO), "links", endpoints) is located
    )


def test_a_new_snapshot_starts_an_empty_memo(federation: Federation, settings: Settings) -> None:
    memo = AnswerMemo(1_000_000)
    memo.answer(federation, ask(federation, settings, CHICAGO), "json", nearest_json)
    newer = federation.replace(version=federation.version + 1)  # any swap: a reload, a health round
    memo.answer(newer, ask(federation, settings, CHICAGO, "n=1"), "json", nearest_json)
    assert memo.stats[0] == 1


def test_it_answers_repeats_and_stays_within_its_bytes(federation: Federation, settings: Settings) -> None:
    memo = AnswerMemo(20_000)
    chicago = ask(federation, settings, query="lat=41.9&lon=-87.6")
    first = memo.answer(federation, chicago, "json", nearest_json)
    entries, held, bound = memo.stats
    assert (entries, bound) == (1, 20_000) and held == len(first.rendered) + ENTRY_BYTES
    assert memo.answer(federation, chicago, "json", nearest_json) is first and memo.stats[:2] == (entries, held)
    for lat in range(60):
        memo.answer(federation, ask(federation, settings, query=f"lat={lat}&lon=-87.6"), "json", nearest_json)
    entries, held, bound = memo.stats
    assert held <= bound and 0 < entries < 60  # the oldest made room


def test_turned_off_it_keeps_nothing_and_still_answers(federation: Federation, settings: Settings) -> None:
    memo = AnswerMemo(0)
    calls, render = counting(nearest_json)
    for _ in range(2):
        answer = memo.answer(federation, ask(federation, settings, query="lat=41.9&lon=-87.6"), "json", render)
        assert answer.first == "Chicago"
    assert memo.stats[:2] == (0, 0) and len(calls) == 2


def test_an_entry_holds_no_more_memory_than_the_memo_counts_for_it(federation: Federation, settings: Settings) -> None:
    """Traced allocations of 300 new entries (distinct edge positions): what they hold stays below the bytes the
    memo counts for them, so the bound in bytes holds for real memory, not just for the rendered bodies."""
    memo = AnswerMemo(50_000_000)
    asks = [
        ask(
            federation, settings, {"cf-iplatitude": f"{30 + i / 1000:.4f}", "cf-iplongitude": "-90.0", "cf-ipcity": "X"}
        )
        for i in range(350)
    ]
    for one in asks[:50]:  # warm: imports, the parsers' caches
        memo.answer(federation, one, "json", nearest_json)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for one in asks[50:]:
        memo.answer(federation, one, "json", nearest_json)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    accounted = memo.stats[1] * 300 / 350
    assert 0.3 * accounted < held < accounted, (held, accounted)  # counted generously, but not wildly
