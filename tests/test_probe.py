"""The probe against real local services (a `locator serve` and the legacy emulation over HTTP), its
failure records, and `score` on what it collected."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from evaluation.cli import cli
from evaluation.probe import probe, site_name
from locator.sources.caches_file import load_caches
from tests.test_e2e import free_port, serve, stop, wait_until_responds
from tests.test_legacy import SERVERS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent
CACHES_2022 = REPO / "data" / "evaluation" / "2022" / "caches.csv"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A locator and the legacy emulation, both ranking the 2022 worker's caches with the 2022 study's
    database (GeoLite2 2018, where 8.8.8.8 is known only by its country)."""
    data = tmp_path_factory.mktemp("services")
    locator, locator_port = serve(
        CACHES_2022,
        data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        log_level="warning",
        geoip_db="geolite2-2018",
    )
    legacy_port = free_port()
    legacy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evaluation",
            "legacy-serve",
            "--port",
            str(legacy_port),
            "--caches",
            str(CACHES_2022),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    urls = (f"http://127.0.0.1:{locator_port}", f"http://127.0.0.1:{legacy_port}")
    try:
        wait_until_responds(urls[0] + "/healthz", locator)
        wait_until_responds(urls[1] + "/api/v1.0/geo/129.93.1.1/129.93.1.1", legacy)
        yield urls
    finally:
        stop(locator)
        stop(legacy)


def run_probe(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "evaluation", "probe", "--caches", str(CACHES_2022), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record: dict[str, object] = json.loads(result.stdout)
    return record


def test_probe_records_both_services_and_the_edges_view(services: tuple[str, str]) -> None:
    locator, legacy = services
    record = run_probe(
        "--locator",
        locator,
        "--legacy",
        legacy,
        "--site",
        "UColorado_HEP",
        "--client-ip",
        "128.138.129.1",
        "--edge-header",
        "cf-ray: 6c3f0f0a9e1b2c3d-DFW",
    )
    assert record["site"] == "UColorado_HEP"
    assert record["client_ip"] == "128.138.129.1" and record["colo"] == "DFW"
    assert record["locator_pick"] == "Stashcache-Kansas" and record["locator_method"] == "geoip"
    assert record["legacy_pick"] == "Stashcache-Kansas"
    assert record["synthetic"] is True  # simulated edge headers and address: never real results


def test_probe_failures_become_record_errors(services: tuple[str, str]) -> None:
    locator, legacy = services
    with socket.socket() as silent:  # accepts connections, never answers: a hung service
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        record = run_probe(
            "--locator",
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            "--timeout",
            "0.5",
            "--legacy",
            legacy,
            "--site",
            "X",
        )
    assert record["locator_error"] == "timeout"
    assert record["legacy_error"] == "HTTP 400: Bad Request: remote addr not found in database"  # 127.0.0.1
    record = run_probe(
        "--locator", "http://locator.blocked.invalid:8000", "--legacy", f"http://127.0.0.1:{free_port()}"
    )
    assert str(record["locator_error"]).startswith("DNS:")
    assert str(record["legacy_error"]).startswith("unreachable:")


def test_site_name_from_the_job_environment() -> None:
    assert site_name(None, {"GLIDEIN_Site": "S", "GLIDEIN_ResourceName": "R"}) == "R"
    assert site_name(None, {"OSG_SITE_NAME": "O"}) == "O"
    assert site_name("given", {"GLIDEIN_ResourceName": "R"}) == "given"
    assert site_name(None, {}) == ""


def test_probe_without_services_is_a_record_not_a_crash() -> None:
    record = probe(f"http://127.0.0.1:{free_port()}", None, load_caches(CACHES_2022), "S", timeout_s=1)
    assert str(record["locator_error"]).startswith("unreachable:") and "legacy_error" not in record


def test_score_a_probe_file(services: tuple[str, str], tmp_path: Path) -> None:
    locator, legacy = services
    out = tmp_path / "probes.jsonl"
    for site, address, colo in (
        ("UColorado_HEP", "128.138.129.1", "DFW"),
        ("ASU-DELL_M420", "8.8.8.8", "LAX"),
        ("SIUE-CC-production", "146.163.1.1", "ORD"),
    ):
        # in this process (the command's own code, as a job's `python -m evaluation probe` above runs it)
        probed = CliRunner().invoke(
            cli,
            [
                "probe",
                "--caches",
                str(CACHES_2022),
                "--locator",
                locator,
                "--legacy",
                legacy,
                "--site",
                site,
                "--client-ip",
                address,
                "--edge-header",
                f"cf-ray: 0-{colo}",
                "--out",
                str(out),
            ],
            env={},
        )
        assert probed.exit_code == 0, probed.output
    assert len(out.read_text().splitlines()) == 3
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "score",
            str(out),
            "--caches",
            str(CACHES_2022),
            "--sites",
            str(REPO / "data" / "evaluation" / "2022" / "sites.csv"),
            "--out",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    stats = summary["populations"]["synthetic"]["strategies"]
    assert "real" not in summary["populations"]
    assert stats["locator"]["correct"] == 3 and stats["locator"]["observed"] == 3
    assert stats["legacy"]["correct"] == 2  # 8.8.8.8 is the Kansas centroid: ASU gets Kansas City
    assert stats["worker"]["computed"] == 3
    for name in ("sites.csv", "report.md", "accuracy_synthetic.png", "map_synthetic.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0


# `python -m evaluation` with pandas and matplotlib unimportable, as on a worker node with the base install only.
WITHOUT_EXTRAS = """
import runpy, sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pandas", "matplotlib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
sys.argv = ["evaluation", *sys.argv[1:]]
runpy.run_module("evaluation", run_name="__main__")
"""


def without_extras(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_probe_and_the_legacy_emulation_need_no_extra(services: tuple[str, str], tmp_path: Path) -> None:
    """What a job runs on a worker node starts without the evaluation's pandas and matplotlib; a command that
    needs them says which extra, in one line."""
    locator, legacy = services
    answer = without_extras("legacy", "129.93.1.1", SERVERS, cwd=tmp_path)
    assert (answer.returncode, answer.stdout) == (0, "5,4,2,6,3,1\n"), answer.stderr
    out = tmp_path / "probes.jsonl"
    probed = without_extras(
        "probe",
        "--locator",
        locator,
        "--legacy",
        legacy,
        "--site",
        "UColorado_HEP",
        "--client-ip",
        "128.138.129.1",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert probed.returncode == 0, probed.stderr
    assert json.loads(out.read_text())["site"] == "UColorado_HEP"
    needs = without_extras("synthesize", "--records", "5", "--out", "x.csv", cwd=tmp_path)
    assert needs.returncode == 2 and "Traceback" not in needs.stderr
    assert needs.stderr.strip() == (
        "evaluation: error: this needs the extra [evaluation] (pandas is not installed): "
        "pip install 'osdf-cache-locator[evaluation]'"
    )
