"""The data: files read, checked and reloaded (caches, namespaces, overrides, airports, GeoIP), the health
prober, the sync from a director or Topology. Builds the core's values; never imports locator.web."""
