"""How messages read in 2026: times in the reader's own zone, texts in any script, a counter
that refuses what does not fit, an empty Share that says so, timeline pages in the address."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

READER_TEXT = """([iso, now]) => import('/static/js/layout.js').then(
  (layout) => layout.readerText(new Date(iso), Date.parse(now))
)"""


@pytest.mark.parametrize(
    ("zone", "locale", "iso", "now", "shown"),
    [
        # a day old or more: the date and time in the reader's zone and format
        (
            "Asia/Kolkata",
            "en-GB",
            "2020-01-02T03:04:00Z",
            "2026-12-04T18:00:00Z",
            "2 Jan 2020, 08:34",
        ),
        (
            "America/New_York",
            "en-US",
            "2020-01-02T03:04:00Z",
            "2026-12-04T18:00:00Z",
            "Jan 1, 2020, 10:04 PM",
        ),
        (
            "Europe/Berlin",
            "de-DE",
            "2026-07-01T12:00:00Z",
            "2026-12-04T18:00:00Z",
            "01.07.2026, 14:00",
        ),
        # within a day: how long ago, in the reader's language
        ("Asia/Kolkata", "en-GB", "2026-12-04T17:57:00Z", "2026-12-04T18:00:00Z", "3 minutes ago"),
        ("Asia/Kolkata", "en-GB", "2026-12-04T17:59:30Z", "2026-12-04T18:00:00Z", "now"),
        ("Asia/Kolkata", "en-GB", "2026-12-04T13:00:00Z", "2026-12-04T18:00:00Z", "5 hours ago"),
        ("Europe/Berlin", "de-DE", "2026-12-04T17:57:00Z", "2026-12-04T18:00:00Z", "vor 3 Minuten"),
    ],
)
def test_times_read_in_the_readers_zone_and_format(
    new_page: Callable[..., Any], zone: str, locale: str, iso: str, now: str, shown: str
) -> None:
    page = new_page(timezone_id=zone, locale=locale)
    page.goto("/public")
    # ICU versions differ on the space before PM (U+202F or a plain one).
    assert page.evaluate(READER_TEXT, [iso, now]).replace("\u202f", " ") == shown


def test_a_message_shows_how_long_ago_and_its_exact_utc_time(
    new_page: Callable[..., Any],
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
) -> None:
    author = make_user("clock")
    post_as(author, "what time is it?")
    page = new_page(timezone_id="Pacific/Auckland", locale="en-NZ")
    page.goto(f"/{author}")
    when = page.locator("ul.messages > li small time")
    expect(when).to_have_text(re.compile(r"^(now|\d+ minutes? ago)$"))
    stamp = when.get_attribute("datetime")
    assert stamp is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    day, hour = stamp[:10], stamp[11:16]
    expect(when).to_have_attribute("title", f"{day} @ {hour} UTC")


def test_right_to_left_text_is_isolated_from_the_name_and_the_date(
    page: Any, make_user: Callable[[str], str], post_as: Callable[..., list[str]]
) -> None:
    author = make_user("bidi")
    text = "\u05e9\u05dc\u05d5\u05dd \u05dc\u05db\u05d5\u05dc\u05dd 123"  # Hebrew, ending in digits
    post_as(author, text)
    page.goto(f"/{author}")
    item = page.locator("ul.messages > li p")
    expect(item.locator("bdi.text")).to_have_text(text)
    expect(item.locator("strong a bdi")).to_have_text(author)
    name, body, date = (
        item.locator(selector).bounding_box() for selector in ("strong", "bdi.text", "small")
    )
    assert name
    assert body
    assert date
    assert name["x"] < body["x"] < date["x"], "name, text, date in reading order, left to right"


def twitbox(page: Any, make_user: Callable[[str], str], sign_in: Callable[[Any, str], None]) -> Any:
    """A new user's own timeline, signed in; its box to post in."""
    me = make_user("writer")
    sign_in(page, me)
    page.goto("/")
    return page.get_by_label(f"What's on your mind {me}?")


def test_the_counter_says_what_is_left_and_share_refuses_what_is_over(
    page: Any, make_user: Callable[[str], str], sign_in: Callable[[Any, str], None]
) -> None:
    box = twitbox(page, make_user, sign_in)
    count = page.locator("#text-count")
    expect(count).to_have_text("1000 characters left")
    box.fill("hello \u00e6\u00f8\u00e5 \U0001f600")
    expect(count).to_have_text("989 characters left")
    too_long = "x" * 1003
    box.fill(too_long)
    expect(count).to_have_text("3 characters too many")
    expect(box).to_have_attribute("aria-invalid", "")
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Error: A message can have at most 1000 characters; this one has 1003"
    )
    expect(box).to_have_value(too_long)  # nothing cut, nothing lost
    expect(box).to_be_focused()
    expect(page.locator("ul.messages")).to_have_text("There's no message so far.")
    box.fill("x" * 1000)
    expect(count).to_have_text("0 characters left")
    page.get_by_role("button", name="Share").click()
    expect(page.locator("ul.flashes")).to_have_text("Your message was recorded")


def test_an_empty_share_says_so_and_clears_the_old_flash(
    page: Any, make_user: Callable[[str], str], sign_in: Callable[[Any, str], None]
) -> None:
    box = twitbox(page, make_user, sign_in)
    box.fill("something")
    page.get_by_role("button", name="Share").click()
    flashes = page.locator("ul.flashes")
    expect(flashes).to_have_text("Your message was recorded")
    for empty in ("", "   "):
        box.fill(empty)
        page.get_by_role("button", name="Share").click()
        expect(flashes).to_be_hidden()
        expect(page.get_by_role("alert")).to_have_text(
            "Error: There is nothing to share yet: write a message first"
        )
    expect(page.locator("ul.messages > li")).to_have_count(1)


def test_timeline_pages_are_in_the_address_for_back_and_bookmarks(
    page: Any,
    new_page: Callable[..., Any],
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
) -> None:
    author = make_user("pages")
    texts = [f"page message {index:02d}" for index in range(35)]
    post_as(author, *texts)
    page.goto(f"/{author}")
    items = page.locator("ul.messages > li")
    expect(items).to_have_count(30)
    page.get_by_role("button", name="More messages").click()
    expect(items).to_have_count(35)
    expect(page).to_have_url(re.compile(rf"/{author}\?after=.+"))
    bookmark = page.url

    page.go_back()
    expect(page).to_have_url(re.compile(rf"/{author}$"))
    expect(items).to_have_count(30)
    expect(items.first).to_contain_text("page message 34")

    reader = new_page()
    reader.goto(bookmark)
    shown = reader.locator("ul.messages > li")
    expect(shown).to_have_count(5)
    expect(shown.first).to_contain_text("page message 04")
    expect(shown.last).to_contain_text("page message 00")
    reader.get_by_role("link", name="Back to the newest messages").click()
    expect(reader).to_have_url(re.compile(rf"/{author}$"))
    expect(shown).to_have_count(30)
