"""`locator sync`: fixtures in the JSON shapes of Pelican's director and OSG Topology, served by a real local HTTP
server; what is written, what is kept, atomic replacement, refusal of bad documents, and live reload."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from werkzeug import Request, Response

from locator.sources.caches_file import load_caches
from locator.sources.namespaces_file import load_namespaces
from locator.sources.sync import NAMESPACES, SERVERS, TOPOLOGY, SyncError, sync_director, sync_topology
from tests.conftest import ClientFactory, Handler

REPO = Path(__file__).resolve().parent.parent

# listNamespaces (server_structs.NamespaceAdV2): both JSON spellings of the capabilities, and the director's own
# monitoring namespace, which is no data namespace.
DIRECTOR_NAMESPACES = [
    {"capabilities": {"PublicRead": True, "Read": True}, "path": "/ospool/ap20", "token-generation": [],
     "token-issuer": [], "from-topology": False},
    {"Caps": {"PublicRead": False, "Read": True}, "path": "/igwn/ligo", "token-issuer": [], "from-topology": True},
    {"PublicRead": True, "path": "/gwdata/"},
    {"capabilities": {"PublicRead": True, "Read": True}, "path": "/pelican/monitoring"},
]  # fmt: skip


def server(
    name: str, url: str, lat: float, lon: float, prefixes: list[str], filtered: bool = False
) -> dict[str, object]:
    """One entry of director_ui/servers (listServerResponse)."""
    return {
        "name": name,
        "authUrl": url,
        "brokerUrl": "",
        "url": url,
        "webUrl": url.replace(":8443", ":8444"),
        "type": "Cache",
        "latitude": lat,
        "longitude": lon,
        "capabilities": {"PublicRead": True, "Read": True, "Write": False, "Listing": True, "FallBackRead": False},
        "filtered": filtered,
        "filteredType": "topoFiltered" if filtered else "",
        "fromTopology": False,
        "healthStatus": "OK",
        "ioLoad": 12.5,
        "namespacePrefixes": prefixes,
    }


DIRECTOR_SERVERS = [
    server("HOUSTON", "https://houston.example:8443", 29.76, -95.37, ["/ospool/ap20", "/gwdata", "/igwn/ligo"]),
    server("LIGO_ONLY", "https://ligo.example:8443", 34.14, -118.12, ["/gwdata", "/igwn/ligo"]),
    server("DOWN", "https://down.example:8443", 41.88, -87.62, ["/ospool/ap20", "/gwdata"], filtered=True),
    server("NOWHERE", "https://nowhere.example:8443", 0.0, 0.0, ["/ospool/ap20", "/gwdata", "/pelican/monitoring"]),
]


Reply = Callable[[], Response]


@pytest.fixture
def http(local_http: Callable[[Handler], str]) -> Callable[[Mapping[str, tuple[int, bytes] | Reply]], str]:
    """A director (or Topology) on 127.0.0.1 answering documents by path and query: (status, body), or a function
    making the response (a stream). Each call returns a base URL of its own."""

    def start(documents: Mapping[str, tuple[int, bytes] | Reply]) -> str:
        def answer(request: Request) -> Response:
            found = documents.get(request.full_path.rstrip("?"))
            if found is None:
                return Response(b"not here", status=404)
            return found() if callable(found) else Response(found[1], status=found[0])

        return local_http(answer)

    return start


def director(
    servers: object = DIRECTOR_SERVERS, namespaces: object = DIRECTOR_NAMESPACES
) -> dict[str, tuple[int, bytes]]:
    return {SERVERS: (200, json.dumps(servers).encode()), NAMESPACES: (200, json.dumps(namespaces).encode())}


def test_sync_from_a_director_writes_both_files(http: Callable[..., str], tmp_path: Path) -> None:
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    synced = sync_director(http(director()), caches_file, namespaces_file)
    assert (synced.caches, synced.namespaces) == (4, 3)
    table = load_namespaces(namespaces_file)
    assert {(ns.path, ns.require_token) for ns in table} == {
        ("/ospool/ap20", False),
        ("/igwn/ligo", True),
        ("/gwdata", False),
    }
    caches = {c.name: c for c in load_caches(caches_file).caches}
    assert caches["HOUSTON"].namespaces == {"/ospool/ap20", "/gwdata", "/igwn/ligo"} and caches["HOUSTON"].public
    # serves every public namespace? no (not /ospool/ap20): LIGO-only, not open to other public data
    assert caches["LIGO_ONLY"].namespaces == {"/gwdata", "/igwn/ligo"} and not caches["LIGO_ONLY"].public
    assert caches["DOWN"].downtime and not caches["DOWN"].in_service  # the director's filter
    assert caches["NOWHERE"].coordinate is None  # 0,0 is no position
    assert caches["HOUSTON"].endpoint == "https://houston.example:8443"


def test_a_directors_origins_and_its_root_namespace(http: Callable[..., str], tmp_path: Path) -> None:
    origin = {**server("UW_ORIGIN", "https://origin.wisc.example:8443", 43.07, -89.40, ["/ospool/ap20/", "/"])}
    origin["type"] = "Origin"
    idle = {**server("IDLE_ORIGIN", "https://idle.example:8443", 0.0, 0.0, ["/pelican/monitoring"]), "type": "Origin"}
    namespaces = [*DIRECTOR_NAMESPACES, {"capabilities": {"PublicRead": True}, "path": "/"}]
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    synced = sync_director(http(director([*DIRECTOR_SERVERS, origin, idle], namespaces)), caches_file, namespaces_file)
    assert (synced.caches, synced.origins, synced.namespaces) == (4, 1, 4)
    loaded = load_caches(caches_file)
    assert [c.name for c in loaded.caches] == ["HOUSTON", "LIGO_ONLY", "DOWN", "NOWHERE"]  # never an origin
    (uw,) = loaded.origins  # the origin exporting only the director's own namespace is left out
    assert (uw.name, uw.namespaces, uw.role) == ("UW_ORIGIN", {"/ospool/ap20", "/"}, "origin")
    assert "/" in {ns.path for ns in load_namespaces(namespaces_file)}


def test_topologys_origins_of_each_namespace(http: Callable[..., str], tmp_path: Path) -> None:
    parsed = json.loads((REPO / "data" / "sources" / "osdf_namespaces.json").read_text())
    for namespace in parsed["namespaces"]:  # the 2026 document names no cache: give one a namespace
        if namespace["path"] == "/gwdata":
            namespace["caches"] = [{"resource": "CIT_LIGO_OSDFCACHE", "endpoint": "osdfcache.ligo.caltech.edu:8000"}]
    document = json.dumps(parsed).encode()
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    shutil.copy(REPO / "data" / "caches.csv", caches_file)
    synced = sync_topology(http({TOPOLOGY: (200, document)}), caches_file, namespaces_file)
    origins = {o.name: o for o in load_caches(caches_file).origins}
    exported = {
        (ns["path"], o["resource"]) for ns in json.loads(document)["namespaces"] for o in ns.get("origins") or []
    }
    assert synced.origins == len(origins) == len({name for _, name in exported}) > 0
    for path, name in exported:
        assert path in origins[name].namespaces and origins[name].coordinate is None  # Topology gives no position
    again = sync_topology(http({TOPOLOGY: (200, document)}), caches_file, namespaces_file)  # its own output again
    assert again.origins == synced.origins


def test_a_sync_keeps_what_the_operator_set(http: Callable[..., str], tmp_path: Path) -> None:
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    caches_file.write_text(
        "name,endpoint,latitude,longitude,status,weight,note\n"
        "HOUSTON,https://old.example:8443,1,1,disabled,3,hardware swap\n"
        "OTHER,https://other.example:8443,2,2,up,1,\n"
    )
    sync_director(http(director()), caches_file, namespaces_file)
    houston = load_caches(caches_file).named("HOUSTON")
    assert houston is not None
    assert (houston.status, houston.weight, houston.endpoint) == ("disabled", 3.0, "https://houston.example:8443")
    assert "hardware swap" in caches_file.read_text()


BAD_DOCUMENTS = {
    "an HTTP error": {SERVERS: (500, b"oops"), NAMESPACES: (200, json.dumps(DIRECTOR_NAMESPACES).encode())},
    "not JSON": {SERVERS: (200, b"<html>"), NAMESPACES: (200, json.dumps(DIRECTOR_NAMESPACES).encode())},
    "no caches": director(servers=[]),
    "no namespaces": director(namespaces=[]),
    "not a list": director(servers={"caches": []}),
    "a bad URL": director(servers=[server("X", "ftp://x.example", 1, 1, [])]),
    "a nameless cache": director(servers=[{"url": "https://x.example:8443"}]),
    "two caches of one name": director(servers=[DIRECTOR_SERVERS[0], DIRECTOR_SERVERS[0]]),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
def test_a_bad_or_empty_document_changes_nothing(http: Callable[..., str], tmp_path: Path, case: str) -> None:
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    caches_file.write_text("name,endpoint,latitude,longitude\nA,https://a.example:8443,1,1\n")
    namespaces_file.write_text("path,require_token\n/a,false\n")
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (caches_file, namespaces_file)}
    with pytest.raises(SyncError) as raised:
        sync_director(http(BAD_DOCUMENTS[case]), caches_file, namespaces_file)
    assert "\n" not in str(raised.value)  # one line
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caches.csv", "namespaces.csv"]  # no temporary files left


def test_files_are_replaced_whole_never_seen_half_written(http: Callable[..., str], tmp_path: Path) -> None:
    """A reader during 15 syncs always sees a whole file: the old one or the new one (rename, not rewrite)."""
    many = [
        server(f"C{i:04d}", f"https://c{i}.example:8443", 30 + i % 10, -90 - i % 20, ["/gwdata"]) for i in range(800)
    ]
    base = http(director(servers=many))
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    sync_director(base, caches_file, namespaces_file)
    before = caches_file.open("rb")  # the file as it was: a rename unlinks it, a rewrite in place would not
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(len(load_caches(caches_file).caches))
            time.sleep(0.001)  # let the writer run too (one interpreter lock)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(15):
        sync_director(base, caches_file, namespaces_file)
    stop.set()
    reader.join()
    assert seen and set(seen) == {800}
    with before:
        assert os.fstat(before.fileno()).st_nlink == 0  # replaced by a rename, not rewritten in place


def test_topologys_current_document_is_refused_with_the_reason(http: Callable[..., str], tmp_path: Path) -> None:
    """OSG Topology's real /osdf/namespaces answer at the caches file's snapshot lists no cache for any namespace:
    every active cache is a Pelican cache. Syncing from it must not empty every namespace."""
    document = (REPO / "data" / "sources" / "osdf_namespaces.json").read_bytes()
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    caches_file.write_bytes((REPO / "data" / "caches.csv").read_bytes())
    with pytest.raises(SyncError, match="Topology lists no cache for any namespace.*sync from the Pelican director"):
        sync_topology(http({TOPOLOGY: (200, document)}), caches_file, namespaces_file)
    assert not namespaces_file.exists()


def test_a_topology_document_with_caches_sets_what_each_cache_serves(http: Callable[..., str], tmp_path: Path) -> None:
    document = json.loads((REPO / "data" / "sources" / "osdf_namespaces.json").read_text())
    for namespace in document["namespaces"]:
        if namespace["path"] == "/gwdata":
            namespace["caches"] = [
                {"resource": "CIT_LIGO_OSDFCACHE", "endpoint": "osdfcache.ligo.caltech.edu:8000"},
                {"resource": "NOT_IN_THE_FILE", "endpoint": "x.example:8000"},
            ]
    caches_file, namespaces_file = tmp_path / "caches.csv", tmp_path / "namespaces.csv"
    caches_file.write_bytes((REPO / "data" / "caches.csv").read_bytes())
    synced = sync_topology(http({TOPOLOGY: (200, json.dumps(document).encode())}), caches_file, namespaces_file)
    assert synced.namespaces == 11 and synced.caches == 42
    assert synced.notes == ("not in the caches file (this document gives no position): NOT_IN_THE_FILE",)
    caches = {c.name: c for c in load_caches(caches_file).caches}
    assert caches["CIT_LIGO_OSDFCACHE"].namespaces == {"/gwdata"}
    assert (
        caches["LIGO_WA_CALTECH_OSDF_CACHE"].namespaces == frozenset() and caches["LIGO_WA_CALTECH_OSDF_CACHE"].public
    )


def test_the_command_line_one_line_and_exit_codes(http: Callable[..., str], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOCATOR_CACHES_FILE": str(tmp_path / "c.csv"),
        "LOCATOR_NAMESPACES_FILE": str(tmp_path / "n.csv"),
    }
    command = [sys.executable, "-m", "locator", "sync", "director"]
    good = subprocess.run([*command, http(director())], env=env, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("synced 4 caches and 3 namespaces from the director at http://")
    bad = subprocess.run([*command, http(director(servers=[]))], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["locator: error: director_ui/servers: the director lists no cache"]


def test_a_running_service_picks_the_synced_files_up(
    http: Callable[..., str], make_client: ClientFactory, data_dir: Path
) -> None:
    client = make_client(reload_interval_s="0.05")
    assert "HOUSTON" not in {c["name"] for c in client.get("/caches").json()["caches"]}
    sync_director(http(director()), data_dir / "caches.csv", data_dir / "namespaces.csv")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if {c["name"] for c in client.get("/caches").json()["caches"]} == {"HOUSTON", "LIGO_ONLY", "DOWN", "NOWHERE"}:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the service did not reload the synced files")
    answer = client.get("/nearest", params={"lat": "34", "lon": "-118", "path": "/igwn/ligo/x"}).json()
    assert [c["name"] for c in answer["caches"]] == ["LIGO_ONLY", "HOUSTON"]
    assert client.get("/readyz").json()["reload"]["namespaces"]["error"] is None


# --- a hostile upstream -------------------------------------------------------------------------------------


def run_sync(base: str, caches_file: Path, *args: str, timeout: str = "10") -> tuple[int, list[str], float, float]:
    """`locator sync director` as an operator runs it: (exit status, stderr lines, seconds, peak RSS in MB). The
    peak is read by a wrapper whose only child is the sync."""
    env = {
        **os.environ,
        "LOCATOR_CACHES_FILE": str(caches_file),
        "LOCATOR_NAMESPACES_FILE": str(caches_file.with_name("namespaces.csv")),
    }
    wrapper = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stderr.write(done.stderr); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-m", "locator", "sync", "director", base, "--timeout", timeout, *args]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], env=env, capture_output=True, text=True, timeout=float(timeout) + 60
    )
    took = time.monotonic() - started
    status, peak_kb = done.stdout.split()[-2:]
    return int(status), done.stderr.strip().splitlines(), took, int(peak_kb) / 1024


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """The shipped caches file (42 caches, many open to public data) and namespaces file, as a deployment has."""
    caches_file = tmp_path / "caches.csv"
    caches_file.write_bytes((REPO / "data" / "caches.csv").read_bytes())
    (tmp_path / "namespaces.csv").write_bytes((REPO / "data" / "namespaces.csv").read_bytes())
    return caches_file


def unchanged(caches_file: Path) -> bool:
    return caches_file.read_bytes() == (REPO / "data" / "caches.csv").read_bytes() and sorted(
        p.name for p in caches_file.parent.iterdir()
    ) == ["caches.csv", "namespaces.csv"]


def streaming(chunks: Callable[[], Iterator[bytes]]) -> Reply:
    return lambda: Response(chunks(), status=200, content_type="application/json")


def endless() -> Iterator[bytes]:
    yield b"["
    while True:
        yield b'{"name": "x", "url": "https://x.example"},' * 1000


def trickle() -> Iterator[bytes]:
    while True:
        yield b" "
        time.sleep(0.4)


@pytest.mark.parametrize(
    ("body", "timeout", "message"),
    [
        (
            lambda: Response((b" " * 1_000_000 for _ in range(100)), headers={"content-length": "100000000"}),
            "30",
            "larger than 16,000,000 bytes (100,000,000)",
        ),
        (streaming(endless), "30", "larger than 16,000,000 bytes"),
        (streaming(trickle), "2", "no complete answer within 2 s"),
    ],
    ids=["100 MB", "endless chunked", "a byte every 0.4 s"],
)
def test_what_sync_reads_is_bounded_in_bytes_and_time(
    http: Callable[..., str], shipped: Path, body: Reply, timeout: str, message: str
) -> None:
    """Finding 4: whatever the director sends, `locator sync` reads at most LOCATOR_SYNC_MAX_MB (16 MB) and takes at
    most its --timeout for the whole transfer; its memory stays under 200 MB (the CronJob's limit is 256 Mi)."""
    base = http({NAMESPACES: (200, json.dumps(DIRECTOR_NAMESPACES).encode()), SERVERS: body})
    status, lines, took, peak_mb = run_sync(base, shipped, timeout=timeout)
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert took < float(timeout) + 5
    assert peak_mb < 200
    assert unchanged(shipped)


HURTFUL = {
    # a director listing one cache replaces a 42-cache file
    "one cache": (director(servers=DIRECTOR_SERVERS[:1]), "--allow-shrink", "a cut of more than"),
    # a public namespace no cache advertises: no cache is open to public data any more
    "no public cache": (
        director(
            servers=[server(f"C{i}", f"https://c{i}.example:8443", 40, -90 - i, ["/gwdata"]) for i in range(40)],
        ),
        "--allow-no-public",
        "no cache in service open to public data",
    ),
}


@pytest.mark.parametrize("case", HURTFUL)
def test_results_that_would_hurt_the_service_need_a_flag(http: Callable[..., str], shipped: Path, case: str) -> None:
    """Finding 5: documents that load but would hurt the service are refused, one line and exit 2, unless the
    operator says the result is meant."""
    documents, flag, message = HURTFUL[case]
    base = http(documents)
    status, lines, _, _ = run_sync(base, shipped)
    assert status == 2 and len(lines) == 1 and message in lines[0] and flag in lines[0], lines
    assert unchanged(shipped)
    status, lines, _, _ = run_sync(base, shipped, flag)
    assert status == 0, lines
    assert not unchanged(shipped)


def test_a_namespace_listed_twice_is_refused(http: Callable[..., str], tmp_path: Path) -> None:
    """Finding 5: `/igwn/ligo/` listed beside `/igwn/ligo` (public, where the other needs a token) must not silently
    decide whether LIGO's data needs a token."""
    twice = [*DIRECTOR_NAMESPACES, {"capabilities": {"PublicRead": True}, "path": "/igwn/ligo/"}]
    with pytest.raises(SyncError, match="/igwn/ligo is listed twice"):
        sync_director(http(director(namespaces=twice)), tmp_path / "caches.csv", tmp_path / "namespaces.csv")


many_namespaces = [{"capabilities": {"PublicRead": True}, "path": f"/ns/{i:06d}"} for i in range(20_000)]
BAD_TEXT = {
    "a lone surrogate": (director(servers=[server("caf\ud800", "https://x.example:8443", 1, 1, [])]), "JSON"),
    "100k prefixes in one cell": (
        director(
            servers=[server("ALL", "https://all.example:8443", 40, -90, [ns["path"] for ns in many_namespaces])],
            namespaces=many_namespaces,
        ),
        "longer than the file holds",
    ),
    "a name the file cannot hold": (director(servers=[server("#x", "https://x.example:8443", 1, 1, [])]), "'#'"),
    "a metadata endpoint": (
        director(servers=[server("M", "http://169.254.169.254", 1, 1, [])]),
        "LOCATOR_ALLOW_PRIVATE_ENDPOINTS",
    ),
}
BAD_TEXT["deeply nested"] = (
    {
        SERVERS: (
            200,
            b'[{"name": "x", "url": "https://x.example", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        ),
        NAMESPACES: (200, json.dumps(DIRECTOR_NAMESPACES).encode()),
    },
    "nested too deeply",
)


@pytest.mark.parametrize("case", BAD_TEXT)
def test_bad_documents_are_one_line_and_exit_2(http: Callable[..., str], shipped: Path, case: str) -> None:
    """Finding 6 (tracebacks) and 7 (risky endpoints, names silently dropped): each refused in one line."""
    documents, message = BAD_TEXT[case]
    status, lines, _, _ = run_sync(http(documents), shipped)
    assert status == 2 and len(lines) == 1 and lines[0].startswith("locator: error: ") and message in lines[0], lines
    assert unchanged(shipped)
