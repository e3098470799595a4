"""Replays deploy/Dockerfile without a Docker engine, for check-image-steps.sh and tests/test_deploy.py.

No Docker daemon runs on the development machines or in CI, so the image's steps are checked by doing what
the Dockerfile says, read from the Dockerfile itself: the build context (.dockerignore rules), ENV, COPY and
RUN of the final stage, HEALTHCHECK and CMD. Absolute image paths (/app, /opt) are rebased under a scratch
directory that stands in for the image's root file system. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# What the official python images set before our ENV (PATH is what `$PATH` expands to).
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# RUN steps that change the machine's users: the one thing a replay must not do.
NOT_REPLAYED = re.compile(r"\b(useradd|groupadd|adduser|addgroup)\b")


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def logical_lines(text: str) -> Iterator[str]:
    """Instructions with their continuation lines joined; comments dropped, as Docker does."""
    buffer = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        yield buffer + stripped
        buffer = ""
    if buffer.strip():
        yield buffer.strip()


def parse_stages(dockerfile: Path) -> list[Stage]:
    """The Dockerfile's stages in order; instructions before the first FROM (ARG) are dropped."""
    stages: list[Stage] = []
    for line in logical_lines(dockerfile.read_text(encoding="utf-8")):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    if not stages:
        raise ValueError(f"{dockerfile}: no FROM")
    return stages


def stage(dockerfile: Path, name: str = "final") -> Stage:
    stages = parse_stages(dockerfile)
    if name == "final":
        return stages[-1]
    for candidate in stages:
        if candidate.name == name:
            return candidate
    raise ValueError(f"{dockerfile}: no stage {name!r}")


def exec_form(args: str) -> list[str]:
    """A JSON array (exec form) as is; shell form runs through /bin/sh -c, as Docker does."""
    if args.startswith("["):
        value = json.loads(args)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"not a JSON array of strings: {args}")
        return value
    return ["/bin/sh", "-c", args]


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def image_env(dockerfile: Path) -> dict[str, str]:
    """The final stage's environment: the base image's, then every ENV (KEY=VALUE form) in order."""
    env = dict(BASE_IMAGE_ENV)
    for keyword, args in stage(dockerfile).instructions:
        if keyword != "ENV":
            continue
        for token in shlex.split(args):
            key, sep, value = token.partition("=")
            if not sep:
                raise ValueError(f"ENV {args}: use the KEY=VALUE form")
            env[key] = _expand(value, env)
    return env


def rebase(value: str, root: Path) -> str:
    """Put absolute paths whose top directory exists under `root` (the stand-in image) under it."""

    def one(part: str) -> str:
        path = PurePosixPath(part)
        if path.is_absolute() and len(path.parts) > 1 and (root / path.parts[1]).exists():
            return str(root / path.relative_to("/"))
        return part

    return ":".join(one(part) for part in value.split(":"))


def healthcheck(dockerfile: Path) -> list[str]:
    for keyword, args in stage(dockerfile).instructions:
        if keyword == "HEALTHCHECK":
            _, found, command = args.partition("CMD ")
            if not found:
                raise ValueError(f"HEALTHCHECK without CMD: {args}")
            return exec_form(command.strip())
    raise ValueError(f"{dockerfile}: no HEALTHCHECK")


def command(dockerfile: Path) -> list[str]:
    commands = [args for keyword, args in stage(dockerfile).instructions if keyword == "CMD"]
    if not commands:
        raise ValueError(f"{dockerfile}: no CMD")
    return exec_form(commands[-1])


def _ignore_rules(context: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The .dockerignore patterns as (is_exception, regex), in file order."""
    ignore = context / ".dockerignore"
    rules: list[tuple[bool, re.Pattern[str]]] = []
    if not ignore.is_file():
        return rules
    for raw in ignore.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((exception, re.compile(regex + r"\Z")))
    return rules


def in_context(relative: str, rules: Sequence[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exception, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            included = exception
    return included


def context_files(context: Path) -> list[str]:
    """Files (relative POSIX paths) that `docker build` would send from `context`."""
    rules = _ignore_rules(context)
    exceptions = [regex.pattern for exception, regex in rules if exception]
    files: list[str] = []
    for directory, dirnames, filenames in os.walk(context):
        base = Path(directory).relative_to(context).as_posix()
        prefix = "" if base == "." else base + "/"
        # Skip whole trees (.git, .venv) that are excluded and that no exception pattern reaches into.
        dirnames[:] = sorted(
            name
            for name in dirnames
            if in_context(prefix + name, rules)
            or any(pattern.startswith(re.escape(prefix + name)) for pattern in exceptions)
        )
        files.extend(prefix + name for name in sorted(filenames) if in_context(prefix + name, rules))
    return files


def copy_context(source: Path, destination: Path) -> list[str]:
    files = context_files(source)
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
    return files


def _copy_one(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)  # COPY dir/ copies what is in it
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def replay_copies(dockerfile: Path, name: str, context: Path, root: Path) -> list[str]:
    """Do the stage's COPY instructions from the context into `root`; COPY --from is another stage's."""
    done: list[str] = []
    workdir = PurePosixPath("/")
    for keyword, args in stage(dockerfile, name).instructions:
        if keyword == "WORKDIR":  # Docker creates it; so must the stand-in, before paths are rebased into it
            workdir = workdir / args
            (root / workdir.relative_to("/")).mkdir(parents=True, exist_ok=True)
        if keyword != "COPY":
            continue
        words = exec_form(args) if args.startswith("[") else shlex.split(args)
        if any(word.startswith("--from") for word in words):
            done.append(f"(not replayed, comes from another stage) COPY {args}")
            continue
        words = [word for word in words if not word.startswith("--")]
        sources, dest = words[:-1], workdir / words[-1]
        for source in sources:
            path = context / source
            if not path.exists():
                raise FileNotFoundError(f"COPY {source}: not in the build context (see .dockerignore)")
            into_dir = len(sources) > 1 or words[-1].endswith("/") or path.is_dir()
            target = root / dest.relative_to("/")
            _copy_one(path, target / path.name if into_dir and path.is_file() else target)
        done.append(f"COPY {args}")
    return done


def replay_runs(dockerfile: Path, root: Path, env: dict[str, str]) -> list[str]:
    """Run the final stage's RUN steps with the image's environment; user creation is not replayed."""
    done: list[str] = []
    workdir = PurePosixPath("/")
    for keyword, args in stage(dockerfile).instructions:
        if keyword == "WORKDIR":
            workdir = workdir / args
        if keyword != "RUN":
            continue
        if NOT_REPLAYED.search(args):
            done.append(f"(not replayed, would change this machine's users) RUN {args}")
            continue
        cwd = root / workdir.relative_to("/")
        cwd.mkdir(parents=True, exist_ok=True)
        print(f"+ RUN {args}", flush=True)
        subprocess.run(exec_form(args), env=env, cwd=cwd, check=True)
        done.append(f"RUN {args}")
    return done


def workdir(dockerfile: Path) -> str:
    """The final stage's WORKDIR, where CMD runs."""
    current = PurePosixPath("/")
    for keyword, args in stage(dockerfile).instructions:
        if keyword == "WORKDIR":
            current = current / args
    return str(current)


def rebased_env(dockerfile: Path, root: Path) -> dict[str, str]:
    return {key: rebase(value, root) for key, value in image_env(dockerfile).items()}


def snapshot(root: Path) -> str:
    """A digest of every path, size and modification time under `root`: any write changes it."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + dirnames:
            path = Path(directory) / name
            info = path.lstat()
            digest.update(f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        value = json.load(response)
    if not isinstance(value, dict):
        raise ValueError(f"{url}: not a JSON object")
    return value


def probe(base: str) -> list[str]:
    """What a running image must answer: alive, ready (not degraded), GeoIP and airports in use."""
    checks = [
        ("/healthz", "status", "ok"),
        ("/readyz", "status", "ready"),
        ("/nearest?ip=129.93.1.1&n=1", "method", "geoip"),  # the embedded DB-IP database
        ("/nearest?colo=ORD&n=1", "method", "colo"),  # the airports store built at build time
    ]
    results: list[str] = []
    for path, key, expected in checks:
        body = _get_json(base + path)
        if body.get(key) != expected:
            raise AssertionError(f"GET {path}: {key}={body.get(key)!r}, expected {expected!r}: {body}")
        results.append(f"GET {path}: {key}={expected}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("context", help="copy the build context (after .dockerignore) to DEST")
    p.add_argument("source", type=Path)
    p.add_argument("dest", type=Path)
    p = commands.add_parser("copy", help="replay a stage's COPY instructions into ROOT")
    p.add_argument("dockerfile", type=Path)
    p.add_argument("stage")
    p.add_argument("context", type=Path)
    p.add_argument("root", type=Path)
    p = commands.add_parser("env", help="print the final stage's environment, paths rebased on ROOT")
    p.add_argument("dockerfile", type=Path)
    p.add_argument("root", type=Path)
    p = commands.add_parser("run", help="replay the final stage's RUN steps with its environment")
    p.add_argument("dockerfile", type=Path)
    p.add_argument("root", type=Path)
    for name in ("healthcheck", "cmd", "workdir"):
        p = commands.add_parser(name, help=f"print the {name.upper()} arguments, one a line")
        p.add_argument("dockerfile", type=Path)
    p = commands.add_parser("snapshot", help="print a digest of the files, sizes and times under ROOT")
    p.add_argument("root", type=Path)
    p = commands.add_parser("probe", help="check the answers of a running image at BASE_URL")
    p.add_argument("base_url")
    args = parser.parse_args(argv)
    try:
        lines = _dispatch(args)
    except subprocess.CalledProcessError as exc:
        print(f"imagecheck: FAIL: {shlex.join(exc.cmd)} exited with status {exc.returncode}", file=sys.stderr)
        return 1
    except (OSError, ValueError, AssertionError) as exc:
        print(f"imagecheck: FAIL: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


def _dispatch(args: argparse.Namespace) -> list[str]:
    lines: list[str]
    if args.command == "context":
        lines = [f"{len(copy_context(args.source, args.dest))} files in the build context"]
    elif args.command == "copy":
        lines = replay_copies(args.dockerfile, args.stage, args.context, args.root)
    elif args.command == "env":
        lines = [f"{key}={value}" for key, value in rebased_env(args.dockerfile, args.root).items()]
    elif args.command == "run":
        lines = replay_runs(args.dockerfile, args.root, rebased_env(args.dockerfile, args.root))
    elif args.command == "healthcheck":
        lines = healthcheck(args.dockerfile)
    elif args.command == "cmd":
        lines = command(args.dockerfile)
    elif args.command == "workdir":
        lines = [workdir(args.dockerfile)]
    elif args.command == "snapshot":
        lines = [snapshot(args.root)]
    else:
        lines = probe(args.base_url.rstrip("/"))
    return lines


if __name__ == "__main__":
    sys.exit(main())
