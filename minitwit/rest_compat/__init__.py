"""The course simulator's REST API, spoken exactly; every route calls the shared resolvers."""

from __future__ import annotations

from starlette.routing import BaseRoute

from minitwit.db import Database
from minitwit.settings import Settings


def routes(db: Database, settings: Settings) -> list[BaseRoute]:
    """The simulator API's routes, under ``settings.rest_prefix``."""
    return []
