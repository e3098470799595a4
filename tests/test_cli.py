"""The `locator` command: nearest, kv, airports and settings, with the fixture data."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from locator.cli import cli
from locator.settings import Settings


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The CLI's environment, given explicitly: the fixture files."""
    return {
        "LOCATOR_CACHES_FILE": str(settings.caches_file),
        "LOCATOR_OVERRIDES_FILE": str(settings.overrides_file),
        "LOCATOR_AIRPORTS_CSV": str(settings.airports_csv),
        "LOCATOR_AIRPORTS_STORE": str(settings.airports_store),
        "LOCATOR_GEOIP_DB": str(settings.geoip_db),
    }


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`locator ARGV` through click's runner: (exit status, stdout, stderr)."""
    result = CliRunner().invoke(cli, argv, env=env, prog_name="locator")
    return result.exit_code, result.stdout, result.stderr


def test_nearest_prints_endpoints_nearest_first(env: dict[str, str]) -> None:
    status, out, err = run(["nearest", "--ip", "129.93.1.1"], env)
    assert status == 0
    assert out.splitlines()[0] == "https://kansas.example.org:8443"
    assert len(out.splitlines()) == 6
    assert "method=geoip client=129.93.1.1" in err and "(Lincoln, US)" in err


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        (["--colo", "DFW"], "https://houston.example.org:8443"),
        (["--lat", "37.3", "--lon", "-121.9"], "https://sunnyvale.example.org:8443"),
    ],
)
def test_nearest_by_colo_and_position(env: dict[str, str], argv: list[str], first: str) -> None:
    status, out, _ = run(["nearest", *argv, "-n", "1"], env)
    assert (status, out) == (0, first + "\n")


def test_nearest_json_is_the_http_body(env: dict[str, str]) -> None:
    status, out, _ = run(["nearest", "--ip", "8.8.8.8", "--colo", "DFW", "--json"], env)
    body = json.loads(out)
    assert body["method"] == "colo"
    assert body["skipped"]["geoip"] == "low_accuracy"


@pytest.mark.parametrize("argv", [["--lat", "91", "--lon", "0"], ["--ip", "nope"], ["--colo", "1234"], ["--lat", "40"]])
def test_nearest_bad_input_is_one_line_and_exit_2(env: dict[str, str], argv: list[str]) -> None:
    status, out, err = run(["nearest", *argv], env)
    assert status == 2 and out == ""
    assert err.startswith("locator: error: ") and err.count("\n") == 1


def test_missing_cache_file_is_one_clear_line(env: dict[str, str]) -> None:
    env["LOCATOR_CACHES_FILE"] = "/nonexistent/caches.csv"
    status, _, err = run(["nearest"], env)
    assert status == 2
    assert "cache file (LOCATOR_CACHES_FILE) not found" in err


def test_bad_setting_is_one_clear_line(env: dict[str, str]) -> None:
    env["LOCATOR_PORT"] = "eighty"
    status, _, err = run(["serve"], env)
    assert status == 2 and "LOCATOR_PORT has value 'eighty'" in err


def test_airports_load_and_kv_commands(env: dict[str, str]) -> None:
    status, out, _ = run(["airports", "load"], env)
    assert status == 0 and "loaded 9 airport codes" in out
    status, out, _ = run(["kv", "get", "DFW"], env)
    assert json.loads(out)["city"] == "Dallas-Fort Worth"
    assert run(["kv", "put", "TST", '{"latitude": 1, "longitude": 2}'], env)[0] == 0
    status, out, _ = run(["kv", "list", "--prefix", "T", "--limit", "1"], env)
    assert json.loads(out) == {"keys": [{"name": "TST"}], "list_complete": True, "cursor": None}
    status, out, _ = run(["kv", "list", "--limit", "2"], env)
    page = json.loads(out)
    assert [k["name"] for k in page["keys"]] == ["AMS", "DEN"] and page["cursor"]
    assert run(["kv", "delete", "TST"], env)[0] == 0
    status, _, err = run(["kv", "get", "TST"], env)
    assert status == 2 and "not found" in err


def test_settings_command_prints_values_that_read_back_the_same(env: dict[str, str]) -> None:
    """Pasteable: `true`, `900`, comma-joined networks, empty for none, quoted where a shell needs it; never
    Python reprs (`IPv4Network(...)`, `None`, `True`) or the metrics token."""
    changed = {
        "LOCATOR_TRUSTED_PROXIES": "10.0.0.0/8,2001:db8::/32",
        "LOCATOR_ALLOW_IP_OVERRIDE": "false",
        "LOCATOR_MAX_ACCURACY_KM": "250.5",
        "LOCATOR_OVERRIDES_FILE": str(Path(env["LOCATOR_CACHES_FILE"]).parent / "a dir with spaces" / "o.csv"),
        "LOCATOR_METRICS_TOKEN": "a-secret-token-of-some-length",
    }
    env |= changed
    status, out, _ = run(["settings"], env)
    assert status == 0 and "a-secret-token" not in out and "# LOCATOR_METRICS_TOKEN is set (not shown)" in out
    for text in ("LOCATOR_PORT=8000", "LOCATOR_ALLOW_IP_OVERRIDE=false", "LOCATOR_DEFAULT_COLO=\n",
                 "LOCATOR_TRUSTED_PROXIES=10.0.0.0/8,2001:db8::/32", "LOCATOR_MAX_ACCURACY_KM=250.5"):  # fmt: skip
        assert text in out
    assert not any(word in out for word in ("Network(", "None", "True", "False", "PosixPath"))
    pasted = dict(shlex.split(line)[0].split("=", 1) for line in out.splitlines() if not line.startswith("#"))
    outside = {name: value for name, value in os.environ.items() if name in pasted}  # none in CI
    expected = Settings.from_env(outside | env)
    read_back = Settings.from_env({**pasted, "LOCATOR_METRICS_TOKEN": changed["LOCATOR_METRICS_TOKEN"]})
    assert read_back.to_env() == expected.to_env()  # every setting but the secrets, which are compared apart
    assert str(read_back.metrics_token) == str(expected.metrics_token)  # Starlette's Secret has no __eq__


def test_python_dash_m_with_the_embedded_defaults() -> None:
    """`python -m locator nearest` in a fresh process, with no settings at all: the embedded defaults."""
    result = subprocess.run(
        [sys.executable, "-m", "locator", "nearest", "--ip", "129.93.1.1", "-n", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "https://unl-cache.nationalresearchplatform.org:8443\n"
