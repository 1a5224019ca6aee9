"""Safe by construction: text stays text, the CSP allows no inline code, failures are visible."""

from __future__ import annotations

import http.client
import re
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.servers import ServerProcess, free_port

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
PAGES = ["/", "/public", "/login", "/register", "/logout", "/moderation", "/somebody"]


@pytest.mark.browser
def test_script_message_is_shown_literally_and_runs_nothing(
    page: Any, make_user: Callable[[str], str], sign_in: Callable[[Any, str], None]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    me = make_user("mallory")
    sign_in(page, me)
    payloads = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">', "<b>bold</b> &amp;"]

    for payload in payloads:
        page.goto("/")
        page.get_by_label(f"What's on your mind {me}?").fill(payload)
        page.get_by_role("button", name="Share").click()
        expect(page.locator("ul.flashes")).to_have_text("Your message was recorded")

    for path in ("/", "/public", f"/{me}"):
        page.goto(path)
        for payload in payloads:
            expect(page.locator("ul.messages > li p").filter(has_text=payload)).to_have_count(1)
        expect(
            page.locator("ul.messages script, ul.messages b, ul.messages img[src=x]")
        ).to_have_count(0)
    assert dialogs == []


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_pages_send_security_headers(real_server: Any, path: str) -> None:
    response = httpx.get(real_server.url(path), timeout=10, follow_redirects=True)
    headers = response.headers
    # nobody is called "somebody": the original answers 404, with the page all the same
    assert response.status_code == (404 if path == "/somebody" else 200)
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    directives = {}
    for directive in filter(None, (part.strip() for part in csp.split(";"))):
        name, _, value = directive.partition(" ")
        directives[name] = value
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "https://www.gravatar.com" in directives["img-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.browser
def test_static_files_are_served_with_nosniff(real_server: Any) -> None:
    for asset, content_type in [
        ("/static/style.css", "text/css"),
        ("/static/js/api.js", "javascript"),
    ]:
        with urllib.request.urlopen(real_server.url(asset), timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert content_type in response.headers["Content-Type"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"


class _InlineCodeFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.problems.append("<script> without src")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems += [f"{name} handler on <{tag}>" for name in names if name.startswith("on")]
        for name, value in attrs:
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script body")


@pytest.mark.parametrize(
    "html_file", sorted(WEB_DIR.rglob("*.html")), ids=lambda path: str(path.relative_to(WEB_DIR))
)
def test_html_has_no_inline_script_or_style(html_file: Path) -> None:
    finder = _InlineCodeFinder()
    finder.feed(html_file.read_text(encoding="utf-8"))
    assert finder.problems == []


def _own_scripts() -> list[Path]:
    """MiniTwit's scripts; the vendored GraphiQL (web/static/vendor) is checked by its hashes."""
    scripts = sorted(path for path in WEB_DIR.rglob("*.js") if "vendor" not in path.parts)
    assert WEB_DIR / "static" / "js" / "api.js" in scripts
    return scripts


def test_javascript_never_parses_strings_as_html() -> None:
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    offenders = [
        f"{path.relative_to(WEB_DIR)}:{number}"
        for path in _own_scripts()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if sinks.search(line)
    ]
    assert offenders == []


@pytest.mark.browser
def test_unreachable_server_shows_a_clear_error(
    page: Any, screenshot: Callable[[Any, str], None]
) -> None:
    page.route("**/graphql", lambda route: route.abort("connectionrefused"))
    page.goto("/public")
    expect(page.get_by_role("alert")).to_have_text(
        "Error: The server could not be reached. Please try again."
    )
    expect(page).to_have_title("Public Timeline | MiniTwit")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("sign in")
    expect(page.locator("ul.messages > li")).to_have_count(0)
    screenshot(page, "server-unreachable")


@pytest.mark.browser
def test_failing_server_shows_a_clear_error(page: Any) -> None:
    calls: list[str] = []

    def answer(route: Any) -> None:
        calls.append(route.request.post_data or "")
        if len(calls) == 1:
            route.fulfill(status=200, json={"data": {"viewer": None}})
        else:
            route.fulfill(status=502, content_type="text/html", body="<h1>Bad Gateway</h1>")

    page.route("**/graphql", answer)
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign In")).to_be_enabled()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label("Username").fill("someone")
    page.get_by_label("Password").fill("secret")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Error: The server had a problem. Please try again."
    )
    expect(page).to_have_url(re.compile(r"/login$"))
    assert len(calls) == 2
    assert "login" in calls[1]


@pytest.mark.browser
@pytest.mark.parametrize(("path", "target"), [("/", "/public"), ("/moderation", "/login")])
def test_signed_out_visitor_is_redirected_by_the_server(
    real_server: Any, path: str, target: str
) -> None:
    host, port = real_server.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 302
    assert response.getheader("Location") == target
    assert response.getheader("Cache-Control") == "no-store"


@pytest.mark.browser
def test_a_database_out_of_reach_shows_a_clear_error(
    page_at: Callable[[str], Any], tmp_path: Path, screenshot: Callable[[Any, str], None]
) -> None:
    """A real server whose PostgreSQL refuses connections: the pages still render, with their
    security headers, and say the database is unavailable instead of failing silently."""
    server = ServerProcess(
        f"postgresql://minitwit@127.0.0.1:{free_port()}/minitwit",
        tmp_path / "server.log",
        MINITWIT_ENV="development",
        MINITWIT_MIGRATE_ON_START="0",
    ).start(ready="/health/live")
    try:
        page = page_at(server.url)
        response = page.goto("/someone")
        assert response is not None
        assert response.status == 503
        assert "content-security-policy" in response.headers
        expect(page.get_by_role("alert")).to_have_text(
            "Error: The database is unavailable; try again shortly"
        )
        screenshot(page, "database-unavailable")
        page.goto("/public")
        expect(page.get_by_role("alert")).to_have_text(
            "Error: The database is unavailable; try again shortly"
        )
    finally:
        server.stop()


def test_the_web_client_never_decides_by_an_error_sentence() -> None:
    """Which input an error is about comes from extensions.field, never from its English text."""
    sentence = re.compile(
        r"(?<!typeof )\b\w+\.message\s*[!=]==|\[\s*(error\.)?message\s*\]|'You have to|'Invalid "
    )
    offenders = [
        f"{path.relative_to(WEB_DIR)}:{number}"
        for path in _own_scripts()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if sentence.search(line)
    ]
    assert offenders == []


@pytest.mark.browser
def test_a_username_with_markup_is_text_everywhere_the_pages_show_one(
    page: Any,
    new_page: Callable[..., Any],
    real_server: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    sign_in: Callable[[Any, str], None],
) -> None:
    dialogs: list[str] = []
    evil = make_user('<img src=x onerror="alert(1)"><i>&amp;')
    moderator = make_user("mod")
    real_server.cli("user", "promote", moderator)
    post_as(evil, "hello from the markup user")
    home = f"/{quote(evil, safe='')}"
    injected = "img[src=x], i, script:not([src])"

    sign_in(page, evil)
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_contain_text(f"sign out [{evil}]")
    expect(page.get_by_label(f"What's on your mind {evil}?")).to_be_visible()
    expect(page.locator("ul.messages > li strong a")).to_have_text([evil])
    expect(page.locator(injected)).to_have_count(0)
    page.goto(home)
    expect(page.locator("#page-title")).to_have_text(f"{evil}'s Timeline")
    expect(page).to_have_title(f"{evil}'s Timeline | MiniTwit")
    expect(page.locator("#followstatus")).to_have_text("This is you!")
    expect(page.locator(injected)).to_have_count(0)

    visitor = new_page()
    visitor.on("dialog", lambda dialog: dialogs.append(dialog.message))
    sign_in(visitor, moderator)
    visitor.goto(home)
    expect(visitor.locator("#page-title")).to_have_text(f"{evil}'s Timeline")
    visitor.get_by_role("link", name="Follow user").click()
    expect(visitor.locator("ul.flashes")).to_have_text(f'You are now following "{evil}"')
    expect(visitor.get_by_role("button", name="Flag")).to_have_attribute(
        "title", f"Flag this message by {evil}"
    )
    visitor.get_by_role("button", name="Flag").click()
    expect(visitor.get_by_role("status").filter(has_text="flagged")).to_be_visible()
    visitor.goto("/moderation")
    expect(visitor.locator("ul.messages > li strong a")).to_have_text([evil])
    expect(visitor.get_by_role("button", name="Unflag")).to_have_attribute(
        "title", f"Unflag this message by {evil}"
    )
    for shown in (page, visitor):
        expect(shown.locator(injected)).to_have_count(0)
    assert dialogs == []
