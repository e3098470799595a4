"""One decision: locate the client, then rank the caches from there (or order them stickily at random)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from locator.addresses import client_network
from locator.edge import EdgeContext
from locator.geo import Coordinate
from locator.locate import Location, locate
from locator.rank import RankedCache, rank_caches, sticky_order
from locator.resources import Resources


@dataclass(frozen=True)
class Decision:
    location: Location
    caches: list[RankedCache]


def decide(
    resources: Resources,
    context: EdgeContext,
    declared: Coordinate | None = None,
    n: int | None = None,
    now_s: float | None = None,
) -> Decision:
    """The whole answer for one client; the HTTP API and the CLI both come through here."""
    location = locate(declared, context, resources.sources, resources.policy)
    if location.coordinate is None:
        now = time.time() if now_s is None else now_s
        ranked = sticky_order(resources.caches, client_network(context.client_ip), now, resources.sticky_s, n)
    else:
        ranked = rank_caches(resources.caches, location.coordinate, n)
    return Decision(location, ranked)
