"""The injection corpus (``tests/injection.py``) through every input of both APIs, in process.

Each string goes into every text input: the simulator's register fields, message content,
follow and unfollow names, path usernames and query parameters; GraphQL's every mutation and
query argument, as a variable and as a literal, and as the operation name. Never a 500 nor a
masked error; a stored string comes back byte for byte; a refused one gets a 4xx that says why.
Bodies are JSON with every non-ASCII character escaped, so lone surrogates travel as ``\\ud800``.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from httpx import Response

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.asgi import AppClient
from tests.conftest import LiveServer
from tests.factories import PASSWORD, make_user
from tests.injection import CORPUS, Payload

ORIGIN = "http://testserver"
SIM = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
AUTHOR = "inj author"
REFUSED = {400, 404, 413}


@pytest.fixture
def client(settings: Settings) -> Iterator[AppClient]:
    db = Database(settings)
    make_user(db, AUTHOR, moderator=True)
    with AppClient(create_app(settings, db=db), headers={"Origin": ORIGIN}) as test_client:
        yield test_client
    db.dispose()


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("ascii")  # \ud800 stays an escape, as browsers send it


# --- the simulator's REST API ---------------------------------------------------------------


def rest(client: AppClient, method: str, path: str, body: Any = None, **params: str) -> Response:
    content = None if body is None else _json(body)
    if params:  # percent-encoded by hand: a lone surrogate becomes the bytes it would be
        path += "?" + "&".join(f"{key}={path_of(value)}" for key, value in params.items())
    response = client.request(method, path, content=content, headers=SIM)
    assert response.status_code < 500, (method, path, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert error["status"] == response.status_code
        assert isinstance(error["error_msg"], str)
        assert error["error_msg"]
    return response


def path_of(name: str) -> str:
    return quote(name.encode("utf-8", "surrogatepass"), safe="")


@pytest.mark.parametrize("payload", CORPUS, ids=lambda p: p.id)
def test_rest_inputs_store_hostile_text_exactly_or_refuse_it_clearly(
    client: AppClient, payload: Payload
) -> None:
    text = payload.text
    author = f"/msgs/{path_of(AUTHOR)}"
    follows_of_author = f"/fllws/{path_of(AUTHOR)}"

    posted = rest(client, "POST", author, {"content": text}, latest="7")
    if payload.must_store:
        assert posted.status_code == 204
    if posted.status_code == 204:
        newest = rest(client, "GET", author, no="1").json()
        assert newest[0]["content"] == text
        assert newest[0]["user"] == AUTHOR
    else:
        assert posted.status_code in REFUSED
    for field in ("email", "pwd"):
        body = {"username": f"field {field}", "email": "f@x.dk", "pwd": "p", field: text}
        assert rest(client, "POST", "/register", body).status_code in {204, 400, 409, 413}
    registered = rest(
        client, "POST", "/register", {"username": text, "email": "i@x.dk", "pwd": text}
    )
    assert registered.status_code in {204, *REFUSED}
    followed = rest(client, "POST", follows_of_author, {"follow": text})
    if registered.status_code == 204:
        assert followed.status_code == 204
        assert text in rest(client, "GET", follows_of_author, no="1000").json()["follows"]
        unfollowed = rest(client, "POST", follows_of_author, {"unfollow": text})
        assert unfollowed.status_code == 204
        assert text not in rest(client, "GET", follows_of_author).json()["follows"]
    else:
        assert followed.status_code in REFUSED
        assert rest(client, "POST", follows_of_author, {"unfollow": text}).status_code in {
            204,
            *REFUSED,
        }
    assert rest(client, "GET", "/latest").json() == {"latest": 7}
    if len(text) > 4000:
        return  # a megabyte in the URL: below, against the real server

    exists = rest(client, "GET", f"/msgs/{path_of(text)}")
    assert exists.status_code == (200 if registered.status_code == 204 else 404)
    for method, path in [
        ("GET", f"/msgs/{path_of(text)}"),
        ("POST", f"/msgs/{path_of(text)}"),
        ("GET", f"/fllws/{path_of(text)}"),
        ("POST", f"/fllws/{path_of(text)}"),
    ]:
        body = {"content": "x", "follow": AUTHOR} if method == "POST" else None
        assert rest(client, method, path, body).status_code in {200, 204, *REFUSED}
    for path in ("/msgs", author, follows_of_author, "/latest"):
        assert rest(client, "GET", path, latest=text, no=text).status_code == 200
    assert rest(client, "GET", "/latest").json() == {"latest": 7}


@pytest.mark.parametrize("path", ["/msgs/{}", "/fllws/{}", "/msgs?no={}", "/latest?latest={}"])
def test_a_megabyte_url_is_refused_by_the_real_server_without_a_500(
    server: LiveServer, path: str
) -> None:
    """No client library sends such a URL; a raw socket to uvicorn does."""
    target = path.format("x" * (1024 * 1024)).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        try:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent: the server closed the connection
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    if answer:  # h11 answers 400 to an oversized request line, or the server just hangs up
        status = int(answer.split()[1])
        assert 400 <= status < 500, answer[:200]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/health/ready").status_code == 200


# --- GraphQL --------------------------------------------------------------------------------


def gql(client: AppClient, query: str, operation_name: str | None = None, **variables: Any) -> Any:
    payload: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name is not None:
        payload["operationName"] = operation_name
    response = client.post(
        "/graphql", content=_json(payload), headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code in {400, 413}
        return None
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or []:
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", body
        assert error["message"]
        assert error["message"] != "Unexpected error."
    return body


def refused_clearly(body: Any) -> bool:
    """A GraphQL answer that refuses: no data for the field, an error with a code."""
    return body is None or bool(body.get("errors"))


POST = "mutation ($t: String!) { postMessage(text: $t) { id text } }"
REGISTER = """mutation ($u: String!, $p: String!) {
  register(username: $u, email: "g@x.dk", password: $p, password2: $p) { username } }"""
USER = (
    "query ($u: String!) { user(username: $u) { username messages(first: 1) { nodes { text } } } }"
)
NEWEST = "{ publicTimeline(first: 1) { nodes { text author { username } } } }"


@pytest.mark.parametrize("payload", CORPUS, ids=lambda p: p.id)
def test_graphql_arguments_store_hostile_text_exactly_or_refuse_it_clearly(
    client: AppClient, payload: Payload
) -> None:
    text = payload.text
    signed_in = gql(
        client,
        "mutation ($p: String!) { login(username: $u, password: $p) { username } }".replace(
            "$u", json.dumps(AUTHOR)
        ),
        p=PASSWORD,
    )
    assert signed_in == {"data": {"login": {"username": AUTHOR}}}

    posted = gql(client, POST, t=text)
    if payload.must_store:
        assert posted is not None
        assert "errors" not in posted, posted
    if posted is not None and "errors" not in posted:
        assert posted["data"]["postMessage"]["text"] == text
        newest = gql(client, NEWEST)["data"]["publicTimeline"]["nodes"][0]
        assert newest == {"text": text, "author": {"username": AUTHOR}}
    else:
        assert refused_clearly(posted)

    registered = gql(client, REGISTER, u=text, p=text)
    if registered is not None and "errors" not in registered:
        assert registered["data"]["register"]["username"] == text
        assert gql(client, USER, u=text)["data"]["user"]["username"] == text
        followed = gql(
            client, "mutation ($u: String!) { follow(username: $u) { username } }", u=text
        )
        assert followed == {"data": {"follow": {"username": text}}}
        unfollowed = gql(
            client, "mutation ($u: String!) { unfollow(username: $u) { username } }", u=text
        )
        assert unfollowed == {"data": {"unfollow": {"username": text}}}
    else:
        assert refused_clearly(registered)
        found = gql(client, USER, u=text)
        assert found is None or found.get("errors") or found["data"]["user"] is None

    for document, variables in [
        ("mutation ($u: String!) { follow(username: $u) { username } }", {"u": text}),
        ("mutation ($u: String!) { unfollow(username: $u) { username } }", {"u": text}),
        ("mutation ($i: ID!) { flagMessage(id: $i) { id } }", {"i": text}),
        ("mutation ($i: ID!) { unflagMessage(id: $i) { id } }", {"i": text}),
        ("query ($a: String) { publicTimeline(after: $a) { nodes { id } } }", {"a": text}),
        ("query ($a: String) { homeTimeline(after: $a) { nodes { id } } }", {"a": text}),
        ("query ($a: String) { flaggedMessages(after: $a) { nodes { id } } }", {"a": text}),
        (
            'mutation ($e: String!) { register(username: "e", email: $e, password: "p",'
            ' password2: "p") { username } }',
            {"e": text},
        ),
        (
            'mutation ($p: String!) { register(username: "pw2", email: "e@x.dk",'
            ' password: "p", password2: $p) { username } }',
            {"p": text},
        ),
    ]:
        gql(client, document, **variables)
    literal = json.dumps(text)  # a GraphQL string literal: JSON's escapes are GraphQL's
    gql(client, f"{{ user(username: {literal}) {{ username }} }}")
    gql(client, f"mutation {{ postMessage(text: {literal}) {{ id }} }}")
    gql(client, "query Q { viewer { username } }", operation_name=text)

    signed_out = gql(client, "mutation { logout }")
    assert signed_out == {"data": {"logout": True}}
    gql(
        client,
        "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }",
        u=text,
        p=text,
    )
