"""Hostile text in a real Chromium: shown literally everywhere, never executed.

A user whose very name is markup posts every markup, script and unicode string of the corpus
(``tests/injection.py``), through the page's own form and through the API. Every page that shows
them must show exactly those characters and run nothing: no dialog (the ``page`` fixture fails
the test on any dialog, uncaught error or CSP violation), no ``window.__pwned``, no element made
from the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LOGIN, POST, REGISTER, graphql
from tests.injection import CORPUS

pytestmark = pytest.mark.browser

SHOWN = [p.text for p in CORPUS if p.must_store and p.id != "spaces-around"]
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'
MESSAGE_TEXTS = """
    () => [...document.querySelectorAll('ul.messages > li p')].map(p => p.textContent)
"""
MADE_FROM_TEXT = "ul.messages script, ul.messages img[src=x], ul.messages svg, ul.messages b"


def test_hostile_names_and_messages_show_literally_and_run_nothing(
    page: Any, unique: Callable[[str], str], password: str
) -> None:
    name = f"{HOSTILE_NAME} {unique('')}"
    graphql(
        page.request,
        REGISTER,
        {"username": name, "email": "x@example.com", "password": password},
    )
    graphql(page.request, LOGIN, {"username": name, "password": password})
    by_form = SHOWN[:3]
    for text in by_form:
        page.goto("/")
        page.get_by_label(f"What's on your mind {name}?").fill(text)
        page.get_by_role("button", name="Share").click()
        expect(page.locator("ul.flashes")).to_have_text("Your message was recorded")
    for text in SHOWN[3:]:
        graphql(page.request, POST, {"text": text})

    for path in ("/", "/public", f"/{quote(name, safe='')}"):
        page.goto(path)
        expect(page.locator("ul.messages > li").first).to_be_visible()
        shown = page.evaluate(MESSAGE_TEXTS)
        for text in SHOWN:
            assert any(line.startswith(f"{name} {text} \u2014 ") for line in shown), (path, text)
        expect(page.locator(MADE_FROM_TEXT)).to_have_count(0)
        assert page.evaluate("() => window.__pwned") is None
    expect(page.get_by_role("heading", level=2)).to_contain_text(name)
    assert page.evaluate("() => document.title").startswith(name)
