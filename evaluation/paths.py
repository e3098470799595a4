"""Where the evaluation's shipped data lives (beside the service's data files)."""

from __future__ import annotations

from locator.settings import DATA_DIR

MAPS_DIR = DATA_DIR / "maps"
EVALUATION_DIR = DATA_DIR / "evaluation"
STUDY_2022_DIR = EVALUATION_DIR / "2022"
SYNTHETIC_DIR = EVALUATION_DIR / "synthetic"
