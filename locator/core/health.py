"""Cache health as the prober sees it, smoothed, and when to distrust the prober itself; pure, no I/O.

Each probe result moves a cache's score (1 = every probe answered) by an exponentially weighted average,
`score += ALPHA * (result - score)`, and the score sets the state:

- ok        score at least RESTORE_AT, or never below DEMOTE_BELOW since it was last ok
- degraded  below DEMOTE_BELOW: still ranked, but after every healthy cache
- failed    below REMOVE_BELOW: not ranked at all

From a healthy cache that means: 2 failures in a row demote it, 5 remove it; a removed cache comes back
(degraded) with its first answer and is healthy again after 4 in a row; one that alternates settles degraded.
A cache never probed (the prober is off, or has not run yet) is `unknown` and ranked as healthy.

When more than half of the probed caches are failing or degraded at once, the likelier fault is the
locator's own network, not the caches: the prober is distrusted, every cache is ranked as if unknown, and
/readyz and the metrics say so (Pelican's director has no such rule; an outage of its own link would empty
its answers).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

ALPHA = 0.3
DEMOTE_BELOW = 0.5
REMOVE_BELOW = 0.2
RESTORE_AT = 0.75
DISTRUST_FRACTION = 0.5  # more than this share of the probed caches unhealthy at once: blame the prober


class State(StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CacheHealth:
    """What the probes said of one cache: state, smoothed score, and the last answer in words."""

    state: State = State.UNKNOWN
    score: float = 1.0
    probes: int = 0
    last: str = "not probed"
    checked_at: float | None = None

    def observe(self, answered: bool, detail: str, now_s: float) -> CacheHealth:
        """The health after one more probe."""
        score = self.score + ALPHA * ((1.0 if answered else 0.0) - self.score)
        if score < REMOVE_BELOW:
            state = State.FAILED
        elif score < DEMOTE_BELOW:
            state = State.DEGRADED
        elif score >= RESTORE_AT or self.state in (State.OK, State.UNKNOWN):
            state = State.OK
        else:
            state = State.DEGRADED  # recovering: healthy again only from RESTORE_AT (no flapping back and forth)
        return CacheHealth(state, round(score, 4), self.probes + 1, detail, now_s)


UNPROBED = CacheHealth()


@dataclass(frozen=True)
class HealthView:
    """Every cache's health, and whether the prober is believed at all."""

    caches: Mapping[str, CacheHealth] = field(default_factory=dict)
    distrusted: bool = False
    reason: str = ""
    probing: bool = False

    def of(self, name: str) -> CacheHealth:
        return self.caches.get(name, UNPROBED)

    def effective(self, name: str) -> State:
        """The state the ranking uses: a distrusted prober's verdicts count as unknown."""
        return State.UNKNOWN if self.distrusted else self.of(name).state

    def observed(self, results: Mapping[str, tuple[bool, str]], now_s: float, names: Collection[str]) -> HealthView:
        """A new view after one round of probes (`results`: cache name -> answered, detail), judged again;
        only the caches in `names` (those still in service) are kept."""
        caches = {name: health for name, health in self.caches.items() if name in names}
        for name, (answered, detail) in results.items():
            if name in names:
                caches[name] = self.of(name).observe(answered, detail, now_s)
        return judged(caches, probing=True)

    def counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in State}
        for health in self.caches.values():
            counts[health.state.value] += 1
        return counts


def judged(caches: Mapping[str, CacheHealth], probing: bool) -> HealthView:
    """Apply the distrust rule to a round of probe states."""
    probed = [health for health in caches.values() if health.state is not State.UNKNOWN]
    unhealthy = sum(health.state in (State.DEGRADED, State.FAILED) for health in probed)
    if probed and unhealthy > DISTRUST_FRACTION * len(probed):
        reason = (
            f"{unhealthy} of {len(probed)} probed caches failed their probes at once: the locator's own network "
            "is the likelier fault, so every eligible cache stays in the answers"
        )
        return HealthView(dict(caches), distrusted=True, reason=reason, probing=probing)
    return HealthView(dict(caches), probing=probing)
