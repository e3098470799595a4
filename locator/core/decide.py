"""One decision: where the client is (the cascade), then the caches in order from there (the ranking).

The HTTP service, the CLI and the evaluation all decide through here, so the composition exists once. The
ranking runs only when it is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from locator.core.addresses import client_network
from locator.core.caches import Cache
from locator.core.edge import EdgeContext
from locator.core.federation import Federation
from locator.core.geo import Coordinate
from locator.core.locate import Location, locate
from locator.core.namespaces import Namespace
from locator.core.rank import Place, Ranking, rank, sticky_window_end


@dataclass(frozen=True)
class Decision:
    """The location, the namespace asked for (None: no path given) and, on demand, the ranking."""

    location: Location
    namespace: Namespace | None
    network: str
    n: int | None
    now_s: float
    federation: Federation

    @cached_property
    def ranking(self) -> Ranking:
        return rank(self.federation, self.location.coordinate, self.namespace, self.network, self.n, self.now_s)

    def __iter__(self) -> Iterator[tuple[Cache, Place]]:
        caches = self.federation.caches.caches
        return ((caches[place.cache_index], place) for place in self.ranking)

    @property
    def expires_s(self) -> float | None:
        """When this answer stops being the client's: for one without a position, the end of its sticky window
        (its order is drawn for that window); otherwise never (None)."""
        if self.location.coordinate is not None:
            return None
        return sticky_window_end(self.network, self.now_s, self.federation.spread.sticky_s)

    @property
    def first(self) -> Cache | None:
        ranking = self.ranking
        return self.federation.caches.caches[int(ranking.indices[0])] if len(ranking) else None


def decide(
    federation: Federation,
    context: EdgeContext,
    declared: Coordinate | None = None,
    namespace: Namespace | None = None,
    n: int | None = None,
    now_s: float = 0.0,
) -> Decision:
    location = locate(declared, context, federation.sources, federation.policy)
    return Decision(location, namespace, client_network(context.client_ip), n, now_s, federation)
