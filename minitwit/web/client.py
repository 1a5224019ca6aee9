"""The thin HTML client: page shells built once at start-up, assets; data comes from GraphQL.

Every page is ``web/layout.html`` around one fragment of ``web/pages/``, combined when the app is
built, with the server's settings (the message length) filled in. A shell holds the page's frame
(navigation, heading, a loading line) and ``modulepreload`` links for its script's whole import
graph, so the browser fetches every module at once and the data request starts one round trip
after the page. The shells hold no user content: the browser asks ``/graphql`` for all data, so
the routes keep no state and never render what users wrote.
``WebClient.routes()`` must be mounted after every other route: its last route, ``/{username}``,
matches any single path segment.
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitwit.http.middleware import RETRY_AFTER_SECONDS
from minitwit.http.security import PAGE_SECURITY_HEADERS
from minitwit.http.sessions import SESSION_KEY

DEFAULT_WEB_DIR = Path(__file__).resolve().parents[2] / "web"

# nosniff, Referrer-Policy and X-Frame-Options come with every response (minitwit.http.security).
PAGE_HEADERS = {**PAGE_SECURITY_HEADERS, "Cache-Control": "no-store"}

# Assets revalidate on every load (cheap with ETag) so a deploy never serves stale modules.
STATIC_HEADERS = {"Cache-Control": "no-cache"}

# Browsers ask for /favicon.ico on their own, on every site; it never changes between deploys.
FAVICON_HEADERS = {**STATIC_HEADERS, "Cache-Control": "public, max-age=604800"}

SIGNED_OUT, SIGNED_IN = False, True
LOADING = "Loading\u2026"

# The original's navigation. Signed in, the shell shows it without the username and the
# moderators' link; the page's script completes it from the `viewer` query.
NAVIGATION = {
    SIGNED_OUT: (("/public", "public timeline"), ("/register", "sign up"), ("/login", "sign in")),
    SIGNED_IN: (("/", "my timeline"), ("/public", "public timeline"), ("/logout", "sign out")),
}


@dataclass(frozen=True)
class Page:
    """One page: where it answers, its fragment and entry module, and its frame's texts.

    ``title`` is None where only the data can tell it (a user's page); ``redirect`` is the
    original's (when signed in or out, where to), read from the session cookie alone: the
    pages' scripts repeat it from the `viewer` query in case the cookie names a user who no
    longer exists.
    """

    path: str
    name: str
    fragment: str
    title: str | None
    status: str = LOADING
    redirect: tuple[bool, str] | None = None

    @property
    def script(self) -> str:
        return f"js/pages/{self.fragment}.js"


# "/{username}" stays last: it matches every other single segment.
PAGES = (
    Page("/", "timeline", "timeline", "My Timeline", redirect=(SIGNED_OUT, "/public")),
    Page("/public", "public_timeline", "timeline", "Public Timeline"),
    Page("/login", "login", "login", "Sign In", status="", redirect=(SIGNED_IN, "/")),
    Page("/register", "register", "register", "Sign Up", status="", redirect=(SIGNED_IN, "/")),
    Page("/logout", "logout", "logout", "Sign Out", status="Signing you out\u2026"),
    Page(
        "/moderation",
        "moderation",
        "moderation",
        "Flagged Messages",
        redirect=(SIGNED_OUT, "/login"),
    ),
    Page("/{username}", "user_timeline", "timeline", None),
)
NOT_FOUND = Page("", "not_found", "not_found", "Not Found", status="")
NOT_FOUND_HEADING = "404 Not Found"

_IMPORT = re.compile(r"""\b(?:import|export)\s+(?:[^'";]*?\bfrom\s*)?['"](\.{1,2}/[^'"]+)['"]""")


def module_graph(static_dir: Path, entry: str) -> list[str]:
    """The entry module's static imports, transitively, as paths under ``static_dir``."""
    seen: list[str] = []
    pending = [(static_dir / entry).resolve()]
    while pending:
        module = pending.pop()
        relative = module.relative_to(static_dir).as_posix()
        if relative in seen:
            continue
        seen.append(relative)
        source = module.read_text(encoding="utf-8")
        pending += [(module.parent / target).resolve() for target in _IMPORT.findall(source)]
    return seen[1:]


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


def _wants_html(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


# Whether a user exists; None when that cannot be told now (the database is out of reach).
UserExists = Callable[[str], Awaitable[bool | None]]


class WebClient:
    """The pages, built once from ``web_dir``; GraphiQL's page; the styled 404.

    ``user_exists`` lets ``/{username}`` answer 404 for unknown users, as the original does.
    ``page_middleware`` wraps the pages (not the static files): the session cookie's.

    Example::

        web = WebClient(settings.web_dir, max_message_length=settings.max_message_length)
        app = Starlette(
            routes=[*api_routes, *web.routes()], exception_handlers={404: web.not_found}
        )
    """

    def __init__(
        self,
        web_dir: Path | None = None,
        *,
        max_message_length: int,
        user_exists: UserExists | None = None,
        page_middleware: Sequence[Middleware] = (),
    ) -> None:
        self.root = (web_dir or DEFAULT_WEB_DIR).resolve()
        self.static = self.root / "static"
        needed = [
            self.root / "layout.html",
            self.root / "graphiql.html",
            self.static / "favicon.ico",
            *(self.root / "pages" / f"{page.fragment}.html" for page in (*PAGES, NOT_FOUND)),
            *(self.static / page.script for page in (*PAGES, NOT_FOUND)),
        ]
        missing = [str(path.relative_to(self.root)) for path in needed if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"web client files missing in {self.root}: {missing}")
        self.user_exists = user_exists
        self.page_middleware = page_middleware
        self.settings = {"max_message_length": str(max_message_length)}
        self.layout = Template((self.root / "layout.html").read_text(encoding="utf-8"))
        self.shells = {
            (page.path, signed_in): self.render(page, signed_in)
            for page in (*PAGES, NOT_FOUND)
            for signed_in in (SIGNED_OUT, SIGNED_IN)
        }
        self.graphiql_shell = (self.root / "graphiql.html").read_bytes()

    def render(self, page: Page, signed_in: bool) -> bytes:
        """The page's shell: the layout around its fragment, with its frame filled in."""
        fragment = (self.root / "pages" / f"{page.fragment}.html").read_text(encoding="utf-8")
        preloads = [
            f'<link rel="modulepreload" href="/static/{module}">'
            for module in module_graph(self.static, page.script)
        ]
        current = ' aria-current="page"'
        heading = NOT_FOUND_HEADING if page is NOT_FOUND else page.title
        navigation = " | ".join(
            f'<a href="{href}"{current if href == page.path else ""}>{text}</a>'
            for href, text in NAVIGATION[signed_in]
        )
        text = self.layout.substitute(
            title=html.escape(f"{page.title} | MiniTwit" if page.title else "MiniTwit"),
            scripts="\n".join(
                [*preloads, f'<script type="module" src="/static/{page.script}"></script>']
            ),
            navigation=navigation,
            heading=html.escape(heading or ""),
            heading_hidden="" if heading else " hidden",
            status=html.escape(page.status),
            body=Template(fragment).substitute(self.settings).rstrip("\n"),
        )
        return text.encode("utf-8")

    def shell(
        self, page: Page, request: Request, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            self.shells[page.path, _signed_in(request)],
            status_code=status,
            media_type="text/html; charset=utf-8",
            headers=headers or PAGE_HEADERS,
        )

    def endpoint(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            redirect = page.redirect
            if redirect is not None and _signed_in(request) is redirect[0]:
                return RedirectResponse(redirect[1], status_code=302, headers=PAGE_HEADERS)
            username = request.path_params.get("username")
            if self.user_exists is not None and username is not None:
                exists = await self.user_exists(username)
                if exists is None:  # the shell renders, and its own query shows the error
                    retry = {**PAGE_HEADERS, "Retry-After": str(RETRY_AFTER_SECONDS)}
                    return self.shell(page, request, 503, retry)
                if not exists:  # as the original, and no "<name>'s Timeline" shown first
                    return self.shell(NOT_FOUND, request, 404)
            return self.shell(page, request)

        endpoint.__name__ = f"page_{page.name}"
        return endpoint

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """Starlette's 404 handler: a styled page for browsers, the plain text for others
        (API clients, scripts, the simulator), as before."""
        if _wants_html(request):
            return self.shell(NOT_FOUND, request, 404)
        detail = exc.detail if isinstance(exc, HTTPException) else "Not Found"
        return PlainTextResponse(detail, status_code=404)

    async def graphiql(self, request: Request) -> Response:
        """GraphiQL's page, on MiniTwit's own copies of its scripts (``web/static/vendor``)."""
        return Response(
            self.graphiql_shell, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS
        )

    def routes(self) -> list[BaseRoute]:
        """Routes of the web client; mount them after the API routes."""
        static = StaticFiles(directory=self.static)
        return [
            Mount("/static", app=_WithHeaders(static, STATIC_HEADERS), name="static"),
            # The same file server, at the path browsers ask for on their own.
            Route("/favicon.ico", _WithHeaders(static, FAVICON_HEADERS), name="favicon"),
            *(
                Route(
                    page.path,
                    self.endpoint(page),
                    methods=["GET"],
                    name=f"web_{page.name}",
                    middleware=self.page_middleware,
                )
                for page in PAGES
            ),
        ]
