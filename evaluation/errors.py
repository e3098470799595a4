"""The evaluation's expected failures, each with a message fit for one line: the command line turns any of them
into `evaluation: error: ...` and exit 2. Apart from the modules that raise them, so that the light commands (the
probe a job runs, the legacy emulation) start without the evaluation's pandas and matplotlib."""

from __future__ import annotations


class EvaluationError(ValueError):
    """An evaluation step cannot run on what it was given; the message says why."""


class RecordError(EvaluationError):
    """A records or sites file cannot be used; the message names it."""


class HarnessError(EvaluationError):
    """The evaluation cannot run as configured; the message says what is missing."""


class SimulationError(EvaluationError):
    """The caches cannot be simulated (none open to public data, or one without a position)."""
