"""The settings object: defaults, parsing, clear errors, and the documentation's table kept in step."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from locator.settings import DECLARED, Settings, SettingsError, reference_table, unknown_variables

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_defaults_need_no_files_or_variables() -> None:
    settings = Settings.from_env({})
    assert settings.caches_file.name == "caches.csv" and settings.caches_file.is_file()
    assert settings.airports_csv.is_file()
    assert settings.geoip_db is not None and settings.geoip_db.name == "dbip-city-lite-latest.mmdb"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert [str(net) for net in settings.trusted_proxies] == ["127.0.0.0/8", "::1/128"]
    assert settings.default_colo is None


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "LOCATOR_TRUSTED_PROXIES": " 173.245.48.0/20, 2400:cb00::/32 ,",
            "LOCATOR_DEFAULT_COLO": "dfw",
            "LOCATOR_GEOIP_DB": "",
            "LOCATOR_OVERRIDES_FILE": "",
            "LOCATOR_MAX_ACCURACY_KM": "500",
        }
    )
    assert [str(n) for n in settings.trusted_proxies] == ["173.245.48.0/20", "2400:cb00::/32"]
    assert settings.default_colo == "DFW"
    assert settings.geoip_db is None and settings.overrides_file is None
    assert settings.max_accuracy_km == 500.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOCATOR_PORT", "http"),
        ("LOCATOR_PORT", "70000"),
        ("LOCATOR_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("LOCATOR_MAX_ACCURACY_KM", "-1"),
        ("LOCATOR_FAR_FROM_COLO_KM", "nan"),
        ("LOCATOR_DEFAULT_COLO", "DALLAS"),
        ("LOCATOR_FALLBACK_STICKY_S", "0"),
        ("LOCATOR_WORKERS", "two"),
        ("LOCATOR_LOG_LEVEL", "loud"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{name} has value {value!r}"):
        Settings.from_env({name: value})


def test_unknown_variables_are_reported() -> None:
    assert unknown_variables({"LOCATOR_PROT": "1", "LOCATOR_PORT": "2", "OTHER": "3"}) == ["LOCATOR_PROT"]


def test_every_setting_is_declared_once_with_its_help_and_a_default_that_parses() -> None:
    assert [item.field for item in DECLARED] == [field.name for field in msgspec.structs.fields(Settings)]
    for item in DECLARED:
        assert item.help.endswith((".", ")")), f"{item.env}: no help sentence"
        item.read(item.default)  # every declared default is a valid value


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    """docs/settings.md's table is `locator settings --table` (a generated block, checked by test_readme.py);
    here: the variables it names are exactly the declared ones, each with its help."""
    text = SETTINGS_DOC.read_text()
    documented = re.findall(r"^\| `(LOCATOR_[A-Z0-9_]+)` \|", text, re.MULTILINE)
    assert sorted(documented) == sorted(item.env for item in DECLARED)
    assert reference_table() in text
