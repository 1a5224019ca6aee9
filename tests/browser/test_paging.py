"""The "More messages" control pages through a timeline with the GraphQL cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGE_SIZE = 30


def test_more_messages_loads_the_next_page(
    page: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    screenshot: Callable[[Any, str], None],
) -> None:
    author = make_user("prolific")
    texts = [f"message number {index:02d}" for index in range(PAGE_SIZE + 5)]
    post_as(author, *texts)
    newest_first = list(reversed(texts))

    page.goto(f"/{author}")
    items = page.locator("ul.messages > li p")
    expect(items).to_have_count(PAGE_SIZE)
    more = page.get_by_role("button", name="More messages")
    expect(more).to_be_visible()
    assert [text.split(" \u2014 ")[0].split(" ", 1)[1] for text in items.all_inner_texts()] == (
        newest_first[:PAGE_SIZE]
    )

    more.click()
    expect(items).to_have_count(len(texts))
    expect(more).to_be_hidden()
    assert [text.split(" \u2014 ")[0].split(" ", 1)[1] for text in items.all_inner_texts()] == (
        newest_first
    )
    expect(page.locator("ul.messages > li").nth(PAGE_SIZE).get_by_role("link")).to_be_focused()
    screenshot(page, "paging")


def test_short_timeline_has_no_more_messages_control(
    page: Any, make_user: Callable[[str], str], post_as: Callable[..., list[str]]
) -> None:
    author = make_user("quiet")
    post_as(author, "just one")
    page.goto(f"/{author}")
    expect(page.locator("ul.messages > li")).to_have_count(1)
    expect(page.get_by_role("button", name="More messages")).to_be_hidden()
