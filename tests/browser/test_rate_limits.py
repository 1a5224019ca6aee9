"""The rate limits as a person meets them: the form says, in its error line, when to try again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.servers import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own, with limits small enough to reach in a test."""
    workdir: Path = tmp_path_factory.mktemp("strict-server")
    server = ServerProcess(
        f"sqlite:///{workdir / 'db.sqlite3'}",
        workdir / "server.log",
        MINITWIT_ENV="development",
        MINITWIT_SIGN_IN_LIMIT_PER_USERNAME="2/900",
        MINITWIT_SIGN_UP_LIMIT_PER_ADDRESS="1/3600",
    ).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_too_many_failed_sign_ins_say_when_to_try_again(
    page_at: Callable[..., Any], strict_server: str, password: str
) -> None:
    page = page_at(strict_server)
    page.goto("/register")
    page.get_by_label("Username").fill("heidi")
    page.get_by_label("E-Mail").fill("heidi@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (repeat)").fill(password)
    page.get_by_role("button", name="Sign Up").click()
    expect(page).to_have_title("Sign In | MiniTwit")

    for _ in range(2):
        page.get_by_label("Username").fill("heidi")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign In").click()
        expect(page.get_by_role("alert")).to_have_text("Error: Invalid password")
    page.get_by_label("Password").fill(password)  # right, but too late
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(
            r"^Error: Too many sign-in attempts for this account or from this address;"
            r" try again in \d+ (seconds|minutes)$"
        )
    )
    expect(page).to_have_title("Sign In | MiniTwit")

    # The second sign-up from this address within the hour is refused the same way.
    page.goto("/register")
    page.get_by_label("Username").fill("ivan")
    page.get_by_label("E-Mail").fill("ivan@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (repeat)").fill(password)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Error: Too many sign-ups from this address; try again in \d+ minutes$")
    )
