"""The pure core: positions, the location cascade, the ranking, the federation snapshot. No I/O, and no import
from locator.sources or locator.web: a request's data flows edge context -> cascade -> ranking -> decision."""
