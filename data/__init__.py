"""The locator's embedded data, shipped inside the wheel as the package `locator_data` (read with
importlib.resources): caches, namespaces, overrides, airports, and the evaluation's study data and maps.

The files' sources and licences are in the README ("Data and licences"); `scripts/build_data.py` rebuilds them.
"""
