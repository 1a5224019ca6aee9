"""Rate limits on sign-in and sign-up: counted in the database, per username and per client
address, answered with RATE_LIMITED and HTTP 429 + Retry-After; the simulator is never
throttled. On SQLite and PostgreSQL, in-process; across two server processes on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.models import RateCounter
from minitwit.resolvers import accounts, throttle
from minitwit.resolvers.errors import Invalid, TooManyRequests
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.asgi import AppClient
from tests.conftest import PostgresDatabases
from tests.factories import PASSWORD, Units, make_user
from tests.servers import ServerProcess

ORIGIN = "http://testserver"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
REGISTER = """mutation ($u: String!) {
  register(username: $u, email: "x@example.org", password: "pw", password2: "pw") { username }
}"""


def gql(client: AppClient | httpx.Client, query: str, **variables: str) -> httpx.Response:
    return client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"Content-Type": "application/json"},
    )


def outcome(response: httpx.Response) -> str:
    """ok, or the code of the one error."""
    body = response.json()
    if "errors" not in body:
        assert response.status_code == 200
        return "ok"
    [error] = body["errors"]
    return str(error["extensions"]["code"])


def assert_limited(response: httpx.Response, window: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert 1 <= retry_after <= window
    assert response.headers["retry-after"] == str(retry_after)
    assert error["message"].startswith("Too many")
    assert "try again in" in error["message"]
    error_: dict[str, Any] = error
    return error_


@pytest.fixture
def app(settings: Settings) -> Iterator[tuple[Settings, Database]]:
    db = Database(settings)
    make_user(db, "ann")
    make_user(db, "bob")
    yield settings, db
    db.dispose()


WINDOW_MARGIN_SECONDS = 15


def client_for(settings: Settings, db: Database, **limits: tuple[int, int]) -> AppClient:
    """A client for an app with these limits, made early in each limit's window: the windows
    are fixed (they start at multiples of their length), and a test's attempts must all fall
    in one, or the count starts again half-way."""
    for _, window in limits.values():
        left = window - time.time() % window
        if left < WINDOW_MARGIN_SECONDS:
            time.sleep(left + 0.05)
    return AppClient(create_app(settings.with_(**limits), db=db), headers={"Origin": ORIGIN})


def test_failed_sign_ins_per_username_are_limited_even_with_the_right_password_then(
    app: tuple[Settings, Database],
) -> None:
    settings, db = app
    with client_for(settings, db, sign_in_limit_per_username=(3, 900)) as client:
        for _ in range(3):
            assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
        assert_limited(gql(client, LOGIN, u="ann", p=PASSWORD), 900)
        assert_limited(gql(client, LOGIN, u="ann", p="wrong"), 900)
        # Another account from the same address is not locked by ann's.
        assert outcome(gql(client, LOGIN, u="bob", p=PASSWORD)) == "ok"
        metrics = client.get("/metrics").text
    assert 'minitwit_sign_ins_total{outcome="throttled"} 2.0' in metrics
    assert 'minitwit_sign_ins_total{outcome="failed"} 3.0' in metrics


def test_a_successful_sign_in_clears_the_usernames_failures(
    app: tuple[Settings, Database],
) -> None:
    settings, db = app
    with client_for(settings, db, sign_in_limit_per_username=(3, 900)) as client:
        assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
        assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
        assert outcome(gql(client, LOGIN, u="ann", p=PASSWORD)) == "ok"
        for _ in range(3):
            assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
        assert_limited(gql(client, LOGIN, u="ann", p="wrong"), 900)


def test_sign_ins_per_address_are_limited_whatever_the_usernames(
    app: tuple[Settings, Database],
) -> None:
    settings, db = app
    with client_for(settings, db, sign_in_limit_per_address=(4, 60)) as client:
        names = ["ann", "bob", "carol", "dave"]
        assert [outcome(gql(client, LOGIN, u=n, p="wrong")) for n in names] == [
            "BAD_USER_INPUT"
        ] * 4
        assert_limited(gql(client, LOGIN, u="eve", p="wrong"), 60)
        # A header the client writes does not make it another address.
        forged = client.post(
            "/graphql",
            content=json.dumps({"query": LOGIN, "variables": {"u": "ann", "p": PASSWORD}}),
            headers={"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"},
        )
        assert_limited(forged, 60)


def test_sign_ups_per_address_are_limited_and_the_simulator_never_is(
    app: tuple[Settings, Database],
) -> None:
    settings, db = app
    with client_for(settings, db, sign_up_limit_per_address=(2, 3600)) as client:
        assert outcome(gql(client, REGISTER, u="carol")) == "ok"
        assert outcome(gql(client, REGISTER, u="ann")) == "CONFLICT"  # asking counts too
        error = assert_limited(gql(client, REGISTER, u="dave"), 3600)
        assert error["message"].startswith("Too many sign-ups from this address; try again in")
        assert json.loads(gql(client, '{ user(username: "dave") { username } }').text) == {
            "data": {"user": None}
        }
        sim = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
        for n in range(6):
            body = {"username": f"sim{n}", "email": "s@example.org", "pwd": "p"}
            response = client.post(
                f"/register?latest={n}", content=json.dumps(body).encode(), headers=sim
            )
            assert response.status_code == 204, response.text


def test_limits_set_to_zero_are_off(app: tuple[Settings, Database]) -> None:
    settings, db = app
    off = {"sign_in_limit_per_username": (0, 900), "sign_in_limit_per_address": (0, 60)}
    with client_for(settings, db, **off) as client:
        for _ in range(25):
            assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
    with db.unit() as tx:
        assert tx.execute(select(func.count()).select_from(RateCounter)).scalar() == 0


def test_expired_counters_are_deleted_as_others_are_counted(
    app: tuple[Settings, Database],
) -> None:
    settings, db = app
    now = int(time.time())
    with db.unit(write=True) as tx:
        tx.write(
            (
                insert(RateCounter).values(
                    scope="sign_in_address",
                    key="0" * 64,
                    window_start=now - 120,
                    hits=99,
                    expires_at=now - 60,
                ),
                {},
            )
        )
    with client_for(settings, db) as client:
        assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
    with db.unit() as tx:
        rows = tx.execute(select(RateCounter.scope, RateCounter.key, RateCounter.hits)).all()
    assert {(scope, hits) for scope, _, hits in rows} == {
        ("sign_in_username", 1),
        ("sign_in_address", 1),
    }
    assert all(len(key) == 64 and key != "0" * 64 for _, key, _ in rows)
    assert not any("ann" in key or "127.0.0.1" in key for _, key, _ in rows)


@pytest.mark.postgres
def test_two_apps_on_one_database_share_the_limits(
    postgres: PostgresDatabases,
) -> None:
    url = postgres.fresh()
    settings = Settings(
        database_url=url,
        secret_key="a-test-secret",
        migrate_on_start=False,
        sign_in_limit_per_username=(4, 900),
    )
    one, two = Database(settings), Database(settings)
    try:
        make_user(one, "ann")
        with (
            AppClient(create_app(settings, db=one), headers={"Origin": ORIGIN}) as first,
            AppClient(create_app(settings, db=two), headers={"Origin": ORIGIN}) as second,
        ):
            for client in (first, second, first, second):
                assert outcome(gql(client, LOGIN, u="ann", p="wrong")) == "BAD_USER_INPUT"
            assert_limited(gql(first, LOGIN, u="ann", p=PASSWORD), 900)
            assert_limited(gql(second, LOGIN, u="ann", p=PASSWORD), 900)
    finally:
        one.dispose()
        two.dispose()
        postgres.drop(url)


@pytest.mark.postgres
def test_two_server_processes_share_the_limits_by_the_proxys_address(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    """Two real servers on one database, each believing X-Forwarded-For from the loopback
    proxy only (FORWARDED_ALLOW_IPS): the address is the one the proxy says it saw."""
    url = postgres.fresh()
    env = {
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "MINITWIT_SIGN_IN_LIMIT_PER_ADDRESS": "3/60",
        "MINITWIT_SIGN_IN_LIMIT_PER_USERNAME": "1000/900",
    }
    servers = [ServerProcess(url, tmp_path / f"server{n}.log", **env) for n in (1, 2)]
    try:
        for server in servers:
            server.start()
        clients = [s.client(headers={"Origin": s.url}) for s in servers]

        def attempt(n: int, address: str) -> httpx.Response:
            response = clients[n % 2].post(
                "/graphql",
                json={"query": LOGIN, "variables": {"u": "nobody", "p": "x"}},
                headers={"X-Forwarded-For": address},
            )
            return response

        for n in range(3):
            assert outcome(attempt(n, "198.51.100.7")) == "BAD_USER_INPUT"
        assert_limited(attempt(3, "198.51.100.7"), 60)
        assert_limited(attempt(4, "198.51.100.7"), 60)
        assert outcome(attempt(5, "198.51.100.8")) == "BAD_USER_INPUT"
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()
        postgres.drop(url)


def test_a_counter_left_from_another_window_starts_again_from_one(
    app: tuple[Settings, Database],
) -> None:
    """A counter of an older window that has not expired (the window setting was longer
    when it was stored) does not add to the new window's hits: they start again at one."""
    _, db = app
    now = int(time.time())
    limit = throttle.Limit(attempts=5, window=60)
    with db.unit(write=True) as tx:
        tx.write(
            (
                insert(RateCounter).values(
                    scope="sign_in_address",
                    key=throttle._digest("10.0.0.1"),
                    window_start=now - 86_400,
                    hits=99,
                    expires_at=now + 3600,
                ),
                {},
            )
        )
    with db.unit(write=True) as tx:
        throttle.count(tx, "Too many", ("sign_in_address", "10.0.0.1", limit))
    with db.unit(write=True) as tx:
        throttle.count(tx, "Too many", ("sign_in_address", "10.0.0.1", limit))
        rows = tx.execute(select(RateCounter.hits, RateCounter.window_start)).all()
    assert rows == [(2, now - now % 60)] or rows == [(1, now - now % 60 + 60)]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(1, "1 seconds"), (119, "119 seconds"), (120, "2 minutes"), (121, "3 minutes")],
)
def test_a_wait_is_said_in_seconds_under_two_minutes_else_in_minutes_rounded_up(
    seconds: int, said: str
) -> None:
    assert throttle._duration(seconds) == said


def test_failed_sign_ins_count_against_the_whole_username(app: tuple[Settings, Database]) -> None:
    """Two of the longest usernames that differ in their last character have a counter each."""
    _, db = app
    first, second = "a" * 63 + "x", "a" * 63 + "y"
    make_user(db, first)
    make_user(db, second)
    off = throttle.Limit(attempts=0, window=60)
    limits = throttle.Limits(
        sign_in_per_username=throttle.Limit(attempts=2, window=3600),
        sign_in_per_address=off,
        sign_up_per_address=off,
    )
    attempt = throttle.Attempt("10.0.0.1", limits)
    for _ in range(2):
        with pytest.raises(Invalid):
            accounts.sign_in(Units(db), username=first, password="wrong", attempt=attempt)
    with pytest.raises(TooManyRequests):
        accounts.sign_in(Units(db), username=first, password=PASSWORD, attempt=attempt)
    assert accounts.sign_in(Units(db), username=second, password=PASSWORD, attempt=attempt).id


def test_a_limit_of_one_attempt_refuses_the_second_until_its_window_ends(
    app: tuple[Settings, Database],
) -> None:
    _, db = app
    one = throttle.Limit(attempts=1, window=3600)
    with db.unit(write=True) as tx:
        throttle.count(tx, "Too many", (throttle.SIGN_UP_ADDRESS, "192.0.2.1", one))
    before = int(time.time())
    with db.unit(write=True) as tx, pytest.raises(TooManyRequests) as raised:
        throttle.count(tx, "Too many", (throttle.SIGN_UP_ADDRESS, "192.0.2.1", one))
    after = int(time.time())
    # The window is the clock's hour: what is left of it, as the clock read during the call.
    left = {3600 - now % 3600 for now in range(before, after + 1)}
    assert raised.value.retry_after in left


def test_a_username_no_database_could_store_is_counted_and_refused_like_any_unknown_one(
    app: tuple[Settings, Database],
) -> None:
    """A lone surrogate cannot be encoded as UTF-8: the counter's key is made of it anyway,
    and the answer is the unknown username's, not an internal error."""
    settings, db = app
    with client_for(settings, db, sign_in_limit_per_username=(2, 900)) as client:
        for _ in range(2):
            response = gql(client, LOGIN, u="ann\ud800", p="wrong")
            assert outcome(response) == "BAD_USER_INPUT"
            assert response.json()["errors"][0]["message"] == "Invalid username"
        assert_limited(gql(client, LOGIN, u="ann\ud800", p="wrong"), 900)
