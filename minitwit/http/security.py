"""Browser-facing protections: the headers of every response, the pages' own (their CSP), and
the refusal of cross-site requests that would act with the session cookie.

The headers are precomputed bytes that ``RequestMiddleware`` (outermost) appends to every
HTTP response, so they cost the simulator's REST path no layer of its own. The cross-site
guard is pure ASGI and only wraps the routes that read the cookie (GraphQL and the pages).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from minitwit.http.errors import send_json_error

# On every response, JSON and errors too: a browser never sniffs a JSON answer into HTML, never
# frames any of our answers, and sends other sites no path of ours. Pages add a full CSP.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)

GRAVATAR_HOSTS = "https://www.gravatar.com http://www.gravatar.com https://secure.gravatar.com"

# Pages add these: their scripts and styles come from us alone, nothing frames them, and no
# other window they open can reach back into them.
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
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}
# On every response that brings no policy of its own (the pages and GraphiQL do): the API's
# JSON, the errors, the files. Such an answer, opened as a document, may load and run nothing
# and be framed by no one (OWASP's REST Security Cheat Sheet).
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_REFUSED = (
    "Cross-site request refused: the browser marked this request, which carries the session"
    " cookie and changes something, as sent from another site (Sec-Fetch-Site: cross-site or"
    " same-site, or an Origin that is not this site's). Send it from this site's own pages; a"
    " script may send neither Origin nor Sec-Fetch-Site, or Origin set to this site's origin."
)
_CROSS_SITE_FETCH = (b"cross-site", b"same-site")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


async def send_graphql_forbidden(send: Send) -> None:
    """The refusal as a GraphQL response (``extensions.code`` ``FORBIDDEN``), with the 403."""
    error = {"message": CROSS_SITE_REFUSED, "extensions": {"code": "FORBIDDEN"}}
    body = json.dumps({"data": None, "errors": [error]}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_rest_forbidden(send: Send) -> None:
    await send_json_error(send, 403, CROSS_SITE_REFUSED)


class SameOriginGuard:
    """Refuse, with a 403 (``refuse`` writes it), a request that could change something (any
    method but GET, HEAD and OPTIONS), carries the session cookie and that the browser marks as
    cross-site, the rule of Go's ``net/http.CrossOriginProtection``: a ``Sec-Fetch-Site`` of
    ``cross-site`` or ``same-site``, or an ``Origin`` that is not the request's own
    ``scheme://host`` (the scheme and host the trusted proxy passed on).

    ``same-origin`` and ``none`` (typed by the user) pass, and so does a request with neither
    header: every current browser sends one of them on a POST, so such a request is a script's
    (curl, the README's examples), which no page can make on a visitor's behalf. Requests
    without the cookie (the simulator, scripts without a sign-in) pass untouched: without the
    cookie they act as nobody.

    Wrap the routes that read the cookie::

        Route("/graphql", app, middleware=[Middleware(SameOriginGuard, cookie="session")])
    """

    def __init__(
        self,
        app: ASGIApp,
        cookie: str,
        refuse: Callable[[Send], Awaitable[None]] = send_rest_forbidden,
    ) -> None:
        self.app = app
        self.cookie = cookie.encode("latin-1") + b"="
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and not self.same_origin(scope)
        ):
            await self.refuse(send)
            return
        await self.app(scope, receive, send)

    def same_origin(self, scope: Scope) -> bool:
        """Whether the request is not marked cross-site, or carries no session cookie."""
        cookie = origin = fetch_site = host = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"host":
                host = value
        if cookie is None or not _has_cookie(cookie, self.cookie):
            return True
        if fetch_site is not None and fetch_site.lower() in _CROSS_SITE_FETCH:
            return False
        if origin is not None:
            return host is not None and _same(origin, scope.get("scheme", "http"), host)
        return True


def _has_cookie(header: bytes, prefix: bytes) -> bool:
    return any(part.strip().startswith(prefix) for part in header.split(b";"))


def _same(origin: bytes, scheme: str, host: bytes) -> bool:
    """Whether ``origin`` is ``scheme://host``, default ports written or not. (A proxy on
    another port must pass the port on: nginx's ``$http_host``, not ``$host``.)"""
    try:
        text = origin.decode("ascii").lower()
        own_host = host.decode("ascii").lower()
    except UnicodeDecodeError:
        return False
    prefix = scheme + "://"
    if not text.startswith(prefix):
        return False
    origin_host, origin_port = _split(text[len(prefix) :])
    own_name, own_port = _split(own_host)
    if origin_host != own_name:
        return False
    default = _DEFAULT_PORTS.get(scheme, "")
    return (origin_port or default) == (own_port or default)


def _split(authority: str) -> tuple[str, str]:
    """``host:port`` as (host, port); an IPv6 host keeps its brackets."""
    if authority.startswith("["):
        name, _, rest = authority.partition("]")
        return name + "]", rest.removeprefix(":")
    name, _, port = authority.partition(":")
    return name, port
