"""Every command output the README shows is what the command prints today (scripts/readme.py)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from scripts.readme import BLOCK, BLOCKS, README, shown_blocks

pytestmark = pytest.mark.e2e  # runs the CLI and curl against a real `locator serve`

# Blocks whose run is a test of its own, which checks the block from that same run (one run, not two).
CHECKED_WITH_THEIR_RUN = {"clients": "tests/test_clients.py", "pelican": "tests/test_pelicanfs.py"}


def test_each_generator_has_its_block_once() -> None:
    names = [match.group("name") for match in BLOCK.finditer(README.read_text())]
    assert sorted(names) == sorted(BLOCKS)


@pytest.mark.parametrize("name", sorted(set(BLOCKS) - set(CHECKED_WITH_THEIR_RUN)))  # the workers share them out
def test_the_generated_block_is_what_its_command_prints(name: str, tmp_path: Path) -> None:
    text, fresh = shown_blocks()[name], BLOCKS[name](tmp_path)
    diff = "\n".join(difflib.unified_diff(text.splitlines(), fresh.splitlines(), "README.md", "now", lineterm=""))
    assert fresh == text, f"the README's {name} block shows an output that changed: review, then `make readme`\n{diff}"
