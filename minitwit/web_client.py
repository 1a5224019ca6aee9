"""The thin HTML client: static page shells and assets; the browser fetches all data via GraphQL.

Every page is a static HTML file from ``web/`` whose JavaScript module asks ``/graphql`` for its
data, so these routes hold no state and never render user content on the server.
``web_routes()`` must be mounted after every other route: its last route, ``/{username}``,
matches any single path segment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitwit.observability import RETRY_AFTER_SECONDS
from minitwit.schema.context import SESSION_KEY

DEFAULT_WEB_DIR = Path(__file__).resolve().parent.parent / "web"

GRAVATAR_HOSTS = "https://www.gravatar.com http://www.gravatar.com https://secure.gravatar.com"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' {GRAVATAR_HOSTS}",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# nosniff, Referrer-Policy and X-Frame-Options come with every response (minitwit.security).
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Assets revalidate on every load (cheap with ETag) so a deploy never serves stale modules.
STATIC_HEADERS = {"Cache-Control": "no-cache"}

SIGNED_OUT, SIGNED_IN = False, True

# (path, route name, page shell, redirect: (when signed in or out, target) or None).
# The redirects are the original's and only read the session cookie; the pages' JavaScript
# repeats them from the `viewer` query in case the cookie names a user who no longer exists.
# "/{username}" stays last: it matches every other single segment.
PAGES: tuple[tuple[str, str, str, tuple[bool, str] | None], ...] = (
    ("/", "timeline", "timeline.html", (SIGNED_OUT, "/public")),
    ("/public", "public_timeline", "timeline.html", None),
    ("/login", "login", "login.html", (SIGNED_IN, "/")),
    ("/register", "register", "register.html", (SIGNED_IN, "/")),
    ("/logout", "logout", "logout.html", None),
    ("/moderation", "moderation", "moderation.html", (SIGNED_OUT, "/login")),
    ("/{username}", "user_timeline", "timeline.html", None),
)


class _WithHeaders:
    """Pure ASGI wrapper adding fixed headers to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.raw_headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _signed_in(request: Request) -> bool:
    return "session" in request.scope and request.session.get(SESSION_KEY) is not None


# Whether a user exists; None when that cannot be told now (the database is out of reach).
UserExists = Callable[[str], Awaitable[bool | None]]


def _page(
    shell: Path, redirect: tuple[bool, str] | None, user_exists: UserExists | None = None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if redirect is not None and _signed_in(request) is redirect[0]:
            return RedirectResponse(redirect[1], status_code=302, headers=PAGE_HEADERS)
        status, headers = 200, PAGE_HEADERS
        username = request.path_params.get("username")
        if user_exists is not None and username is not None:
            exists = await user_exists(username)
            if exists is None:  # the shell renders, and its own query shows the error
                status, headers = 503, {**PAGE_HEADERS, "Retry-After": str(RETRY_AFTER_SECONDS)}
            elif not exists:
                status = 404  # as the original; the shell still renders its "Not Found" page
        return FileResponse(
            shell, status_code=status, media_type="text/html; charset=utf-8", headers=headers
        )

    endpoint.__name__ = f"page_{shell.stem}"
    return endpoint


def web_routes(
    web_dir: Path | None = None,
    user_exists: UserExists | None = None,
    page_middleware: Sequence[Middleware] = (),
) -> list[BaseRoute]:
    """Routes of the web client; mount them after the API routes.

    ``user_exists`` lets ``/{username}`` answer 404 for unknown users, as the original does.
    ``page_middleware`` wraps the pages (not the static files): the session cookie's.

    Example::

        app = Starlette(routes=[*api_routes, *web_routes()])
    """
    root = (web_dir or DEFAULT_WEB_DIR).resolve()
    missing = [shell for _, _, shell, _ in PAGES if not (root / shell).is_file()]
    if missing or not (root / "static").is_dir():
        raise FileNotFoundError(f"web client files missing in {root}: {missing or ['static/']}")
    static = StaticFiles(directory=root / "static")
    routes: list[BaseRoute] = [
        Mount("/static", app=_WithHeaders(static, STATIC_HEADERS), name="static"),
    ]
    routes += [
        Route(
            path,
            _page(root / shell, redirect, user_exists),
            methods=["GET"],
            name=f"web_{name}",
            middleware=page_middleware,
        )
        for path, name, shell, redirect in PAGES
    ]
    return routes
