"""minitwit.http.security: headers on every response, and cross-site requests refused where the
session cookie would act (in-process, through the whole application)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.http.security import (
    API_HEADERS,
    CONTENT_SECURITY_POLICY,
    CROSS_SITE_REFUSED,
    SECURITY_HEADERS,
    SameOriginGuard,
)
from minitwit.http.sessions import SESSION_COOKIE
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.asgi import AppClient
from tests.factories import PASSWORD, make_user
from tests.servers import TEST_SECRET, free_port

ORIGIN = "http://testserver"
SIM = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
POST = 'mutation { postMessage(text: "from elsewhere?") { id } }'
TIMELINE = "{ publicTimeline { nodes { text } } }"
JSON = {"Content-Type": "application/json"}
EXPECTED = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGES = ("/public", "/", "/nobody-by-that-name")  # the last: an unknown user's page


@pytest.fixture
def backend() -> str:
    """Middleware behaviour, the same on either backend: SQLite only, it is quicker."""
    return "sqlite"


@pytest.fixture
def app_db(settings: Settings) -> Iterator[tuple[AppClient, Database]]:
    db = Database(settings)
    make_user(db, "ann")
    app = create_app(settings, db=db)

    async def boom(request: Request) -> None:
        raise RuntimeError("a bug in a route")

    app.router.routes.insert(0, Route("/boom-for-test", boom))
    with AppClient(app) as client:
        yield client, db
    db.dispose()


def assert_secured(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], (response.request.url, name)


def gql(
    client: AppClient, query: str, headers: dict[str, str] | None = None, **variables: str
) -> httpx.Response:
    return client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def signed_in(client: AppClient) -> None:
    response = gql(client, LOGIN, {"Origin": ORIGIN}, u="ann", p=PASSWORD)
    assert response.json() == {"data": {"login": {"username": "ann"}}}
    assert SESSION_COOKIE in response.headers["set-cookie"]


def texts(client: AppClient) -> list[str]:
    body = gql(client, TIMELINE, {"Origin": ORIGIN}).json()
    return [node["text"] for node in body["data"]["publicTimeline"]["nodes"]]


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/graphql", b'{"query": "{ viewer { username } }"}', JSON, 200),
        ("GET", "/graphql?query={viewer{username}}", None, {}, 200),
        ("POST", "/graphql", b"not json", JSON, 400),
        ("GET", "/msgs", None, SIM, 200),
        ("GET", "/msgs", None, {}, 403),
        ("POST", "/msgs/ann", b'{"content": "hi"}', SIM, 204),
        ("POST", "/msgs/nobody", b'{"content": "hi"}', SIM, 404),
        ("DELETE", "/msgs", None, SIM, 405),
        ("POST", "/msgs/ann", b"x" * 70_000, SIM, 413),
        ("GET", "/latest", None, {}, 200),
        ("GET", "/openapi.json", None, {}, 200),
        ("GET", "/health/live", None, {}, 200),
        ("GET", "/health/ready", None, {}, 200),
        ("GET", "/metrics", None, {}, 200),
        ("GET", "/static/style.css", None, {}, 200),
        ("GET", "/static/no-such-file.css", None, {}, 404),
        ("GET", "/public", None, {}, 200),
        ("GET", "/nobody-by-that-name", None, {}, 404),
        ("GET", "/", None, {}, 302),
        ("GET", "/boom-for-test", None, {}, 500),
    ],
)
def test_every_kind_of_response_carries_the_security_headers(
    app_db: tuple[AppClient, Database],
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    client, _ = app_db
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert_secured(response)
    policy = CONTENT_SECURITY_POLICY if path in PAGES else API_POLICY
    assert response.headers.get_list("content-security-policy") == [policy]


@pytest.mark.parametrize("path", ["/public", "/login", "/graphql", "/nobody-by-that-name"])
def test_pages_keep_their_content_security_policy(
    app_db: tuple[AppClient, Database], path: str
) -> None:
    """The pages, GraphiQL and the styled 404, as a browser asks for them."""
    client, _ = app_db
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_api_policy_is_the_one_owasp_asks_for() -> None:
    assert API_HEADERS == ((b"content-security-policy", API_POLICY.encode()),)


def test_a_503_for_a_database_out_of_reach_carries_the_headers_too() -> None:
    settings = Settings(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    with AppClient(create_app(settings)) as client:
        response = client.get("/msgs", headers=SIM)
    assert response.status_code == 503
    assert_secured(response)
    assert response.headers["content-security-policy"] == API_POLICY


# --- cross-site requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "https://testserver"},  # another scheme is another origin
        {"Origin": "http://testserver:8080"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "Cross-Site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN},  # either mark is enough
        {"Sec-Fetch-Site": "same-site", "Origin": ORIGIN},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "none", "Origin": "http://evil.example"},
    ],
)
def test_a_mutation_with_the_cookie_from_elsewhere_is_refused_and_changes_nothing(
    app_db: tuple[AppClient, Database], headers: dict[str, str]
) -> None:
    client, _ = app_db
    signed_in(client)
    response = gql(client, POST, headers)
    assert response.status_code == 403
    error = {"message": CROSS_SITE_REFUSED, "extensions": {"code": "FORBIDDEN"}}
    assert response.json() == {"data": None, "errors": [error]}
    assert_secured(response)
    assert gql(client, "mutation { logout }", headers).status_code == 403
    assert texts(client) == []
    viewer = gql(client, "{ viewer { username } }", {"Origin": ORIGIN}).json()
    assert viewer == {"data": {"viewer": {"username": "ann"}}}, "the sign-in is still there"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ORIGIN},
        {"Origin": "HTTP://TestServer"},
        {"Origin": "http://testserver:80"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
        {},  # neither header: a script's (curl), which no page can make for a visitor
    ],
)
def test_a_mutation_with_the_cookie_from_our_own_origin_goes_through(
    app_db: tuple[AppClient, Database], headers: dict[str, str]
) -> None:
    client, _ = app_db
    signed_in(client)
    response = gql(client, POST, headers)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()
    assert texts(client) == ["from elsewhere?"]


def test_the_refusal_says_what_to_send() -> None:
    for words in ("Sec-Fetch-Site", "Origin", "neither"):
        assert words in CROSS_SITE_REFUSED


def test_a_script_without_either_header_signs_in_posts_and_signs_out(
    app_db: tuple[AppClient, Database],
) -> None:
    client, _ = app_db
    assert gql(client, LOGIN, u="ann", p=PASSWORD).json() == {
        "data": {"login": {"username": "ann"}}
    }
    assert "errors" not in gql(client, POST).json()
    assert gql(client, "mutation { logout }").json() == {"data": {"logout": True}}
    assert texts(client) == ["from elsewhere?"]


def test_reads_with_the_cookie_from_elsewhere_are_answered(
    app_db: tuple[AppClient, Database],
) -> None:
    """GET cannot mutate (GraphQL over GET runs queries only), so it needs no origin."""
    client, _ = app_db
    signed_in(client)
    response = client.get(
        "/graphql",
        params={"query": "{ viewer { username } }"},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.json() == {"data": {"viewer": {"username": "ann"}}}
    mutation = client.get("/graphql", params={"query": POST}, headers={"Origin": ORIGIN})
    assert mutation.status_code == 400
    assert texts(client) == []


def test_requests_without_the_cookie_are_not_affected(
    app_db: tuple[AppClient, Database],
) -> None:
    client, _ = app_db
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = client.post("/msgs/ann", content=b'{"content": "simulated"}', headers=SIM | evil)
    assert response.status_code == 204
    body = {"username": "bob", "email": "bob@example.org", "pwd": "p"}
    response = client.post("/register", content=json.dumps(body).encode(), headers=evil)
    assert response.status_code == 204
    anonymous = gql(client, POST, evil)
    assert anonymous.status_code == 200
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The login itself carries no cookie yet: a login form elsewhere only signs in its sender.
    assert gql(client, LOGIN, evil, u="ann", p=PASSWORD).status_code == 200
    assert texts(client) == ["simulated"]


def test_a_cookie_of_another_name_is_not_the_session() -> None:
    guard = SameOriginGuard(app=None, cookie=SESSION_COOKIE)  # type: ignore[arg-type]

    def scope(cookie: bytes) -> dict[str, object]:
        headers = [(b"host", b"example.org"), (b"origin", b"http://evil.example")]
        return {"scheme": "http", "headers": [*headers, (b"cookie", cookie)]}

    assert guard.same_origin(scope(b"other=1; x_minitwit_session=2"))
    assert not guard.same_origin(scope(b"other=1; minitwit_session=2"))
    assert not guard.same_origin(scope(b"minitwit_session=2"))


@pytest.mark.parametrize(
    ("scheme", "host", "origin", "same"),
    [
        ("https", b"minitwit.example", b"https://minitwit.example", True),
        ("https", b"minitwit.example:443", b"https://minitwit.example", True),
        ("http", b"minitwit.example", b"https://minitwit.example", False),
        ("http", b"127.0.0.1:8000", b"http://127.0.0.1:8000", True),
        ("http", b"127.0.0.1:8000", b"http://127.0.0.1:8001", False),
        ("http", b"[::1]:8000", b"http://[::1]:8000", True),
        ("http", b"[::1]:8000", b"http://[::2]:8000", False),
        ("http", b"minitwit.example", b"http://minitwit.example.evil", False),
        ("http", b"minitwit.example", b"http://minitwit.example\xff", False),
    ],
)
def test_origins_compare_scheme_host_and_port(
    scheme: str, host: bytes, origin: bytes, same: bool
) -> None:
    guard = SameOriginGuard(app=None, cookie=SESSION_COOKIE)  # type: ignore[arg-type]
    headers = [(b"host", host), (b"origin", origin), (b"cookie", b"minitwit_session=x")]
    assert guard.same_origin({"scheme": scheme, "headers": headers}) is same
