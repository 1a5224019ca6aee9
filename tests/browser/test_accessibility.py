"""Every page at WCAG 2.2 AA by axe-core, in both themes, at a phone's width and a laptop's,
with a screenshot of each for a person to look at (artifacts/screenshots/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LOGIN, PASSWORD, Server, graphql

pytestmark = pytest.mark.browser

WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
  return result.violations.map((v) => ({
    id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary),
  }));
}"""
FLAG = "mutation Flag($id: ID!) { flagMessage(id: $id) { id } }"
UNFLAG = "mutation Unflag($id: ID!) { unflagMessage(id: $id) { id } }"
RIGHT_TO_LEFT = "שלום לכולם, זו הודעה בעברית"


@dataclass(frozen=True)
class Cast:
    moderator: str
    author: str


@pytest.fixture
def cast(
    real_server: Server,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    playwright_instance: Any,
) -> Iterator[Cast]:
    """A moderator (with a long name) who follows an author of several messages, one of them
    flagged; unflagged again afterwards, so other tests' moderation pages do not show it."""
    moderator, author = make_user("moderatorwithaverylongname"), make_user("author")
    real_server.cli("user", "promote", moderator)
    flagged, *_ = post_as(
        author,
        "this one is flagged",
        RIGHT_TO_LEFT,
        "A longer message that wraps on a small screen: " + "words " * 30,
        "Hello, MiniTwit!",
    )
    post_as(moderator, "a moderator's own words")
    api = playwright_instance.request.new_context(base_url=real_server.base_url)
    graphql(api, LOGIN, {"username": moderator, "password": PASSWORD})
    graphql(api, FLAG, {"id": flagged})
    graphql(api, "mutation F($u: String!) { follow(username: $u) { username } }", {"u": author})
    try:
        yield Cast(moderator=moderator, author=author)
    finally:
        graphql(api, UNFLAG, {"id": flagged})
        api.dispose()


def pages(cast: Cast) -> list[tuple[str, str | None, str]]:
    """(screenshot name, who is signed in, path) of every page."""
    return [
        ("public-timeline", None, "/public"),
        ("sign-up", None, "/register"),
        ("sign-in", None, "/login"),
        ("user-timeline", None, f"/{cast.author}"),
        ("not-found", None, "/no/such/page"),
        ("my-timeline", cast.moderator, "/"),
        ("user-timeline-signed-in", cast.moderator, f"/{cast.author}"),
        ("flagged-messages", cast.moderator, "/moderation"),
    ]


def settled(page: Any) -> None:
    """The page's data is shown: no loading line, no list still busy."""
    expect(page.locator("#status")).to_have_text("")
    expect(page.locator("ul.messages[aria-busy='true']")).to_have_count(0)


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_has_no_axe_violations_and_is_photographed(
    new_page: Callable[..., Any],
    sign_in: Callable[[Any, str], None],
    cast: Cast,
    axe_source: str,
    screenshot: Callable[[Any, str], None],
    theme: str,
    width: int,
) -> None:
    visitors: dict[str | None, Any] = {}
    found: dict[str, list[dict[str, Any]]] = {}
    for name, who, path in pages(cast):
        if who not in visitors:
            visitors[who] = new_page(width, 900, color_scheme=theme)
            if who is not None:
                sign_in(visitors[who], who)
        page = visitors[who]
        page.goto(path)
        settled(page)
        page.evaluate(axe_source)
        violations = page.evaluate(RUN_AXE, WCAG_22_AA)
        if violations:
            found[name] = violations
        screenshot(page, f"{name}-{theme}-{width}")
    assert found == {}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_theme_follows_the_readers_preference(new_page: Callable[..., Any], theme: str) -> None:
    page = new_page(color_scheme=theme)
    page.goto("/public")
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('div.page')).backgroundColor"
    )
    assert background == {"light": "rgb(255, 255, 255)", "dark": "rgb(20, 32, 31)"}[theme]


def test_every_page_fits_320_px_without_scrolling_sideways(
    new_page: Callable[..., Any], sign_in: Callable[[Any, str], None], cast: Cast
) -> None:
    visitors: dict[str | None, Any] = {}
    for name, who, path in pages(cast):
        if who not in visitors:
            visitors[who] = new_page(320, 640)
            if who is not None:
                sign_in(visitors[who], who)
        page = visitors[who]
        page.goto(path)
        settled(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 320, name
