"""The signed session cookie: its name, the key of the sign-in token inside it, and the
middleware of the routes that read it (GraphQL and the pages; the simulator never does)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

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


def same_origin_guard() -> Middleware:
    """Where the cookie is read, a request that changes something must come from our pages."""
    return Middleware(SameOriginGuard, cookie=SESSION_COOKIE)
