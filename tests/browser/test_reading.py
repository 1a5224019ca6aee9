"""How messages read in 2026: times in the reader's own zone, texts in any script."""

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
