"""The request middleware: request ids, the 503 of an unreachable database, bounded bodies.
In process, through the ASGI app: no socket is the point here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from starlette.types import Message

from minitwit.app import create_app
from minitwit.db.errors import UNAVAILABLE
from minitwit.http.middleware import REQUEST_IDS
from minitwit.settings import Settings
from tests.asgi import AppClient
from tests.servers import TEST_SECRET, free_port

TIMELINE = "{ publicTimeline { nodes { text author { username } } } }"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


@pytest.fixture
def app_client(settings: Settings) -> Iterator[AppClient]:
    with AppClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def nowhere() -> Iterator[AppClient]:
    """An app whose PostgreSQL refuses connections: nothing listens on its port."""
    settings = Settings(
        database_url=f"postgresql://minitwit@127.0.0.1:{free_port()}/minitwit",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    with AppClient(create_app(settings)) as client:
        yield client


def test_generated_request_ids_are_unique_within_and_across_processes() -> None:
    """32 hex digits like a uuid4's; a forked worker runs ``reset`` and draws a new prefix."""
    ids = [REQUEST_IDS.new() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    before = REQUEST_IDS.prefix
    REQUEST_IDS.reset()
    assert REQUEST_IDS.prefix != before
    assert REQUEST_IDS.new() not in ids


def test_a_well_formed_request_id_comes_back_and_others_are_replaced(
    app_client: AppClient,
) -> None:
    given = app_client.get("/health/live", headers={"x-request-id": "abc-1.X_2"})
    assert given.headers["x-request-id"] == "abc-1.X_2"
    for header in ({}, {"x-request-id": "has space"}, {"x-request-id": "x" * 65}):
        generated = app_client.get("/health/live", headers=header).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated), (header, generated)


def test_rest_answers_503_with_retry_after_when_the_database_is_out_of_reach(
    nowhere: AppClient, log_levels: list[str]
) -> None:
    auth = {"Authorization": Settings().simulator_auth}
    for response in (
        nowhere.get("/msgs", headers=auth),
        nowhere.post("/msgs/ann?latest=5", json={"content": "hello"}, headers=auth),
        nowhere.post("/register", json={"username": "ann", "email": "a@b.c", "pwd": "p"}),
        nowhere.get("/latest"),
    ):
        assert response.status_code == 503, (response.request.url, response.text)
        assert response.json() == {"error_msg": UNAVAILABLE, "status": 503}
        assert response.headers["retry-after"] == "1"
    assert nowhere.get("/health/live").status_code == 200
    metrics = nowhere.get("/metrics").text
    assert 'route="/msgs",status="503"' in metrics
    assert 'status="500"' not in metrics
    # An outage is a warning per request, not an error with a traceback (storing latest too).
    assert "WARNING" in log_levels
    assert not {"ERROR", "CRITICAL"} & set(log_levels)


def test_graphql_says_service_unavailable_when_the_database_is_out_of_reach(
    nowhere: AppClient, log_levels: list[str]
) -> None:
    for query, variables in ((TIMELINE, {}), (LOGIN, {"u": "ann", "p": "secret"})):
        response = nowhere.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200
        (error,) = response.json()["errors"]
        assert (error["message"], error["extensions"]["code"]) == (
            UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        )
    assert not {"ERROR", "CRITICAL"} & set(log_levels)


@pytest.mark.parametrize("path", ["/graphql", "/register", "/msgs/ann"])
def test_a_body_over_64_kib_is_a_413_in_the_rest_error_shape(
    app_client: AppClient, path: str
) -> None:
    response = app_client.post(path, content=b"{" + b" " * 100_000 + b"}")
    assert response.status_code == 413
    assert response.json() == {
        "error_msg": "The request body is larger than 65536 bytes",
        "status": 413,
    }
    assert response.headers["connection"] == "close"


def test_any_other_database_error_is_a_logged_500(tmp_path: Path, log_levels: list[str]) -> None:
    """A database without the schema (not migrated) is a bug to fix, not a wait: 500."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    with AppClient(create_app(settings)) as client:
        response = client.get("/latest")
    assert response.status_code == 500
    assert response.json() == {"error_msg": "Internal Server Error", "status": 500}
    assert "retry-after" not in response.headers
    assert log_levels.count("ERROR") == 1


@pytest.mark.parametrize("length", [b"abc", b"\xb2", b"-1", b"1e3", b"65537"])
def test_a_content_length_that_is_no_number_or_too_big_is_a_413(
    settings: Settings, length: bytes
) -> None:
    """Raw ASGI: no client library sends such headers (``\xb2`` is a superscript two)."""
    app = create_app(settings)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/register",
        "raw_path": b"/register",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-length", length)],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
