"""PostgreSQL's statement timeout on request work: a statement held up past it is a clear,
retryable error (never a 500), the pool keeps working, and migrations are exempt."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.db.errors import TIMED_OUT, is_timeout
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.asgi import AppClient
from tests.conftest import PostgresDatabases
from tests.factories import PASSWORD, make_user
from tests.servers import TEST_SECRET

pytestmark = pytest.mark.postgres

SIM = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
ORIGIN = {"Origin": "http://testserver", "Content-Type": "application/json"}
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


@pytest.fixture
def app_db(pg_url: str) -> Iterator[tuple[AppClient, Database]]:
    settings = Settings(
        database_url=pg_url,
        secret_key=TEST_SECRET,
        migrate_on_start=False,
        db_statement_timeout=0.3,
    )
    db = Database(settings)
    make_user(db, "ann")
    with AppClient(create_app(settings, db=db)) as client:
        yield client, db
    db.dispose()


@pytest.fixture
def ann_locked(pg_url: str) -> Iterator[psycopg2.extensions.connection]:
    """Another client holds ann's row (FOR UPDATE): writes that need it wait for it."""
    holder = psycopg2.connect(pg_url)
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM users WHERE username = 'ann' FOR UPDATE")
    yield holder
    holder.rollback()
    holder.close()


def gql(client: AppClient, query: str, **variables: str) -> dict[str, object]:
    body = json.dumps({"query": query, "variables": variables})
    response = client.post("/graphql", content=body, headers=ORIGIN)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_a_rest_write_held_up_past_the_timeout_is_a_clear_503_and_the_pool_recovers(
    app_db: tuple[AppClient, Database], ann_locked: psycopg2.extensions.connection
) -> None:
    client, db = app_db
    response = client.post("/msgs/ann?latest=7", content=b'{"content": "held up"}', headers=SIM)
    assert response.status_code == 503, response.text
    assert response.json() == {"error_msg": TIMED_OUT, "status": 503}
    assert response.headers["retry-after"] == "1"
    ann_locked.rollback()

    for n in range(db.settings.db_pool_size + 2):  # every pooled connection, and then some
        response = client.post(
            f"/msgs/ann?latest={10 + n}", content=f'{{"content": "m{n}"}}', headers=SIM
        )
        assert response.status_code == 204, response.text
    texts = [m["content"] for m in client.get("/msgs/ann", headers=SIM).json()]
    assert "held up" not in texts
    assert len(texts) == db.settings.db_pool_size + 2
    assert db.checked_out() == 0


def test_a_graphql_mutation_held_up_past_the_timeout_says_timeout(
    app_db: tuple[AppClient, Database], pg_url: str
) -> None:
    client, _ = app_db
    assert gql(client, LOGIN, u="ann", p=PASSWORD) == {"data": {"login": {"username": "ann"}}}
    holder = psycopg2.connect(pg_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM users WHERE username = 'ann' FOR UPDATE")
        body = gql(client, 'mutation { postMessage(text: "held up") { id } }')
    finally:
        holder.rollback()
        holder.close()
    assert body["data"] is None
    [error] = body["errors"]  # type: ignore[misc]
    assert (error["message"], error["extensions"]["code"]) == (TIMED_OUT, "TIMEOUT")
    body = gql(client, 'mutation { postMessage(text: "after") { text } }')
    assert body == {"data": {"postMessage": {"text": "after"}}}
    body = gql(client, "{ publicTimeline { nodes { text } } }")
    assert body == {"data": {"publicTimeline": {"nodes": [{"text": "after"}]}}}


def test_request_connections_have_the_timeouts_and_the_command_line_has_none(
    pg_url: str,
) -> None:
    settings = Settings(
        database_url=pg_url, db_statement_timeout=0.25, db_idle_in_transaction_timeout=2
    )
    request, command_line = Database(settings), Database(settings, request_timeouts=False)
    try:
        with request.unit() as tx:
            assert tx.execute(text("SHOW statement_timeout")).scalar() == "250ms"
            assert tx.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "2s"
            with pytest.raises(sa_exc.OperationalError) as raised:
                tx.execute(text("SELECT pg_sleep(1)"))
            assert is_timeout(raised.value)
        with command_line.unit() as tx:
            assert tx.execute(text("SHOW statement_timeout")).scalar() == "0"
            tx.execute(text("SELECT pg_sleep(0.3)"))
    finally:
        request.dispose()
        command_line.dispose()


def test_a_migration_waits_for_another_replicas_lock_longer_than_the_statement_timeout(
    postgres: PostgresDatabases,
) -> None:
    """Replicas that start at once queue on the migration lock: the waiting one is not
    cancelled by the request engine's timeout, and its connection gets the timeout back."""
    url = postgres.fresh(migrated=False)
    settings = Settings(database_url=url, db_statement_timeout=0.2)
    db = Database(settings)
    holder = psycopg2.connect(url)
    holder.autocommit = True
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (migrate.ADVISORY_LOCK_KEY,))
        with ThreadPoolExecutor(max_workers=1) as pool:
            upgrading = pool.submit(migrate.upgrade, db.engine)
            _wait_until_waiting_longer_than(holder, seconds=0.6)
            with holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (migrate.ADVISORY_LOCK_KEY,))
            upgrading.result(timeout=60)
        assert migrate.current_revision(db.engine) == migrate.head_revision()
        with db.unit() as tx:
            assert tx.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            with pytest.raises(sa_exc.OperationalError):
                tx.execute(text("SELECT pg_sleep(1)"))
    finally:
        holder.close()
        db.dispose()
        postgres.drop(url)


def _wait_until_waiting_longer_than(
    connection: psycopg2.extensions.connection, seconds: float
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event = 'advisory' AND now() - query_start > %s * interval '1 second'",
                (seconds,),
            )
            row = cursor.fetchone()
        if row is not None and row[0] == 1:
            return
        time.sleep(0.05)
    raise AssertionError("the migration never waited for the lock")
