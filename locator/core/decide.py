"""One decision: where the client is (the cascade), then the caches in order from there (the ranking), and the
origins exporting the path asked about.

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
from locator.core.rank import Place, Ranking, rank, rank_origins, sticky_window_end


@dataclass(frozen=True)
class Decision:
    """The location, the namespace asked for (None: no path given), the path an origin exports that covers the
    path asked for (None: none does) and, on demand, the rankings."""

    location: Location
    namespace: Namespace | None
    network: str
    n: int | None
    now_s: float
    federation: Federation
    export: str | None = None

    @cached_property
    def ranking(self) -> Ranking:
        return rank(self.federation, self.location.coordinate, self.namespace, self.network, self.n, self.now_s)

    @cached_property
    def origin_ranking(self) -> Ranking | None:
        if self.export is None:
            return None
        location = self.location
        return rank_origins(self.federation, location.coordinate, self.export, self.network, self.n, self.now_s)

    def origins(self) -> Iterator[tuple[Cache, Place]]:
        """The origins exporting the path, nearest first (none without a path or an origin exporting it)."""
        origins, ranking = self.federation.caches.origins, self.origin_ranking
        return iter(()) if ranking is None else ((origins[place.cache_index], place) for place in ranking)

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
    export: str | None = None,
) -> Decision:
    location = locate(declared, context, federation.sources, federation.policy)
    return Decision(location, namespace, client_network(context.client_ip), n, now_s, federation, export)
