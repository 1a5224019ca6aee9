"""Moderators flag messages, which then disappear for everyone, and unflag them on their page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def item(page: Any, text: str) -> Any:
    return page.locator("ul.messages > li").filter(has_text=text)


def test_moderator_flags_and_unflags_a_message(
    page: Any,
    new_page: Callable[..., Any],
    real_server: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    sign_in: Callable[[Any, str], None],
    screenshot: Callable[[Any, str], None],
) -> None:
    moderator = make_user("mod")
    real_server.cli("user", "promote", moderator)
    author = make_user("spammer")
    text = f"buy cheap stuff from {author}"
    post_as(author, text, f"an honest message from {author}")
    sign_in(page, moderator)
    visitor = new_page()

    page.goto("/public")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_have_text(
        f"my timeline | public timeline | flagged messages | sign out [{moderator}]"
    )
    expect(item(page, text)).to_be_visible()
    screenshot(page, "public-timeline-moderator")
    item(page, text).get_by_role("button", name="Flag").click()
    expect(item(page, text)).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="flagged")).to_be_visible()

    for path in ("/public", f"/{author}"):
        visitor.goto(path)
        expect(item(visitor, f"an honest message from {author}")).to_be_visible()
        expect(item(visitor, text)).to_have_count(0)
    page.reload()
    expect(item(page, f"an honest message from {author}")).to_be_visible()
    expect(item(page, text)).to_have_count(0)

    nav.get_by_role("link", name="flagged messages").click()
    expect(page).to_have_url(re.compile(r"/moderation$"))
    expect(page).to_have_title("Flagged Messages | MiniTwit")
    expect(item(page, text)).to_be_visible()
    screenshot(page, "flagged-messages")
    item(page, text).get_by_role("button", name="Unflag").click()
    expect(item(page, text)).to_have_count(0)

    visitor.goto("/public")
    expect(item(visitor, text)).to_be_visible()


def test_other_users_see_no_moderation_controls(
    page: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    sign_in: Callable[[Any, str], None],
) -> None:
    author = make_user("plain")
    post_as(author, "nothing to see here")
    sign_in(page, make_user("reader"))
    page.goto("/public")
    expect(item(page, "nothing to see here")).to_be_visible()
    expect(page.get_by_role("button", name="Flag")).to_have_count(0)
    expect(page.get_by_role("link", name="flagged messages")).to_have_count(0)

    page.goto("/moderation")
    expect(page.get_by_role("alert")).to_have_text(
        "Error: Only moderators can see flagged messages."
    )


def test_signed_out_visitor_is_sent_to_sign_in_from_moderation(page: Any) -> None:
    page.goto("/moderation")
    expect(page).to_have_url(re.compile(r"/login$"))
