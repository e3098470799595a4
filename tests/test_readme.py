"""Every command output the documentation shows (README.md, docs/) is what the command prints today
(scripts/readme.py), and every relative link in it leads to a file of the repository."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from scripts.readme import BLOCKS, DOCUMENTS, REPO, block_names, shown_blocks

pytestmark = pytest.mark.e2e  # runs the CLI and curl against a real `locator serve`

# Blocks whose run is a test of its own, which checks the block from that same run (one run, not two).
CHECKED_WITH_THEIR_RUN = {"clients": "tests/test_clients.py", "pelican": "tests/test_pelicanfs.py"}


def test_each_generator_has_its_block_once() -> None:
    assert sorted(block_names()) == sorted(BLOCKS)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub makes for a Markdown file."""
    titles = re.findall(r"^#{1,6} (.+)$", path.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-") for title in titles}


def test_every_relative_link_resolves_inside_the_repository() -> None:
    for document in (*DOCUMENTS, REPO / "SECURITY.md", REPO / "bench" / "README.md", REPO / "deploy" / "README.md"):
        for target in LINK.findall(document.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            resolved = (document.parent / file).resolve() if file else document
            assert resolved.is_relative_to(REPO) and resolved.exists(), f"{document.name}: {target}"
            if anchor and resolved.suffix == ".md":
                assert anchor in anchors(resolved), f"{document.name}: {target}"
    assert "../shared" not in "".join(path.read_text() for path in DOCUMENTS)  # outside the repository


@pytest.mark.parametrize("name", sorted(set(BLOCKS) - set(CHECKED_WITH_THEIR_RUN)))  # the workers share them out
def test_the_generated_block_is_what_its_command_prints(name: str, tmp_path: Path) -> None:
    text, fresh = shown_blocks()[name], BLOCKS[name](tmp_path)
    diff = "\n".join(difflib.unified_diff(text.splitlines(), fresh.splitlines(), "README.md", "now", lineterm=""))
    assert fresh == text, f"the README's {name} block shows an output that changed: review, then `make readme`\n{diff}"
