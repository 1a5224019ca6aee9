"""Simulator writes keyed by ``latest``: a retry of the same request with the same id (after a
503 whose commit may or may not have happened) does nothing the second time and answers as the
first did; another request that reuses an id is not mistaken for a retry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg2
import pytest
from sqlalchemy import event, func, select

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.models import SimulatorAction
from minitwit.resolvers import latest
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.asgi import AppClient
from tests.conftest import (
    LiveServer,
    PostgresDatabases,
    backends_waiting_for_a_lock,
    pg_admin,
)
from tests.factories import make_user
from tests.servers import TEST_SECRET

SIM = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}


@pytest.fixture
def app_db(settings: Settings) -> Iterator[tuple[AppClient, Database]]:
    db = Database(settings)
    make_user(db, "ann")
    make_user(db, "bob")
    with AppClient(create_app(settings, db=db)) as client:
        yield client, db
    db.dispose()


def post(client: AppClient | httpx.Client, path: str, body: Any, latest_id: int) -> int:
    response = client.post(
        f"{path}?latest={latest_id}", content=json.dumps(body).encode(), headers=SIM
    )
    status: int = response.status_code
    return status


def messages(client: AppClient | httpx.Client, username: str) -> list[str]:
    return [m["content"] for m in client.get(f"/msgs/{username}", headers=SIM).json()]


def follows(client: AppClient | httpx.Client, username: str) -> list[str]:
    follows: list[str] = client.get(f"/fllws/{username}", headers=SIM).json()["follows"]
    return follows


def test_a_retried_message_is_posted_once(app_db: tuple[AppClient, Database]) -> None:
    client, _ = app_db
    for _ in range(3):
        assert post(client, "/msgs/ann", {"content": "once"}, 5) == 204
    assert messages(client, "ann") == ["once"]
    assert client.get("/latest").json() == {"latest": 5}
    assert post(client, "/msgs/ann", {"content": "twice"}, 6) == 204
    assert post(client, "/msgs/ann", {"content": "twice"}, 7) == 204  # a new id: a new message
    assert messages(client, "ann") == ["twice", "twice", "once"]
    assert post(client, "/msgs/ann", {"content": "once"}, 5) == 204  # an old retry, late
    assert client.get("/latest").json() == {"latest": 5}
    assert messages(client, "ann") == ["twice", "twice", "once"]


def test_another_request_with_a_used_id_is_not_taken_for_a_retry(
    app_db: tuple[AppClient, Database],
) -> None:
    client, _ = app_db
    assert post(client, "/msgs/ann", {"content": "first"}, 9) == 204
    assert post(client, "/msgs/ann", {"content": "second"}, 9) == 204
    assert post(client, "/msgs/bob", {"content": "first"}, 9) == 204
    assert messages(client, "ann") == ["second", "first"]
    assert messages(client, "bob") == ["first"]


def test_a_retried_follow_does_not_undo_a_later_unfollow(
    app_db: tuple[AppClient, Database],
) -> None:
    client, _ = app_db
    assert post(client, "/fllws/ann", {"follow": "bob"}, 20) == 204
    assert post(client, "/fllws/ann", {"unfollow": "bob"}, 21) == 204
    assert post(client, "/fllws/ann", {"follow": "bob"}, 20) == 204  # the first, retried late
    assert follows(client, "ann") == []
    assert post(client, "/fllws/ann", {"follow": "bob"}, 22) == 204
    assert follows(client, "ann") == ["bob"]


def test_a_retried_sign_up_succeeds_and_a_real_clash_is_still_refused(
    app_db: tuple[AppClient, Database],
) -> None:
    client, _ = app_db
    carol = {"username": "carol", "email": "c@example.org", "pwd": "p"}
    assert post(client, "/register", carol, 30) == 204
    assert post(client, "/register", carol, 30) == 204
    assert post(client, "/register", carol, 31) == 400  # a new id: the name is taken
    other = {"username": "carol", "email": "other@example.org", "pwd": "q"}
    assert post(client, "/register", other, 30) == 400  # a used id, another request
    assert post(client, "/msgs/carol", {"content": "I exist"}, 32) == 204


def test_a_refused_write_is_refused_again_when_retried(
    app_db: tuple[AppClient, Database],
) -> None:
    """Nothing is recorded for a write that was refused, so its retry gets the same answer,
    and does the write once the reason is gone."""
    client, _ = app_db
    assert post(client, "/msgs/nobody", {"content": "hello"}, 40) == 404
    assert post(client, "/msgs/nobody", {"content": "hello"}, 40) == 404
    assert post(client, "/fllws/ann", {"follow": "nobody"}, 41) == 404
    assert post(client, "/fllws/ann", {"follow": "nobody"}, 41) == 404
    dave = {"username": "nobody", "email": "n@example.org", "pwd": "p"}
    assert post(client, "/register", dave, 42) == 204
    assert post(client, "/msgs/nobody", {"content": "hello"}, 40) == 204
    assert post(client, "/fllws/ann", {"follow": "nobody"}, 41) == 204
    assert messages(client, "nobody") == ["hello"]
    assert follows(client, "ann") == ["nobody"]


def test_old_action_records_are_pruned(app_db: tuple[AppClient, Database]) -> None:
    client, db = app_db
    old = int(time.time()) - latest.ACTION_RETENTION_SECONDS - 10
    with db.unit(write=True) as tx:
        tx.write(
            *(
                (latest._CLAIM, {"latest": n, "digest": n, "now": old})  # private, on purpose
                for n in range(1000, 1005)
            )
        )
    latest._next_prune = 0.0
    assert post(client, "/msgs/ann", {"content": "hi"}, 50) == 204
    with db.unit() as tx:
        kept = tx.execute(select(SimulatorAction.latest)).scalars().all()
    assert kept == [50]


@pytest.mark.postgres
def test_an_idempotent_write_is_still_one_round_trip(postgres: PostgresDatabases) -> None:
    url = postgres.fresh()
    settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
    db = Database(settings)
    statements: list[str] = []
    try:
        make_user(db, "ann")
        make_user(db, "bob")
        with AppClient(create_app(settings, db=db)) as client:
            event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            latest._next_prune = 0.0
            assert post(client, "/msgs/ann", {"content": "hi"}, 1) == 204
            assert post(client, "/fllws/ann", {"follow": "bob"}, 2) == 204
            assert len(statements) == 2, statements
            assert "simulator_actions" in statements[0]
            assert "DELETE FROM simulator_actions" in statements[0]
            assert "DELETE FROM simulator_actions" not in statements[1]
            statements.clear()
            assert post(client, "/msgs/ann", {"content": "hi"}, 1) == 204  # the retry
            assert len(statements) <= 3, statements
    finally:
        db.dispose()
        postgres.drop(url)


@pytest.mark.postgres
def test_identical_requests_at_once_write_once(postgres: PostgresDatabases) -> None:
    url = postgres.fresh()
    settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
    try:
        with LiveServer(create_app(settings)) as live:
            make_user(live.db, "ann")
            with ThreadPoolExecutor(max_workers=8) as pool, httpx.Client(base_url=live.url) as c:
                statuses = list(
                    pool.map(lambda _: post(c, "/msgs/ann", {"content": "x"}, 60), range(16))
                )
                assert statuses == [204] * 16
                assert messages(c, "ann") == ["x"]
    finally:
        postgres.drop(url)


@pytest.mark.postgres
def test_a_write_cut_by_a_restart_is_retried_into_exactly_one(
    postgres: PostgresDatabases,
) -> None:
    """What a database restart does to a write in flight: its connection is terminated while
    the write waits (here, for a lock), so it is a 503 and the client cannot know whether it
    committed. The simulator retries with the same latest: the write happens once, and a
    further retry (say, after a lost answer) changes nothing."""
    url = postgres.fresh()
    database = url.rsplit("/", 1)[1]
    settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
    try:
        with LiveServer(create_app(settings)) as live, httpx.Client(base_url=live.url) as c:
            make_user(live.db, "ann")
            holder = psycopg2.connect(url)
            try:
                with holder.cursor() as cursor:
                    cursor.execute("SELECT id FROM users WHERE username = 'ann' FOR UPDATE")
                with ThreadPoolExecutor(max_workers=1) as pool:
                    pending = pool.submit(post, c, "/msgs/ann", {"content": "cut"}, 70)
                    waiting = backends_waiting_for_a_lock(database)
                    assert len(waiting) == 1
                    pg_admin(f"SELECT pg_terminate_backend({waiting[0]})")
                    holder.rollback()
                    assert pending.result(timeout=30) == 503
            finally:
                holder.close()
            assert post(c, "/msgs/ann", {"content": "cut"}, 70) == 204
            assert post(c, "/msgs/ann", {"content": "cut"}, 70) == 204
            assert messages(c, "ann") == ["cut"]
            with live.db.unit() as tx:
                count = select(func.count()).select_from(SimulatorAction)
                assert tx.execute(count).scalar() == 1
    finally:
        postgres.drop(url)
