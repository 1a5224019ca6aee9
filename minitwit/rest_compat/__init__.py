"""The course simulator's REST API, spoken exactly; every route calls the shared resolvers.

``endpoints.py`` holds the endpoints, ``parsing.py`` reads queries and bodies, ``responses.py``
writes the reference's bytes and ``openapi.py`` describes it all. The client that drives a
server with a scenario file, as the course's simulator does, is ``minitwit.ops.replay``.
"""

from __future__ import annotations

from minitwit.rest_compat.endpoints import SimulatorApi

__all__ = ["SimulatorApi"]
