"""HTTP: the Starlette app, its query parsing, bodies, redirects, errors, metrics and logs. Speaks to the core
only; the data sources are handed to it (locator.service)."""
