"""Memos of recent answers: bounded, oldest out first, and replaced with the data they were computed from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from locator.edge import EdgeContext
from locator.geo import Coordinate, FloatArray
from locator.locate import Location
from locator.rank import IndexArray

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A dict of at most `size` entries; when full, the oldest entry makes room."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = value


@dataclass(frozen=True)
class Memos:
    """What a decision may reuse while the data stays the same.

    - locations, by (declared position, edge context): a site's jobs come from a few NAT addresses through
      the same edge, and locating them again gives the same answer;
    - rankings, by (origin, n): many clients share an origin (the edge gives a city's position, GeoIP a
      network's), and the ranking from it only changes with the cache list; a sticky fallback order by
      (client network, its time window, n), for as long as the window lasts.
    """

    size: int
    locations: Memo[tuple[Coordinate | None, EdgeContext], Location]
    rankings: Memo[tuple[object, ...], tuple[IndexArray, FloatArray]]

    @classmethod
    def of(cls, size: int) -> Memos:
        return cls(size, Memo(size), Memo(size))
