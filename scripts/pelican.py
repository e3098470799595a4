"""pelicanfs, the Pelican project's own Python client (PyPI), given only the locator's URL: it discovers the
locator as its federation's director over HTTPS, reads, lists, reads straight from the origin and fails over as
it does against Pelican's director.

    python -m scripts.pelican        # runs every check and prints the README's table (about 15 s)

Stand-ins on 127.0.0.1: caches in Lincoln and Kansas City serving `/ospool/test` (and public data), one in
Chicago serving only the token namespace `/protected`, and an origin in Madison exporting both (it answers
WebDAV listings). The operator's overrides put every 127.0.0.1 client in Lincoln. `locator serve` runs with a
certificate from a throwaway CA (trustme); the client trusts that CA through `SSL_CERT_FILE`, as a site would
its own. Each step runs pelicanfs in a process of its own (`--client`), as a job would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from scripts.clients import locator, wait_demoted
from scripts.launch import HOST, Launched

OBJECT = "/ospool/test/file.txt"
SECRET = "/protected/secret.txt"
SERVERS = {  # name: (latitude, longitude, role, namespaces cell, objects)
    "Lincoln": (40.82, -96.70, "cache", "/ospool/test;public", (OBJECT,)),
    "Kansas City": (39.10, -94.60, "cache", "/ospool/test;public", (OBJECT,)),
    "Chicago": (41.88, -87.62, "cache", "/protected", (SECRET,)),
    "Madison origin": (43.07, -89.40, "origin", "/ospool/test;/protected", (OBJECT, "/ospool/test/other.txt", SECRET)),
}
TIMEOUT_S = 60
Rows = list[tuple[str, str, str]]  # (what, what pelicanfs got, as expected)


class StandIn(BaseHTTPRequestHandler):
    """A cache or an origin: each object says which server it came from; PROPFIND lists a collection (WebDAV).
    Every request is remembered with whether it carried a token."""

    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _object(self) -> bytes | None:
        path = self.path.split("?", 1)[0]
        self.server.seen.append((self.command, path, "authorization" in {k.lower() for k in self.headers}))
        return f"served by {self.server.name}\n".encode() if path in self.server.objects else None

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain", send: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send:
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's names
        body = self._object()
        self._answer(200 if body is not None or self.path == "/" else 404, body or b"", send=False)

    def do_GET(self) -> None:  # noqa: N802
        body = self._object()
        self._answer(200 if body is not None or self.path == "/" else 404, body or b"not here\n")

    def do_PROPFIND(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._object()
        folder = self.path.split("?", 1)[0].rstrip("/") + "/"
        inside = sorted(path for path in self.server.objects if path.startswith(folder))
        if not inside:
            self._answer(404, b"not here\n")
            return
        stamp = formatdate(usegmt=True)

        def entry(href: str, collection: bool) -> str:
            kind = "<d:resourcetype><d:collection/></d:resourcetype>" if collection else "<d:resourcetype/>"
            size = 0 if collection else len(f"served by {self.server.name}\n")
            return (
                f"<d:response><d:href>{escape(href)}</d:href><d:propstat><d:prop>{kind}"
                f"<d:getcontentlength>{size}</d:getcontentlength><d:getlastmodified>{stamp}</d:getlastmodified>"
                "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
            )

        body = '<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">'
        body += entry(folder, True) + "".join(entry(path, False) for path in inside) + "</d:multistatus>"
        self._answer(207, body.encode(), "application/xml; charset=utf-8")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, objects: Sequence[str]) -> None:
        super().__init__((HOST, 0), StandIn)
        self.name, self.objects = name, frozenset(objects)
        self.seen: list[tuple[str, str, bool]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def client(discovery: str, direct: bool, token: str | None, steps: Sequence[str]) -> None:
    """One job's pelicanfs: each step (`cat:<path>`, `ls:<path>`) printed as a JSON line with what it got."""
    from pelicanfs.core import PelicanFileSystem

    async def run() -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        fs = PelicanFileSystem(discovery, direct_reads=direct, asynchronous=True, headers=headers)
        session = await fs.http_file_system.set_session()
        try:
            for step in steps:
                operation, _, path = step.partition(":")
                try:
                    if operation == "cat":
                        got: object = (await fs._cat_file(path)).decode().strip()
                    else:
                        got = sorted(item["name"].rsplit("/", 1)[-1] for item in await fs._ls(path, detail=True))
                except Exception as exc:  # what pelicanfs raises is the finding: NoAvailableSource and the like
                    got = f"{type(exc).__name__}"
                print(json.dumps({"step": step, "got": got}), flush=True)
        finally:
            await session.close()

    asyncio.run(run())


def pelicanfs(locator: Launched, steps: Sequence[str], direct: bool = False, token: str | None = None) -> list[Any]:
    """What each step got, from a pelicanfs of its own given only the locator's URL."""
    argv = [sys.executable, "-m", "scripts.pelican", "--client", locator.url, str(direct), token or "", *steps]
    env = {**os.environ, "SSL_CERT_FILE": str(locator.ca)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pelicanfs failed: {done.stderr.strip()[-500:]}")
    return [json.loads(line)["got"] for line in done.stdout.splitlines()]


@contextmanager
def tls_locator(scratch: Path, probing: bool) -> Iterator[Launched]:
    """scripts.clients's locator over HTTPS, with a certificate from a throwaway authority (trustme)."""
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert(HOST)
    ca, cert, key = scratch / f"ca-{probing}.pem", scratch / f"cert-{probing}.pem", scratch / f"key-{probing}.pem"
    authority.cert_pem.write_to_path(str(ca))
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    data = {
        **{f"{name}_file": str(scratch / f"{name}.csv") for name in ("caches", "namespaces", "overrides")},
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }
    with locator(scratch, probing, data, str(ca)) as server:
        yield server


def run() -> Rows:
    """Every check, in order: (what, what pelicanfs got, whether it is what Pelican's director would give)."""
    rows: Rows = []

    def check(what: str, got: object, expected: object) -> None:
        rows.append((what, json.dumps(got), "yes" if got == expected else f"no (expected {json.dumps(expected)})"))

    with tempfile.TemporaryDirectory(prefix="locator-pelican-") as temporary, ExitStack() as stack:
        scratch = Path(temporary)
        servers = {name: Server(name, spec[4]) for name, spec in SERVERS.items()}
        for server in servers.values():
            stack.callback(server.stop)
        (scratch / "caches.csv").write_text(
            "name,endpoint,latitude,longitude,namespaces,role\n"
            + "".join(
                f"{name},{servers[name].url},{lat},{lon},{cell},{role}\n"
                for name, (lat, lon, role, cell, _) in SERVERS.items()
            )
        )
        (scratch / "namespaces.csv").write_text("path,require_token\n/ospool/test,false\n/protected,true\n")
        (scratch / "overrides.csv").write_text("network,latitude,longitude,note\n127.0.0.0/8,40.81,-96.68,every job\n")
        unaware = stack.enter_context(tls_locator(scratch, probing=False))
        probing = stack.enter_context(tls_locator(scratch, probing=True))

        read, listed, secret = pelicanfs(unaware, [f"cat:{OBJECT}", "ls:/ospool/test/", f"cat:{SECRET}"], token="t0k3n")
        check("discovers the locator over HTTPS, reads from the nearest cache", read, "served by Lincoln")
        check("lists through the origin (collections-url)", listed, ["file.txt", "other.txt"])
        check("token namespace: the one cache serving it, token sent", secret, "served by Chicago")
        check(
            "the token reached that cache",
            [seen[2] for seen in servers["Chicago"].seen if seen[1] == SECRET][-1:],
            [True],
        )
        check(
            "direct_reads=True: from the origin",
            pelicanfs(unaware, [f"cat:{OBJECT}"], direct=True),
            ["served by Madison origin"],
        )
        servers["Lincoln"].stop()
        check(
            "nearest cache down, the locator unaware: fails over",
            pelicanfs(unaware, [f"cat:{OBJECT}"]),
            ["served by Kansas City"],
        )
        wait_demoted(probing, "Lincoln")
        check(
            "nearest cache demoted by the prober: the next first",
            pelicanfs(probing, [f"cat:{OBJECT}"]),
            ["served by Kansas City"],
        )
        servers["Kansas City"].stop()
        check("every cache of the namespace down", pelicanfs(unaware, [f"cat:{OBJECT}"]), ["NoAvailableSource"])
    return rows


def table(rows: Rows) -> str:
    lines = ["| pelicanfs, given only the locator's URL | got | as from Pelican's director |", "| --- | --- | --- |"]
    lines += [f"| {what} | `{got}` | {same} |" for what, got, same in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        discovery, direct, token, *steps = sys.argv[2:]
        client(discovery, direct == "True", token or None, steps)
    else:
        print(table(run()), end="")
