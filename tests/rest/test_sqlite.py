"""Fast checks on SQLite, in process: the prefix setting, the ``no`` cap, progress output."""

from __future__ import annotations

import argparse
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.ops import replay
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.conftest import LiveServer
from tests.servers import TEST_SECRET

AUTH = {"Authorization": DEFAULT_SIMULATOR_AUTH}


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "minitwit.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def make_app(url: str, **changes: object) -> Starlette:
    settings = Settings(database_url=url, secret_key=TEST_SECRET).with_(**changes)
    return create_app(settings, db=Database(settings))


Request = tuple[str, str, dict[str, object]]


def exchange(app: Starlette, *requests: Request) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(m, path, **kw) for m, path, kw in requests]  # type: ignore[arg-type]

    try:
        return anyio.run(run)
    finally:
        app.state.db.dispose()


def signed_up_with_posts(username: str, posts: int) -> list[Request]:
    """The simulator's requests that sign ``username`` up, then post "0", "1", ... as them."""
    body = {"username": username, "email": "u@example.com", "pwd": "p"}
    post = {"headers": AUTH}
    path = f"/msgs/{quote(username)}"
    return [
        ("POST", "/register", {"json": body}),
        *[("POST", path, {**post, "json": {"content": f"{n}"}}) for n in range(posts)],
    ]


def test_prefix_moves_the_api_and_its_document(sqlite_url: str) -> None:
    app = make_app(sqlite_url, rest_prefix="/api")
    body = {"username": "Pre Fix", "email": "p@example.com", "pwd": "p"}
    moved, document, latest, root = exchange(
        app,
        ("POST", "/api/register", {"json": body, "params": {"latest": 3}}),
        ("GET", "/api/openapi.json", {}),
        ("GET", "/api/latest", {}),
        ("GET", "/msgs", {"headers": AUTH}),
    )
    assert moved.status_code == 204
    assert all(path.startswith("/api/") for path in document.json()["paths"])
    assert latest.json() == {"latest": 3}
    assert not root.headers["content-type"].startswith("application/json")


def test_no_is_clamped_to_the_configured_cap(sqlite_url: str) -> None:
    app = make_app(sqlite_url, rest_max_no=5)
    responses = exchange(
        app,
        *signed_up_with_posts("Cap Ped", 8),
        ("GET", "/msgs/Cap%20Ped", {"params": {"no": 10**30}, "headers": AUTH}),
        ("GET", "/msgs", {"params": {"no": 7}, "headers": AUTH}),
        ("GET", "/msgs", {"headers": AUTH}),
    )
    assert [r.status_code for r in responses[:9]] == [204] * 9
    assert [len(r.json()) for r in responses[9:]] == [5, 5, 5]
    assert [m["content"] for m in responses[9].json()] == ["7", "6", "5", "4", "3"]


def test_latest_is_stored_when_the_action_fails_on_sqlite(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    responses = exchange(
        app,
        (
            "POST",
            "/msgs/Nobody",
            {"json": {"content": "x"}, "params": {"latest": 41}, "headers": AUTH},
        ),
        ("GET", "/latest", {}),
        ("POST", "/register", {"content": b"{", "params": {"latest": 42}}),
        ("GET", "/latest", {}),
        ("GET", "/msgs", {"params": {"latest": 43}}),
        ("GET", "/latest", {}),
    )
    assert [r.status_code for r in responses[::2]] == [404, 400, 403]
    assert [r.json()["latest"] for r in responses[1::2]] == [41, 42, 43]


@pytest.fixture
def live(sqlite_url: str) -> Iterator[LiveServer]:
    with LiveServer(make_app(sqlite_url)) as server:
        yield server


def test_replay_shows_progress_on_a_terminal(live: LiveServer, tmp_path: Path) -> None:
    scenario = tmp_path / "s.csv"
    scenario.write_text(
        "0\t0\t0\tregister\tTty User\tt@example.com\tpw\n1\t0\t0\ttweet\tTty User\thi\n",
        encoding="utf-8",
    )
    args = argparse.Namespace(
        url=live.url,
        scenario=scenario,
        workers=1,
        limit=None,
        timeout=5.0,
        auth=DEFAULT_SIMULATOR_AUTH,
    )
    out, err = io.StringIO(), io.StringIO()
    assert replay.command(args, out=out, err=err, isatty=lambda: True) == 0
    assert out.getvalue() == ""
    assert re.search(r"\r2/2 \(100 %\), \d+/s, 0 errors, eta 0:00\x1b\[K\n", err.getvalue())
    assert "2 requests" in err.getvalue()


def test_the_default_no_setting_is_what_the_document_and_the_lists_use(sqlite_url: str) -> None:
    app = make_app(sqlite_url, rest_default_no=2)
    *_, listed, document = exchange(
        app,
        *signed_up_with_posts("Def Ault", 3),
        ("GET", "/msgs", {"headers": AUTH}),
        ("GET", "/openapi.json", {}),
    )
    assert [m["content"] for m in listed.json()] == ["2", "1"]
    [no] = [p for p in document.json()["paths"]["/msgs"]["get"]["parameters"] if p["name"] == "no"]
    assert "Default 2." in no["description"]


def test_get_and_head_of_register_are_the_web_clients_sign_up_page(sqlite_url: str) -> None:
    """Without a prefix, /register is both the simulator's POST and the web client's page."""
    page, head, other = exchange(
        make_app(sqlite_url),
        ("GET", "/register", {}),
        ("HEAD", "/register", {}),
        ("PUT", "/register", {}),
    )
    assert (page.status_code, page.headers["content-type"].split(";")[0]) == (200, "text/html")
    assert head.status_code == 200
    assert other.status_code == 405
    assert other.json() == {"error_msg": "Method Not Allowed", "status": 405}
