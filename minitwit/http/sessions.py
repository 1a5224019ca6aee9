"""The signed session cookie: its name, the key of the sign-in token inside it, and the
middleware of the routes that read it (GraphQL and the pages; the simulator never does)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Send

from minitwit.http.security import SameOriginGuard
from minitwit.settings import Settings

SESSION_COOKIE = "minitwit_session"
SESSION_KEY = "sid"  # the sign-in token in the signed cookie


def session_middleware(settings: Settings) -> Middleware:
    """Reads and writes the signed cookie."""
    return Middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.production,
    )


def same_origin_guard(refuse: Callable[[Send], Awaitable[None]] | None = None) -> Middleware:
    """Where the cookie is read, a request a page of another site made is refused: with
    ``refuse`` (GraphQL's shape on /graphql), else the REST layer's JSON 403."""
    if refuse is None:
        return Middleware(SameOriginGuard, cookie=SESSION_COOKIE)
    return Middleware(SameOriginGuard, cookie=SESSION_COOKIE, refuse=refuse)
