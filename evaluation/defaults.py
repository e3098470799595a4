"""Defaults the command line shows before it imports the work they belong to (pandas, matplotlib)."""

from __future__ import annotations

TOLERANCE_KM = 1.0  # a pick this close to the nearest cache counts as right (evaluation/score.py)
SYNTHETIC_SEED = 7  # the synthetic model's (evaluation/synthetic.py)
# What the legacy CVMFS service looked addresses up in, at the 2022 study (the legacy emulation's database).
LEGACY_GEOIP = "geolite2-2018"
# The database whose answers the synthetic address pool was drawn from (scripts/build_ip_pool.py): synthetic
# records model its answers, so the locator reads them with it when the model is the object of study.
MODEL_GEOIP = "geolite2-2018"
