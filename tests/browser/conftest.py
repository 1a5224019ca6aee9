"""Fixtures for the browser tests: a real `minitwit serve` process and Debian's headless Chromium.

The tests skip when /usr/bin/chromium is missing, unless MINITWIT_REQUIRE_BROWSER=1 makes them fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import REPO, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEB_DIR = REPO / "web"
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
FOOTER = (
    "MiniTwit \u2014 a small microblog: the ITU DevOps course's Flask example of 2010, rebuilt"
    " on Starlette and GraphQL"
)


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("MINITWIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MINITWIT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Server:
    base_url: str
    env: dict[str, str]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the `minitwit` CLI against this server's database."""
        return subprocess.run(
            [sys.executable, "-m", "minitwit", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it lives, which breaks any later test that starts an event loop of its own.
@pytest.fixture(scope="package")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server process on a fresh SQLite database, shared by the browser tests."""
    workdir = tmp_path_factory.mktemp("browser-server")
    server = ServerProcess(
        f"sqlite:///{workdir / 'db.sqlite3'}",
        workdir / "server.log",
        MINITWIT_ENV="development",
        LOG_LEVEL="INFO",
        # Every browser test signs up and in from this one address, on this one server.
        MINITWIT_SIGN_UP_LIMIT_PER_ADDRESS="100000/3600",
        MINITWIT_SIGN_IN_LIMIT_PER_ADDRESS="100000/60",
    ).start()
    API_ORIGIN["Origin"] = server.url
    try:
        yield Server(base_url=server.url, env=server.env)
    finally:
        server.stop()
        API_ORIGIN.clear()


AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="package")
def axe_source() -> str:
    """axe-core's script, pinned by package.json and package-lock.json; installed with
    ``npm ci`` when it is not there yet."""
    npm = shutil.which("npm")
    if not AXE.exists() and npm is not None:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=REPO,
            capture_output=True,
            timeout=300,
            check=False,
        )
    if not AXE.exists():
        _skip_or_fail(f"{AXE} is missing: run `npm ci` in {REPO} (needs Node.js's npm)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Any]:
    reason = _browser_missing()
    if reason:
        _skip_or_fail(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture(scope="package")
def browser(playwright_instance: Any) -> Iterator[Any]:
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class PageWatch:
    """What a page did that a test should never see: dialogs, uncaught errors, CSP violations."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


def _new_page(
    browser: Any, base_url: str, viewport: dict[str, int], **options: str
) -> tuple[Any, Any, PageWatch]:
    """``options`` go to the context: ``color_scheme``, ``timezone_id``, ``locale``."""
    context = browser.new_context(base_url=base_url, viewport=viewport, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    watch = PageWatch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            watch.csp_violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.on("console", on_console)
    return context, page, watch


def _check_watch(watch: PageWatch) -> None:
    assert watch.dialogs == [], "a dialog was opened"
    assert watch.page_errors == [], "the page threw an uncaught error"
    assert watch.csp_violations == [], "the Content-Security-Policy blocked something"


@pytest.fixture
def page(browser: Any, real_server: Server) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) at desktop size."""
    context, page, page_watch = _new_page(
        browser, real_server.base_url, {"width": 1024, "height": 900}
    )
    try:
        yield page
    finally:
        context.close()
    _check_watch(page_watch)


@pytest.fixture
def page_at(browser: Any) -> Iterator[Callable[..., Any]]:
    """Factory for fresh independent pages on any server: ``page_at(base_url, width, height)``,
    and the context's options (``color_scheme="dark"``, ``timezone_id``, ``locale``)."""
    opened: list[tuple[Any, PageWatch]] = []

    def make(base_url: str, width: int = 1024, height: int = 900, **options: str) -> Any:
        size = {"width": width, "height": height}
        context, page, page_watch = _new_page(browser, base_url, size, **options)
        opened.append((context, page_watch))
        return page

    yield make
    for context, _ in opened:
        context.close()
    for _, page_watch in opened:
        _check_watch(page_watch)


@pytest.fixture
def new_page(page_at: Callable[..., Any], real_server: Server) -> Callable[..., Any]:
    """Factory for further independent visitors, e.g. a second user or a phone-sized screen."""

    def make(width: int = 1024, height: int = 900, **options: str) -> Any:
        return page_at(real_server.base_url, width, height, **options)

    return make


class GraphQLError(AssertionError):
    pass


# Playwright's request contexts send no Origin of their own; the browser's fetch does, and the
# server refuses a POST with the session cookie and without it (minitwit.http.security).
API_ORIGIN: dict[str, str] = {}


def graphql(
    request: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    origin: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation with a Playwright request context (page.request shares cookies),
    from ``origin`` (default: the session's server)."""
    headers = {"Origin": origin} if origin is not None else API_ORIGIN
    response = request.post(
        "/graphql", data={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise GraphQLError(body["errors"])
    data: dict[str, Any] = body["data"]
    return data


REGISTER = """
mutation Register($username: String!, $email: String!, $password: String!) {
  register(username: $username, email: $email, password: $password, password2: $password) {
    username
  }
}
"""
LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { username }
}
"""
POST = "mutation Post($text: String!) { postMessage(text: $text) { id } }"


@pytest.fixture
def make_user(playwright_instance: Any, real_server: Server) -> Iterator[Callable[..., str]]:
    """Register a user with a unique name through the API; returns the username."""
    api = playwright_instance.request.new_context(base_url=real_server.base_url)

    def make(prefix: str = "user") -> str:
        username = unique_name(prefix)
        graphql(
            api,
            REGISTER,
            {"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        return username

    yield make
    api.dispose()


@pytest.fixture
def post_as(playwright_instance: Any, real_server: Server) -> Iterator[Callable[..., list[str]]]:
    """Post messages as a user through the API, oldest first; returns their ids."""
    contexts: list[Any] = []

    def post(username: str, *texts: str) -> list[str]:
        api = playwright_instance.request.new_context(base_url=real_server.base_url)
        contexts.append(api)
        graphql(api, LOGIN, {"username": username, "password": PASSWORD})
        return [graphql(api, POST, {"text": text})["postMessage"]["id"] for text in texts]

    yield post
    for api in contexts:
        api.dispose()


def _sign_in(page: Any, username: str) -> None:
    graphql(page.request, LOGIN, {"username": username, "password": PASSWORD})


def _screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def sign_in() -> Callable[[Any, str], None]:
    """Sign a page's browser context in through the API (page.request shares its cookie jar)."""
    return _sign_in


@pytest.fixture
def screenshot() -> Callable[[Any, str], None]:
    """Save a full-page screenshot as artifacts/screenshots/<name>.png for a person to look at."""
    return _screenshot


@pytest.fixture
def gql() -> Callable[..., dict[str, Any]]:
    return graphql


@pytest.fixture
def unique() -> Callable[[str], str]:
    return unique_name


@pytest.fixture
def password() -> str:
    return PASSWORD
