"""Evaluation harness: per-site cache picks of the locator, the 2022 worker and the legacy GeoIP service."""
