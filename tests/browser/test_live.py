"""Live timelines in real browsers: one person's post appears in another's open page, unreloaded."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LOGIN, REGISTER, graphql
from tests.conftest import PostgresDatabases
from tests.rest.conftest import SIM_HEADERS
from tests.servers import ServerProcess
from tests.subscriptions import Subscriber

pytestmark = pytest.mark.browser


FOLLOW = "mutation Follow($username: String!) { follow(username: $username) { username } }"


def item(page: Any, text: str) -> Any:
    return page.locator("ul.messages > li").filter(has_text=text)


def mark_document(page: Any) -> None:
    """A mark on the loaded document: gone if the page reloads or navigates."""
    page.evaluate("window.__stillTheSamePage = true")


def same_document(page: Any) -> bool:
    return bool(page.evaluate("window.__stillTheSamePage === true"))


def subscriptions(base_url: str, timeline: str) -> int:
    metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
    found = re.search(
        rf'^minitwit_live_subscriptions{{timeline="{timeline}"}} (\S+)$', metrics, re.M
    )
    return int(float(found.group(1))) if found else 0


def open_live(page: Any, base_url: str, path: str, timeline: str) -> None:
    """Open ``path`` and wait until the server holds its page's subscription, so nothing
    posted afterwards can be missed."""
    before = subscriptions(base_url, timeline)
    page.goto(path)
    expect(page.locator("ul.messages")).to_have_attribute("aria-busy", "false")
    deadline = time.monotonic() + 20
    while subscriptions(base_url, timeline) <= before:
        assert time.monotonic() < deadline, f"the {path} page did not subscribe"
        page.wait_for_timeout(50)
    mark_document(page)


def test_a_post_in_one_browser_appears_in_the_others_public_timeline_without_reload(
    page: Any,
    new_page: Callable[..., Any],
    real_server: Any,
    make_user: Callable[[str], str],
    sign_in: Callable[[Any, str], None],
    screenshot: Callable[[Any, str], None],
) -> None:
    author = make_user("live")
    reader = new_page()
    open_live(reader, real_server.base_url, "/public", "public")

    sign_in(page, author)
    page.goto("/")
    text = f"live from {author}"
    page.get_by_label("What's on your mind").fill(text)
    page.get_by_role("button", name="Share").click()

    bar = reader.get_by_role("button", name="Show 1 new message")
    expect(bar).to_be_visible()
    expect(item(reader, text)).to_have_count(0)
    screenshot(reader, "live-new-messages-bar")
    bar.click()
    expect(item(reader, text)).to_be_visible()
    expect(bar).to_be_hidden()
    assert same_document(reader)


def test_the_moderation_page_shows_a_message_flagged_elsewhere_at_once(
    page: Any,
    new_page: Callable[..., Any],
    real_server: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    sign_in: Callable[[Any, str], None],
) -> None:
    first, second = make_user("mod"), make_user("mod")
    real_server.cli("user", "promote", first)
    real_server.cli("user", "promote", second)
    author = make_user("spam")
    text = f"spam from {author}"
    post_as(author, text)

    sign_in(page, first)
    open_live(page, real_server.base_url, "/moderation", "flagged")

    other = new_page()
    sign_in(other, second)
    other.goto(f"/{author}")
    item(other, text).get_by_role("button", name="Flag").click()
    expect(item(other, text)).to_have_count(0)

    expect(item(page, text)).to_be_visible()
    item(page, text).get_by_role("button", name="Unflag").click()
    expect(item(page, text)).to_have_count(0)
    assert same_document(page)


@pytest.fixture
def replicas(
    postgres: PostgresDatabases, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.fresh()
    env = {"MINITWIT_ENV": "development", "LOG_LEVEL": "INFO"}
    one = ServerProcess(url, tmp_path / "one.log", **env).start()
    two = ServerProcess(url, tmp_path / "two.log", **env).start()
    try:
        yield one, two
    finally:
        two.stop()
        one.stop()
        postgres.drop(url)


@pytest.mark.postgres
def test_browsers_on_two_replicas_see_each_others_posts_on_their_home_timelines(
    page_at: Callable[..., Any],
    replicas: tuple[ServerProcess, ServerProcess],
    unique: Callable[[str], str],
    password: str,
) -> None:
    one, two = replicas
    ann, bob = unique("ann"), unique("bob")
    pages = {ann: page_at(one.url), bob: page_at(two.url)}
    origins = {ann: one.url, bob: two.url}
    for name, page in pages.items():
        variables = {"username": name, "email": f"{name}@example.com", "password": password}
        graphql(page.request, REGISTER, variables, origin=origins[name])
        graphql(page.request, LOGIN, {"username": name, "password": password}, origin=origins[name])
    graphql(pages[ann].request, FOLLOW, {"username": bob}, origin=one.url)
    open_live(pages[ann], one.url, "/", "home")

    text = f"{bob} posts on the other replica"
    pages[bob].goto("/")
    pages[bob].get_by_label("What's on your mind").fill(text)
    pages[bob].get_by_role("button", name="Share").click()

    pages[ann].get_by_role("button", name="Show 1 new message").click()
    expect(item(pages[ann], text)).to_be_visible()
    assert same_document(pages[ann])


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that allows one socket per address: the test holds it, so pages get none."""
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        tmp_path / "server.log",
        MINITWIT_ENV="development",
        MINITWIT_LIVE_CONNECTIONS_PER_ADDRESS="1",
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_page_whose_socket_is_refused_works_as_before(
    page_at: Callable[..., Any], crowded: ServerProcess
) -> None:
    with Subscriber(crowded.url):  # takes the address's only socket
        with crowded.client(headers=SIM_HEADERS) as sim:
            body = {"username": "ann", "email": "ann@example.com", "pwd": "pw"}
            assert sim.post("/register", json=body).status_code == 204
            assert sim.post("/msgs/ann", json={"content": "before"}).status_code == 204
            page = page_at(crowded.url)
            page.goto("/public")
            expect(item(page, "before")).to_be_visible()
            assert sim.post("/msgs/ann", json={"content": "after"}).status_code == 204
            page.reload()
            expect(item(page, "after")).to_be_visible()
            expect(page.locator("button.live-bar")).to_be_hidden()
            assert subscriptions(crowded.url, "public") == 0
