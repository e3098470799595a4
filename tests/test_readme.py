"""Every command output the README shows is what the command prints today (scripts/readme.py)."""

from __future__ import annotations

import difflib

import pytest

from scripts.readme import BLOCK, BLOCKS, README, generated

pytestmark = pytest.mark.e2e  # runs the CLI and curl against a real `locator serve`


def test_every_generated_block_is_what_its_command_prints() -> None:
    text = README.read_text()
    assert len(BLOCK.findall(text)) == len(BLOCKS)  # each generator has its block, once
    fresh = generated(text)
    diff = "\n".join(difflib.unified_diff(text.splitlines(), fresh.splitlines(), "README.md", "now", lineterm=""))
    assert fresh == text, f"the README shows outputs that changed: review, then `make readme`\n{diff}"
