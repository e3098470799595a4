"""The documentation's example outputs (README.md and docs/*.md), produced by running the commands they show.

    python -m scripts.readme           # rewrite the generated blocks (make readme)
    python -m scripts.readme --check   # exit 1 with a diff when a block differs from what its command prints

A generated block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`, NAME a key of BLOCKS. Each
runs the real command (the CLI, or curl against a real `locator serve`) with the shipped data and no LOCATOR_*
variable from the caller's environment. tests/test_readme.py runs the check, so the README cannot drift from
the code again (it did: a change of the fallback order changed the reproduce-2022 table and nothing noticed).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scripts.launch import launch_locator

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCUMENTS = (README, *sorted((REPO / "docs").glob("*.md")))  # where generated blocks may sit
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.DOTALL)
LEGACY_SERVERS = "128.142.1.1,131.225.1.1,132.239.1.1,128.104.1.1,129.93.1.1,192.170.227.1"
VARYING_HEADERS = ("date:", "server:", "x-request-id:", "content-length:")  # left out of the redirect's block


def clean_env(scratch: Path) -> dict[str, str]:
    """The caller's environment without its LOCATOR_* settings; the airports store in `scratch`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCATOR_")}
    return {**env, "LOCATOR_AIRPORTS_STORE": str(scratch / "airports.sqlite"), "LOCATOR_HEALTH_INTERVAL_S": "0"}


def run(argv: list[str], scratch: Path, extra: dict[str, str] | None = None) -> str:
    """stdout of a command run in `scratch`; its stderr (progress lines) is not part of the output."""
    env = {**clean_env(scratch), **(extra or {})}
    done = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}): {done.stderr[-1000:]}")
    return done.stdout


def shown(command: str, output: str, fence: str = "text") -> str:
    return f"```{fence}\n$ {command}\n{output.rstrip()}\n```\n"


def nearest_json(scratch: Path) -> str:
    output = run([sys.executable, "-m", "locator", "nearest", "--ip", "129.93.1.1", "-n", "1", "--json"], scratch)
    return f"```json\n{output.rstrip()}\n```\n"


def redirect(scratch: Path) -> str:
    """curl -sI against a real server, as the README shows it (port 8000 there, a free one here)."""
    settings = {
        k.removeprefix("LOCATOR_").lower(): v for k, v in clean_env(scratch).items() if k.startswith("LOCATOR_")
    }
    server = launch_locator({**settings, "access_log": "false"}, stderr=subprocess.DEVNULL, cwd=scratch, inherit=False)
    command = "curl -sI -H 'cf-connecting-ip: 129.93.1.1' 'http://127.0.0.1:{port}/igwn/ligo/O4/frame.gwf'"
    try:
        if not server.ready("/healthz", 30):
            raise RuntimeError("locator serve did not start")
        output = run(shlex.split(command.format(port=server.port)), scratch)
    finally:
        server.stop()
    lines = [line for line in output.replace("\r\n", "\n").splitlines() if line]
    kept = [line for line in lines if not line.lower().startswith(VARYING_HEADERS)]
    return shown(command.format(port=8000), "\n".join(kept))


def legacy(scratch: Path) -> str:
    argv = ["python", "-m", "evaluation", "legacy", "129.93.1.1", LEGACY_SERVERS]
    return shown(shlex.join(argv), run([sys.executable, *argv[1:]], scratch))


def reproduce_2022(scratch: Path) -> str:
    return run([sys.executable, "-m", "evaluation", "reproduce-2022"], scratch).rstrip() + "\n"


def geo_api(scratch: Path) -> str:
    argv = ["python", "-m", "evaluation", "geo-api"]
    return shown(shlex.join(argv), run([sys.executable, *argv[1:]], scratch))


def clients(scratch: Path) -> str:
    """The table as scripts/clients.py prints it (a run of every client through a real `locator serve`)."""
    return run([sys.executable, "-m", "scripts.clients"], scratch, {"PYTHONPATH": str(REPO)})


def pelican(scratch: Path) -> str:
    """The table as scripts/pelican.py prints it (pelicanfs against a real `locator serve` over HTTPS)."""
    return run([sys.executable, "-m", "scripts.pelican"], scratch, {"PYTHONPATH": str(REPO)})


def synthetic(scratch: Path) -> str:
    commands = [
        ["python", "-m", "evaluation", "synthesize", "--records", "20000", "--out", "synthetic.csv"],
        ["python", "-m", "evaluation", "score", "synthetic.csv", "--out", "report/"],
    ]
    parts = [f"$ {shlex.join(argv)}\n{run([sys.executable, *argv[1:]], scratch).rstrip()}" for argv in commands]
    return "```text\n" + "\n".join(parts) + "\n```\n"


def settings_table(scratch: Path) -> str:
    return run([sys.executable, "-m", "locator", "settings", "--table"], scratch)


BLOCKS: dict[str, Callable[[Path], str]] = {
    "settings": settings_table,
    "nearest-json": nearest_json,
    "redirect": redirect,
    "legacy": legacy,
    "reproduce-2022": reproduce_2022,
    "geo-api": geo_api,
    "clients": clients,
    "pelican": pelican,
    "synthetic": synthetic,
}


def shown_blocks() -> dict[str, str]:
    """Each generated block's text as the documents show it, by name."""
    return {
        match.group("name"): match.group("body") for path in DOCUMENTS for match in BLOCK.finditer(path.read_text())
    }


def block_names() -> list[str]:
    return [match.group("name") for path in DOCUMENTS for match in BLOCK.finditer(path.read_text())]


def outputs() -> dict[str, str]:
    """What every generator prints now, by block name."""
    names = block_names()
    if sorted(names) != sorted(BLOCKS):
        raise SystemExit(f"the documents' blocks {names} do not match the generators {sorted(BLOCKS)}")
    with tempfile.TemporaryDirectory(prefix="locator-readme-") as scratch, ThreadPoolExecutor(4) as pool:
        # each block in a directory of its own, a few at a time: most of a block is waiting on its command
        def output(name: str) -> str:
            directory = Path(scratch) / name
            directory.mkdir()
            return BLOCKS[name](directory)

        return dict(zip(names, pool.map(output, names), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a block is out of date")
    args = parser.parse_args()
    fresh = outputs()
    changed = 0
    for path in DOCUMENTS:
        text = path.read_text()
        new = BLOCK.sub(lambda m: m.group(1) + fresh[m.group("name")] + m.group(4), text)
        name = str(path.relative_to(REPO))
        diff = list(difflib.unified_diff(text.splitlines(), new.splitlines(), name, "generated", lineterm=""))
        changed += bool(diff)
        if diff and args.check:
            print("\n".join(diff))
        elif diff:
            path.write_text(new)
    verb = "out of date" if args.check else "rewritten"
    print(f"{len(BLOCKS)} generated blocks in {len(DOCUMENTS)} documents; {changed} document(s) {verb}")
    sys.exit(1 if args.check and changed else 0)


if __name__ == "__main__":
    main()
