"""What only a browser shows of the web client's shells: GraphiQL working with no internet, the
frame before the data, the 404 pages, flashes that do not outlive the next action."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import FOOTER

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


def offline(page: Any) -> list[str]:
    """Refuse every request that leaves the machine, as with no internet; returns their URLs."""
    refused: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", route)
    return refused


@pytest.mark.browser
def test_graphiql_runs_a_query_with_no_internet(
    page: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    screenshot: Callable[[Any, str], None],
) -> None:
    refused = offline(page)
    author = make_user("graphiql")
    post_as(author, "seen through GraphiQL")
    query = f'{{ user(username: "{author}") {{ messages(first: 1) {{ nodes {{ text }} }} }} }}'

    page.goto(f"/graphql?q={quote(query)}")
    run = page.get_by_role("button", name=re.compile("Execute query"))
    expect(run).to_be_visible()
    run.click()
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"text": "seen through GraphiQL"')
    screenshot(page, "graphiql-offline")
    assert refused == []


@pytest.mark.browser
def test_a_page_shows_its_frame_while_its_data_is_on_the_way(
    page: Any, make_user: Callable[[str], str], post_as: Callable[..., list[str]]
) -> None:
    author = make_user("frame")
    post_as(author, "the data came")
    held: list[Any] = []
    page.route("**/graphql", lambda route: held.append(route))

    page.goto("/public")
    expect(page.get_by_role("heading", level=2)).to_have_text("Public Timeline")
    expect(page).to_have_title("Public Timeline | MiniTwit")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_have_text("public timeline | sign up | sign in")
    expect(page.locator("#status")).to_have_text("Loading\u2026")
    expect(page.locator("ul.messages > li")).to_have_count(0)
    assert len(held) == 1, "the page asks for its data once, and it is held back"

    held[0].continue_()
    page.unroute("**/graphql")
    expect(page.locator("ul.messages > li p").filter(has_text="the data came")).to_have_count(1)
    expect(page.locator("#status")).to_have_text("")


@pytest.mark.browser
def test_a_users_heading_waits_for_the_user(page: Any, make_user: Callable[[str], str]) -> None:
    name = make_user("heading")
    held: list[Any] = []
    page.route("**/graphql", lambda route: held.append(route))

    page.goto(f"/{name}")
    expect(page.locator("h1")).to_have_text("MiniTwit")
    expect(page.locator("#status")).to_have_text("Loading\u2026")
    expect(page.locator("#page-title")).to_be_hidden()
    assert name not in page.title()

    held[0].continue_()
    page.unroute("**/graphql")
    expect(page.locator("#page-title")).to_have_text(f"{name}'s Timeline")
    expect(page).to_have_title(f"{name}'s Timeline | MiniTwit")


@pytest.mark.browser
def test_an_unknown_user_is_a_404_page_that_never_names_them(page: Any) -> None:
    headings: list[str] = []
    page.expose_function("sawHeading", lambda text: headings.append(text))
    page.add_init_script(
        "new MutationObserver(() => { const h = document.getElementById('page-title');"
        " if (h && h.textContent) window.sawHeading(h.textContent); })"
        ".observe(document, { subtree: true, childList: true, characterData: true });"
    )
    response = page.goto("/nosuchuserhere")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=2)).to_have_text("404 Not Found")
    expect(page).to_have_title("Not Found | MiniTwit")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("sign in")
    assert all("nosuchuserhere" not in heading for heading in headings), headings


@pytest.mark.browser
def test_an_unknown_path_is_a_styled_404_page(
    page: Any,
    make_user: Callable[[str], str],
    sign_in: Callable[[Any, str], None],
    screenshot: Callable[[Any, str], None],
) -> None:
    me = make_user("lost")
    sign_in(page, me)
    response = page.goto("/no/such/page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=2)).to_have_text("404 Not Found")
    expect(page.get_by_text("The requested URL was not found on the server.")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(f"sign out [{me}]")
    footer = page.locator("footer")
    expect(footer).to_have_text(FOOTER)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), "style.css applies"
    screenshot(page, "not-found")


@pytest.mark.browser
def test_a_failed_sign_in_does_not_keep_the_sign_up_flash(
    page: Any, unique: Callable[[str], str], password: str
) -> None:
    name = unique("flash")
    page.goto("/register")
    page.get_by_label("Username").fill(name)
    page.get_by_label("E-Mail").fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (repeat)").fill(password)
    page.get_by_role("button", name="Sign Up").click()
    flashes = page.locator("ul.flashes")
    expect(flashes).to_have_text("You were successfully registered and can login now")

    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text("Error: Invalid password")
    expect(flashes).to_be_hidden()
    expect(page.get_by_text("You were successfully registered")).to_have_count(0)


@pytest.mark.browser
def test_the_browser_gets_the_favicon(page: Any) -> None:
    page.goto("/public")
    size = page.evaluate(
        "() => new Promise((resolve, reject) => { const image = new Image();"
        " image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);"
        " image.onerror = reject; image.src = '/favicon.ico'; })"
    )
    assert size == [32, 32]
