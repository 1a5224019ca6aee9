"""A new visitor's whole journey through the pages and texts of the original MiniTwit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import FOOTER

pytestmark = pytest.mark.browser


def nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Main")


def message_item(page: Any, text: str) -> Any:
    return page.locator("ul.messages > li").filter(has_text=text)


def test_whole_journey_sign_up_post_follow_unfollow_sign_out(
    page: Any,
    make_user: Callable[[str], str],
    post_as: Callable[..., list[str]],
    unique: Callable[[str], str],
    password: str,
    screenshot: Callable[[Any, str], None],
) -> None:
    other = make_user("bob")
    post_as(other, f"Hello from {other}")
    me = unique("alice")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/public$"))
    expect(page).to_have_title("Public Timeline | MiniTwit")
    expect(page.get_by_role("heading", level=2)).to_have_text("Public Timeline")
    expect(nav(page)).to_have_text("public timeline | sign up | sign in")
    expect(page.locator("div.footer")).to_have_text(FOOTER)
    expect(message_item(page, f"Hello from {other}")).to_be_visible()
    screenshot(page, "public-timeline")

    nav(page).get_by_role("link", name="sign up").click()
    expect(page).to_have_url(re.compile(r"/register$"))
    expect(page).to_have_title("Sign Up | MiniTwit")
    page.get_by_label("Username").fill(me)
    page.get_by_label("E-Mail").fill(f"{me}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (repeat)").fill(password)
    screenshot(page, "sign-up")
    page.get_by_role("button", name="Sign Up").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page).to_have_title("Sign In | MiniTwit")
    expect(page.locator("ul.flashes")).to_have_text(
        "You were successfully registered and can login now"
    )
    page.get_by_label("Username").fill(me)
    page.get_by_label("Password").fill(password)
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign In").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page).to_have_title("My Timeline | MiniTwit")
    expect(page.locator("ul.flashes")).to_have_text("You were logged in")
    expect(nav(page)).to_have_text(f"my timeline | public timeline | sign out [{me}]")
    expect(page.locator("ul.messages")).to_have_text("There's no message so far.")
    expect(page.locator("div.twitbox h3")).to_have_text(f"What's on your mind {me}?")

    page.get_by_label(f"What's on your mind {me}?").fill(f"First words of {me}")
    page.get_by_role("button", name="Share").click()
    expect(page.locator("ul.flashes")).to_have_text("Your message was recorded")
    mine = message_item(page, f"First words of {me}")
    expect(mine).to_be_visible()
    expect(mine.get_by_role("link", name=me)).to_have_attribute("href", f"/{me}")
    expect(mine.locator("small")).to_have_text(re.compile(r"^\u2014 (now|\d+ minutes? ago)$"))
    when = mine.locator("small time")
    expect(when).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d @ \d\d:\d\d UTC$"))
    expect(mine.locator("img")).to_have_attribute("src", re.compile(r"gravatar\.com/avatar/"))
    screenshot(page, "my-timeline")

    nav(page).get_by_role("link", name="public timeline").click()
    expect(page).to_have_title("Public Timeline | MiniTwit")
    message_item(page, f"Hello from {other}").get_by_role("link", name=other).click()
    expect(page).to_have_url(re.compile(f"/{other}$"))
    expect(page).to_have_title(f"{other}'s Timeline | MiniTwit")
    expect(page.locator("div.followstatus")).to_have_text(
        "You are not yet following this user. Follow user."
    )
    page.get_by_role("link", name="Follow user").click()
    expect(page.locator("ul.flashes")).to_have_text(f'You are now following "{other}"')
    expect(page.locator("div.followstatus")).to_have_text(
        "You are currently following this user. Unfollow user."
    )
    screenshot(page, "user-timeline")

    nav(page).get_by_role("link", name="my timeline").click()
    expect(page).to_have_title("My Timeline | MiniTwit")
    expect(message_item(page, f"Hello from {other}")).to_be_visible()
    expect(message_item(page, f"First words of {me}")).to_be_visible()

    page.go_back()
    expect(page).to_have_title(f"{other}'s Timeline | MiniTwit")
    page.get_by_role("link", name="Unfollow user").click()
    expect(page.locator("ul.flashes")).to_have_text(f'You are no longer following "{other}"')
    expect(page.locator("div.followstatus")).to_have_text(
        "You are not yet following this user. Follow user."
    )

    nav(page).get_by_role("link", name="my timeline").click()
    expect(message_item(page, f"First words of {me}")).to_be_visible()
    expect(message_item(page, f"Hello from {other}")).to_have_count(0)

    page.goto(f"/{me}")
    expect(page.locator("div.followstatus")).to_have_text("This is you!")

    nav(page).get_by_role("link", name=f"sign out [{me}]").click()
    expect(page).to_have_url(re.compile(r"/public$"))
    expect(page.locator("ul.flashes")).to_have_text("You were logged out")
    expect(nav(page)).to_have_text("public timeline | sign up | sign in")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/public$"))


def test_flash_is_shown_once(page: Any, make_user: Callable[[str], str], password: str) -> None:
    me = make_user("carol")
    page.goto("/login")
    page.get_by_label("Username").fill(me)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("ul.flashes")).to_have_text("You were logged in")
    page.reload()
    expect(page.locator("div.twitbox")).to_be_visible()
    expect(page.locator("ul.flashes")).to_be_hidden()


def test_user_page_of_a_signed_out_visitor_has_no_follow_status(
    page: Any, make_user: Callable[[str], str], post_as: Callable[..., list[str]]
) -> None:
    someone = make_user("dave")
    post_as(someone, "dave's only message")
    page.goto(f"/{someone}")
    expect(page).to_have_title(f"{someone}'s Timeline | MiniTwit")
    expect(message_item(page, "dave's only message")).to_be_visible()
    expect(page.locator("div.followstatus")).to_be_hidden()
    expect(page.locator("div.twitbox")).to_be_hidden()


def test_unknown_user_page_says_not_found(
    page: Any, unique: Callable[[str], str], screenshot: Callable[[Any, str], None]
) -> None:
    response = page.goto(f"/{unique('nobody')}")
    assert response is not None
    assert response.status == 404, "an unknown user's page is a 404, as in the original"
    expect(page).to_have_title("Not Found | MiniTwit")
    expect(page.get_by_role("heading", level=2)).to_have_text("404 Not Found")
    expect(page.locator("ul.messages")).to_have_count(0)
    screenshot(page, "not-found")


def test_signed_in_visitor_is_sent_home_from_sign_in_and_sign_up(
    page: Any, make_user: Callable[[str], str], sign_in: Callable[[Any, str], None]
) -> None:
    sign_in(page, make_user("erin"))
    for path in ("/login", "/register"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page).to_have_title("My Timeline | MiniTwit")


def test_back_button_and_bookmarks_use_real_urls(page: Any) -> None:
    page.goto("/public")
    nav(page).get_by_role("link", name="sign in").click()
    expect(page).to_have_title("Sign In | MiniTwit")
    nav(page).get_by_role("link", name="sign up").click()
    expect(page).to_have_title("Sign Up | MiniTwit")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page).to_have_title("Sign In | MiniTwit")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/public$"))
    expect(page).to_have_title("Public Timeline | MiniTwit")
    page.go_forward()
    expect(page).to_have_title("Sign In | MiniTwit")


def test_user_page_with_a_space_in_the_name(
    page: Any,
    gql: Callable[..., dict[str, Any]],
    unique: Callable[[str], str],
    password: str,
    post_as: Callable[..., list[str]],
) -> None:
    name = f"Jane {unique('Doe')}"
    gql(
        page.request,
        "mutation($u: String!, $p: String!) "
        '{ register(username: $u, email: "jane@example.com", password: $p, password2: $p) '
        "{ username } }",
        {"u": name, "p": password},
    )
    post_as(name, "a message from a name with a space")
    page.goto("/public")
    message_item(page, "a message from a name with a space").get_by_role("link", name=name).click()
    expect(page).to_have_url(re.compile("/" + re.escape(name.replace(" ", "%20")) + "$"))
    expect(page).to_have_title(f"{name}'s Timeline | MiniTwit")
    expect(message_item(page, "a message from a name with a space")).to_be_visible()
