"""Readable at 375 px wide: nothing scrolls sideways, every main page is captured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WIDTH = 375


def assert_fits(page: Any) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH


def test_main_pages_fit_a_375px_screen(
    new_page: Callable[..., Any],
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    sign_in: Callable[[Any, str], None],
    screenshot: Callable[[Any, str], None],
) -> None:
    user = make_user("narrowscreenuserwithalongname")
    post_as(
        user,
        "A long message that needs wrapping on a phone: "
        + "supercalifragilisticexpialidocious" * 3,
    )
    page = new_page(width=WIDTH, height=812)

    for path, title, shot in [
        ("/public", "Public Timeline | MiniTwit", "public-timeline-375"),
        ("/login", "Sign In | MiniTwit", "sign-in-375"),
        ("/register", "Sign Up | MiniTwit", "sign-up-375"),
    ]:
        page.goto(path)
        expect(page).to_have_title(title)
        expect(page.get_by_role("navigation", name="Main")).to_contain_text("sign in")
        assert_fits(page)
        screenshot(page, shot)

    sign_in(page, user)
    page.goto("/")
    expect(page.locator("div.twitbox")).to_be_visible()
    expect(page.locator("ul.messages > li")).to_have_count(1)
    assert_fits(page)
    screenshot(page, "my-timeline-375")

    page.goto(f"/{user}")
    expect(page.locator("div.followstatus")).to_have_text("This is you!")
    assert_fits(page)
    screenshot(page, "user-timeline-375")
