"""Real data-transfer clients from Debian's packages through a real `locator serve` (scripts/clients.py): each
fetches a file through the locator; with the nearest cache down those that fail over with what the locator sends
(a Metalink) still get it; once the health prober has demoted that cache, every client does."""

from __future__ import annotations

import pytest

from scripts.clients import CLIENTS, Results, run, table
from scripts.readme import shown_blocks

pytestmark = pytest.mark.e2e

UP, NEXT = "Lincoln", "Kansas City"
# What each client does when the nearest cache is down and the locator does not know it yet.
FAILS_OVER = {
    "curl -L <url>": False,  # follows the Location only
    "wget <url>": False,  # Debian's wget is built without Metalink
    "davix-get <url>": True,  # asks the URL again for its Metalink, then tries the next cache
    "gfal-copy <url>": False,  # gfal2 ships with Metalink off (/etc/gfal2.d/http_plugin.conf)
    "gfal-copy -D 'HTTP PLUGIN:METALINK=true' <url>": True,  # davix underneath, as davix-get
    "aria2c <url>": False,  # lists Metalink beside */* in Accept: it gets the redirect, as any client
    "aria2c '<locator>/nearest?path=<object>&format=metalink'": True,  # every cache, by priority
}


@pytest.fixture(scope="module")
def results() -> Results:
    return run()


def test_every_client_fetches_through_the_locator_from_the_nearest_cache(results: Results) -> None:
    assert [client.name for client in CLIENTS] == list(FAILS_OVER)
    assert {name: got[0] for name, got in results.items()} == dict.fromkeys(FAILS_OVER, UP)


def test_with_the_nearest_down_the_metalink_clients_fail_over(results: Results) -> None:
    assert {name: got[1] for name, got in results.items()} == {
        name: NEXT if fails_over else None for name, fails_over in FAILS_OVER.items()
    }


def test_once_the_prober_demotes_it_every_client_gets_the_next_cache(results: Results) -> None:
    assert {name: got[2] for name, got in results.items()} == dict.fromkeys(FAILS_OVER, NEXT)


def test_the_table_says_so(results: Results) -> None:
    lines = table(results).splitlines()
    assert lines[2] == "| `curl -L <url>` | yes (Lincoln) | no | yes (Kansas City) |"
    assert lines[4] == "| `davix-get <url>` | yes (Lincoln) | yes (Kansas City) | yes (Kansas City) |"


def test_the_readme_shows_this_run(results: Results) -> None:
    assert shown_blocks()["clients"] == table(results), "the README's clients table changed: `make readme`"
