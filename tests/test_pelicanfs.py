"""pelicanfs from PyPI, the Pelican project's own client, end to end against a real `locator serve` over HTTPS
with stand-in caches and an origin (scripts/pelican.py): given only the locator's URL it discovers it, reads,
lists, reads from the origin and fails over as against Pelican's director."""

from __future__ import annotations

import pytest

from scripts.pelican import run, table
from scripts.readme import shown_blocks

pytestmark = pytest.mark.e2e


def test_pelicanfs_uses_the_locator_as_its_director() -> None:
    rows = run()
    assert [what for what, _, _ in rows] == [
        "discovers the locator over HTTPS, reads from the nearest cache",
        "lists through the origin (collections-url)",
        "token namespace: the one cache serving it, token sent",
        "the token reached that cache",
        "direct_reads=True: from the origin",
        "nearest cache down, the locator unaware: fails over",
        "nearest cache demoted by the prober: the next first",
        "every cache of the namespace down",
    ]
    failed = [(what, got, same) for what, got, same in rows if same != "yes"]
    assert not failed, failed
    assert shown_blocks()["pelican"] == table(rows), "the README's pelicanfs table changed: `make readme`"
