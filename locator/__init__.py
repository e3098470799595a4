"""OSDF cache locator: finds the data caches nearest to a client."""

__version__ = "0.1.0"
