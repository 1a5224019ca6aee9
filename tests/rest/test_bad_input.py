"""Hostile and malformed requests: every one gets its documented answer, none a 500.

Each case carries its own ``latest``; the reference stores it before anything can fail, so the
case also checks that ``/latest`` moved to it (or, where the request never reaches the API
because its method or size is refused at the door, that it did not move).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx
import pytest

from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.rest.conftest import RestServer

ALICE, BOB, CAROL = "Bad Alice", "Bad Bob", "Bad Carol"
ALICE_PATH, BOB_PATH = "Bad%20Alice", "Bad%20Bob"
NOT_AUTHORIZED = "You are not authorized to use this resource!"
MEGABYTE = b'{"content": "' + b"x" * (1024 * 1024) + b'"}'
UNSET = object()


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    body: Any = UNSET
    auth: str | None = DEFAULT_SIMULATOR_AUTH
    error: str | None = None
    stores_latest: bool = True

    def content(self) -> bytes | None:
        if self.body is UNSET:
            return None
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


AUTHED = [
    ("GET", "/msgs"),
    ("GET", f"/msgs/{ALICE_PATH}"),
    ("POST", f"/msgs/{ALICE_PATH}"),
    ("GET", f"/fllws/{ALICE_PATH}"),
    ("POST", f"/fllws/{ALICE_PATH}"),
]
AUTH_CASES = [
    Case(f"{label} {method} {path}", method, path, 403, {"content": "x"}, auth, NOT_AUTHORIZED)
    for method, path in AUTHED
    for label, auth in (
        ("no auth", None),
        ("wrong auth", "Basic c2ltdWxhdG9yOndyb25n"),
        ("lower-case scheme", DEFAULT_SIMULATOR_AUTH.replace("Basic", "basic")),
        ("other scheme", DEFAULT_SIMULATOR_AUTH.replace("Basic", "Bearer")),
    )
]


def register_body(**changes: Any) -> dict[str, Any]:
    return {"username": "Bad New", "email": "new@example.com", "pwd": "pw", **changes}


REGISTER_CASES = [
    Case("register no body", "POST", "/register", 400),
    Case("register empty body", "POST", "/register", 400, b""),
    Case("register not json", "POST", "/register", 400, b"username=x&pwd=y"),
    Case("register json array", "POST", "/register", 400, [1, 2]),
    Case("register json string", "POST", "/register", 400, "hello"),
    Case("register invalid utf-8", "POST", "/register", 400, b'{"username": "\xff"}'),
    Case("register deep nesting", "POST", "/register", 400, b"[" * 60_000),
    Case(
        "register missing pwd",
        "POST",
        "/register",
        400,
        {"username": "x", "email": "x@y"},
        error="The request body has no 'pwd' key",
    ),
    Case("register username int", "POST", "/register", 400, register_body(username=5)),
    Case("register pwd null", "POST", "/register", 400, register_body(pwd=None)),
    Case(
        "register empty username",
        "POST",
        "/register",
        400,
        register_body(username="", email="bad"),
        error="You have to enter a username",
    ),
    Case(
        "register email without at",
        "POST",
        "/register",
        400,
        register_body(email="new.example.com", pwd=""),
        error="You have to enter a valid email address",
    ),
    Case(
        "register empty pwd",
        "POST",
        "/register",
        400,
        register_body(pwd=""),
        error="You have to enter a password",
    ),
    Case(
        "register taken",
        "POST",
        "/register",
        400,
        register_body(username=ALICE),
        error="The username is already taken",
    ),
    Case(
        "register lone surrogate",
        "POST",
        "/register",
        400,
        b'{"username": "\\ud800", "email": "a@b", "pwd": "p"}',
    ),
    Case("register 1 MB", "POST", "/register", 413, MEGABYTE),
    Case("register wrong method", "PUT", "/register", 405, stores_latest=False),
    Case("register without auth", "POST", "/register", 204, register_body(), auth=None),
]

MESSAGE_CASES = [
    Case("tweet no body", "POST", f"/msgs/{ALICE_PATH}", 400),
    Case("tweet not json", "POST", f"/msgs/{ALICE_PATH}", 400, b"content=hello"),
    Case("tweet not object", "POST", f"/msgs/{ALICE_PATH}", 400, ["content"]),
    Case(
        "tweet missing content",
        "POST",
        f"/msgs/{ALICE_PATH}",
        400,
        {"text": "x"},
        error="The request body has no 'content' key",
    ),
    Case(
        "tweet content int",
        "POST",
        f"/msgs/{ALICE_PATH}",
        400,
        {"content": 5},
        error="'content' must be a string",
    ),
    Case("tweet content null", "POST", f"/msgs/{ALICE_PATH}", 400, {"content": None}),
    Case("tweet content nul char", "POST", f"/msgs/{ALICE_PATH}", 400, {"content": "a\x00b"}),
    Case("tweet unknown user", "POST", "/msgs/Nobody%20Here", 404, {"content": "x"}),
    Case("tweet unknown user bad body", "POST", "/msgs/Nobody%20Here", 404, b"nonsense"),
    Case("tweet empty content", "POST", f"/msgs/{ALICE_PATH}", 204, {"content": ""}),
    Case("tweet 1 MB", "POST", f"/msgs/{ALICE_PATH}", 413, MEGABYTE),
    Case("msgs post", "POST", "/msgs", 405, {"content": "x"}, stores_latest=False),
    Case("msgs delete", "DELETE", "/msgs", 405, stores_latest=False),
    Case("user msgs unknown", "GET", "/msgs/Nobody%20Here", 404),
    Case("tweet newline in name", "POST", "/msgs/a%0Ab", 404, {"content": "x"}),
    Case("user msgs trailing newline", "GET", f"/msgs/{ALICE_PATH}%0A", 404),
    Case("user msgs encoded slash", "GET", "/msgs/a%2Fb", 404),
    Case("user msgs empty name", "GET", "/msgs/", 404),
    Case("user msgs overlong name", "GET", "/msgs/" + "x" * 5000, 404),
]

FOLLOW_CASES = [
    Case("follow no body", "POST", f"/fllws/{ALICE_PATH}", 400),
    Case("follow not json", "POST", f"/fllws/{ALICE_PATH}", 400, b"{follow: bob}"),
    Case(
        "follow neither key",
        "POST",
        f"/fllws/{ALICE_PATH}",
        400,
        {"fllw": BOB},
        error="The request body needs a 'follow' or an 'unfollow' key",
    ),
    Case("follow int", "POST", f"/fllws/{ALICE_PATH}", 400, {"follow": 3}),
    Case("follow list", "POST", f"/fllws/{ALICE_PATH}", 400, {"follow": [BOB]}),
    Case("follow unknown target", "POST", f"/fllws/{ALICE_PATH}", 404, {"follow": "Nobody"}),
    Case("unfollow unknown target", "POST", f"/fllws/{ALICE_PATH}", 404, {"unfollow": "Nobody"}),
    Case("follow unknown user", "POST", "/fllws/Nobody", 404, {"follow": BOB}),
    Case("follow unknown user bad body", "POST", "/fllws/Nobody", 404, b"[[["),
    Case("follow surrogate target", "POST", f"/fllws/{ALICE_PATH}", 404, b'{"follow":"\\udfff"}'),
    Case("unfollow not followed", "POST", f"/fllws/{ALICE_PATH}", 204, {"unfollow": CAROL}),
    Case("follow yourself", "POST", f"/fllws/{ALICE_PATH}", 204, {"follow": ALICE}),
    Case("unfollow yourself", "POST", f"/fllws/{ALICE_PATH}", 204, {"unfollow": ALICE}),
    Case("follow 1 MB", "POST", f"/fllws/{ALICE_PATH}", 413, MEGABYTE),
    Case("follows unknown user", "GET", "/fllws/Nobody", 404),
    Case("fllws put", "PUT", f"/fllws/{ALICE_PATH}", 405, {"follow": BOB}, stores_latest=False),
]

CASES = AUTH_CASES + REGISTER_CASES + MESSAGE_CASES + FOLLOW_CASES
LATEST = count(100_000)


@pytest.fixture(scope="module", autouse=True)
def people(rest_server: RestServer) -> None:
    with rest_server.client(headers={"Authorization": DEFAULT_SIMULATOR_AUTH}) as client:
        for name in (ALICE, BOB, CAROL):
            body = {"username": name, "email": f"{name[4:]}@example.com", "pwd": "secret"}
            assert client.post("/register", json=body).status_code == 204


def latest_of(client: httpx.Client) -> int:
    value: int = client.get("/latest").json()["latest"]
    return value


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_documented_answer(anonymous: httpx.Client, case: Case) -> None:
    before = latest_of(anonymous)
    latest = next(LATEST)
    headers = {"Content-Type": "application/json"}
    if case.auth is not None:
        headers["Authorization"] = case.auth
    response = anonymous.request(
        case.method,
        case.path,
        params={"latest": latest},
        content=case.content(),
        headers=headers,
    )
    assert response.status_code == case.status, response.text
    if case.status == 204:
        assert response.content == b""
        assert "content-type" not in response.headers
    else:
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"status", "error_msg"}
        assert body["status"] == case.status
        assert isinstance(body["error_msg"], str)
        assert body["error_msg"]
        if case.error is not None:
            assert body["error_msg"] == case.error
    assert latest_of(anonymous) == (latest if case.stores_latest else before)


def test_403_body_is_the_references_bytes(anonymous: httpx.Client) -> None:
    response = anonymous.get("/msgs")
    assert response.status_code == 403
    assert response.content == b'{"error_msg":"' + NOT_AUTHORIZED.encode() + b'","status":403}'


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("abc", None),
        ("1.5", None),
        ("", None),
        ("-1", None),
        (str(2**63), None),
        (str(-(2**63) - 1), None),
        ("9" * 5000, None),
        ("0", 0),
        ("-7", -7),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
        ("+12", 12),
    ],
)
def test_odd_latest_values(sim: httpx.Client, raw: str, stored: int | None) -> None:
    sim.get("/msgs", params={"no": 0, "latest": 4242})
    response = sim.get("/msgs", params={"no": 0, "latest": raw})
    assert response.status_code == 200
    assert latest_of(sim) == (4242 if stored is None else stored)


def test_first_of_repeated_latest_counts(sim: httpx.Client) -> None:
    assert sim.get("/msgs?no=0&latest=51&latest=52").status_code == 200
    assert latest_of(sim) == 51


def test_latest_on_latest_is_ignored(sim: httpx.Client) -> None:
    sim.get("/msgs", params={"no": 0, "latest": 61})
    assert sim.get("/latest", params={"latest": 62}).json() == {"latest": 61}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abc", 3), ("-5", 3), ("1e3", 3), ("2", 2), ("0", 0), ("9" * 50, 3), ("9" * 5000, 3)],
)
def test_odd_no_values(sim: httpx.Client, raw: str, expected: int) -> None:
    name = "Bad Counter"
    if sim.get(f"/msgs/{name}").status_code == 404:
        sim.post("/register", json={"username": name, "email": "c@example.com", "pwd": "p"})
        for n in range(3):
            sim.post(f"/msgs/{name}", json={"content": f"n{n}"})
    response = sim.get(f"/msgs/{name}", params={"no": raw})
    assert response.status_code == 200
    assert len(response.json()) == expected
    follows = sim.get(f"/fllws/{name}", params={"no": raw})
    assert follows.status_code == 200


def test_follow_wins_when_both_keys_are_sent(sim: httpx.Client) -> None:
    sim.post(f"/fllws/{ALICE_PATH}", json={"unfollow": BOB})
    response = sim.post(f"/fllws/{ALICE_PATH}", json={"unfollow": BOB, "follow": BOB})
    assert response.status_code == 204
    assert BOB in sim.get(f"/fllws/{ALICE_PATH}").json()["follows"]


def test_following_twice_keeps_one_row(sim: httpx.Client) -> None:
    for _ in range(2):
        assert sim.post(f"/fllws/{BOB_PATH}", json={"follow": CAROL}).status_code == 204
    assert sim.get(f"/fllws/{BOB_PATH}").json() == {"follows": [CAROL]}
    assert sim.post(f"/fllws/{BOB_PATH}", json={"unfollow": CAROL}).status_code == 204
    assert sim.post(f"/fllws/{BOB_PATH}", json={"unfollow": CAROL}).status_code == 204
    assert sim.get(f"/fllws/{BOB_PATH}").json() == {"follows": []}


def test_empty_message_is_accepted_like_the_reference(sim: httpx.Client) -> None:
    assert sim.post(f"/msgs/{ALICE_PATH}", json={"content": ""}).status_code == 204
    assert sim.get(f"/msgs/{ALICE_PATH}", params={"no": 1}).json()[0]["content"] == ""


def test_chunked_oversized_body_is_413(sim: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(200):
            yield b"x" * 8192

    response = sim.post(f"/msgs/{ALICE_PATH}", content=chunks())
    assert response.status_code == 413
