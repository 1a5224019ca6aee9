"""Each sign-up and sign-in error of the original, shown as `Error: <text>`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TAKEN = "<taken>"


@pytest.mark.parametrize(
    ("username", "email", "password", "password2", "error", "focused"),
    [
        ("", "someone@example.com", "pw", "pw", "You have to enter a username", "username"),
        ("newcomer", "", "pw", "pw", "You have to enter a valid email address", "email"),
        ("newcomer", "no-at-sign", "pw", "pw", "You have to enter a valid email address", "email"),
        ("newcomer", "someone@example.com", "", "", "You have to enter a password", "password"),
        (
            "newcomer",
            "someone@example.com",
            "pw",
            "other",
            "The two passwords do not match",
            "password",  # both cleared: start again at the first
        ),
        (TAKEN, "someone@example.com", "pw", "pw", "The username is already taken", "username"),
    ],
)
def test_sign_up_error_is_shown(
    page: Any,
    make_user: Callable[[str], str],
    unique: Callable[[str], str],
    username: str,
    email: str,
    password: str,
    password2: str,
    error: str,
    focused: str,
) -> None:
    """The input the server names in extensions.field is focused; the passwords are cleared."""
    if username == TAKEN:
        username = make_user("taken")
    elif username:
        username = unique(username)
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("E-Mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (repeat)").fill(password2)
    page.get_by_role("button", name="Sign Up").click()

    expect(page.get_by_role("alert")).to_have_text(f"Error: {error}")
    expect(page).to_have_url(re.compile(r"/register$"))
    expect(page).to_have_title("Sign Up | MiniTwit")
    expect(page.get_by_label("Username")).to_have_value(username)
    expect(page.get_by_label("E-Mail")).to_have_value(email)
    expect(page.locator(f"#{focused}")).to_be_focused()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(page.get_by_label("Password (repeat)")).to_have_value("")


@pytest.mark.parametrize(
    ("known_user", "wrong_password", "error"),
    [
        (False, False, "Invalid username"),
        (True, True, "Invalid password"),
    ],
)
def test_sign_in_error_is_shown(
    page: Any,
    make_user: Callable[[str], str],
    unique: Callable[[str], str],
    password: str,
    known_user: bool,
    wrong_password: bool,
    error: str,
) -> None:
    username = make_user("frank") if known_user else unique("ghost")
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("not the password" if wrong_password else password)
    page.get_by_role("button", name="Sign In").click()

    expect(page.get_by_role("alert")).to_have_text(f"Error: {error}")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page).to_have_title("Sign In | MiniTwit")
    expect(page.locator("#password" if wrong_password else "#username")).to_be_focused()
    expect(page.get_by_label("Username")).to_have_value(username)


def test_a_corrected_sign_in_succeeds_after_an_error(
    page: Any,
    make_user: Callable[[str], str],
    password: str,
    screenshot: Callable[[Any, str], None],
) -> None:
    username = make_user("grace")
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text("Error: Invalid password")
    expect(page.get_by_label("Password")).to_be_focused()
    screenshot(page, "sign-in-error")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_title("My Timeline | MiniTwit")
    expect(page.locator("ul.flashes")).to_have_text("You were logged in")


def test_sign_in_with_the_keyboard_only(
    page: Any, make_user: Callable[[str], str], password: str
) -> None:
    username = make_user("heidi")
    page.goto("/login")
    expect(page.get_by_role("button", name="Sign In")).to_be_enabled()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page).to_have_title("My Timeline | MiniTwit")
    # The title is set before the timeline's query answers; the box to type in
    # appears with the answer, as a person would wait to see it.
    twitbox = page.get_by_label(f"What's on your mind {username}?")
    expect(twitbox).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(twitbox).to_be_focused()
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    expect(page.locator("ul.flashes")).to_have_text("Your message was recorded")
    expect(page.locator("ul.messages > li").first).to_contain_text("typed without a mouse")
