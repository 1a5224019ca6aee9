"""The REST ceiling: the simulator's endpoints as a lean Starlette + psycopg2 service.

What a competent engineer writes when the only goal is to serve the simulator's contract well:
MiniTwit's own schema (migrated by ``minitwit db upgrade``), a pool of ``POOL_SIZE`` psycopg2
connections in autocommit mode, each request's database work in one worker thread (anyio's
thread pool, limited to the pool size so a thread always finds a free connection), one SQL
statement per request (data-modifying CTEs store ``latest`` in the same statement as the
action, so the action and its id commit together in one round trip), argon2id with MiniTwit's
parameters hashed in a thread of its own while no connection is held. No ORM, no GraphQL, no
middleware, no logging per request.

Status codes and error texts are the contract's (and MiniTwit's) for every input the
simulator sends; bad bodies are 400s with the reference's JSON error shape.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db POOL_SIZE=10 \\
        uvicorn bench.ceiling_rest:create_app --factory --port 8001
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import psycopg2
import psycopg2.pool
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

T = TypeVar("T")

SIMULATOR_AUTH = b"Basic c2ltdWxhdG9yOnN1cGVyX3NhZmUh"
NOT_AUTHORIZED = "You are not authorized to use this resource!"
USERNAME_TAKEN = "The username is already taken"
DEFAULT_NO = 100
MAX_NO = 10_000
USERNAME_MAX = 64
EMAIL_MAX = 254
INT64 = 2**63
# MiniTwit's parameters (minitwit/passwords.py) and its default hashing concurrency.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
HASH_CONCURRENCY = 2

MESSAGES = """
SELECT m.text, m.pub_date, u.username
FROM messages m JOIN users u ON u.id = m.author_id
WHERE NOT m.flagged
ORDER BY m.pub_date DESC, m.id DESC
LIMIT %s
"""
USER_MESSAGES = """
SELECT u.username, m.text, m.pub_date
FROM users u LEFT JOIN LATERAL (
    SELECT id, text, pub_date FROM messages
    WHERE author_id = u.id AND NOT flagged
    ORDER BY pub_date DESC, id DESC
    LIMIT %s
) m ON true
WHERE u.username = %s
ORDER BY m.pub_date DESC, m.id DESC
"""
FOLLOWS = """
SELECT u.id, f.username
FROM users u LEFT JOIN LATERAL (
    SELECT w.username, f.followed_at, f.whom_id
    FROM followers f JOIN users w ON w.id = f.whom_id
    WHERE f.who_id = u.id
    ORDER BY f.followed_at, f.whom_id
    LIMIT %s
) f ON true
WHERE u.username = %s
ORDER BY f.followed_at, f.whom_id
"""
# ``latest`` rides along as a data-modifying CTE: it is stored even when the action finds no
# user (the reference stores it before anything can fail), in the action's own transaction.
# A NULL value (no ``latest`` sent) leaves the row alone.
REGISTER = """
WITH latest_stored AS (
    UPDATE latest SET value = %(latest)s WHERE id = 1 AND %(latest)s IS NOT NULL
)
INSERT INTO users (username, email, pw_hash, is_moderator, created_at)
VALUES (%(username)s, %(email)s, %(pw_hash)s, false, %(now)s)
ON CONFLICT (username) DO NOTHING
RETURNING id
"""
POST_MESSAGE = """
WITH latest_stored AS (
    UPDATE latest SET value = %(latest)s WHERE id = 1 AND %(latest)s IS NOT NULL
),
author AS (SELECT id FROM users WHERE username = %(username)s)
INSERT INTO messages (author_id, text, pub_date, flagged)
SELECT id, %(content)s, %(now)s, false FROM author
RETURNING id
"""
FOLLOW = """
WITH latest_stored AS (
    UPDATE latest SET value = %(latest)s WHERE id = 1 AND %(latest)s IS NOT NULL
),
who AS (SELECT id FROM users WHERE username = %(username)s),
whom AS (SELECT id FROM users WHERE username = %(other)s),
changed AS (
    INSERT INTO followers (who_id, whom_id, followed_at)
    SELECT who.id, whom.id, %(now)s FROM who, whom WHERE who.id <> whom.id
    ON CONFLICT DO NOTHING
)
SELECT (SELECT id FROM who), (SELECT id FROM whom)
"""
UNFOLLOW = """
WITH latest_stored AS (
    UPDATE latest SET value = %(latest)s WHERE id = 1 AND %(latest)s IS NOT NULL
),
who AS (SELECT id FROM users WHERE username = %(username)s),
whom AS (SELECT id FROM users WHERE username = %(other)s),
changed AS (
    DELETE FROM followers USING who, whom
    WHERE followers.who_id = who.id AND followers.whom_id = whom.id
)
SELECT (SELECT id FROM who), (SELECT id FROM whom)
"""
STORE_LATEST = "UPDATE latest SET value = %s WHERE id = 1"
GET_LATEST = "SELECT value FROM latest WHERE id = 1"


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encode(content: Any) -> bytes:
    """Flask's ``jsonify`` bytes, as MiniTwit writes them."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def error(status: int, message: str) -> Response:
    body = encode({"status": status, "error_msg": message})
    return Response(body, status_code=status, media_type="application/json")


def storable(text: str) -> bool:
    """PostgreSQL text takes neither NUL nor lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_latest(request: Request) -> int | None:
    raw = request.query_params.get("latest")
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    if value is None or value == -1 or not -INT64 <= value < INT64:
        return None
    return value


def parse_no(request: Request) -> int:
    raw = request.query_params.get("no")
    try:
        value = int(raw) if raw is not None else DEFAULT_NO
    except ValueError:
        value = MAX_NO if (raw or "").strip().removeprefix("+").isdecimal() else DEFAULT_NO
    return min(DEFAULT_NO if value < 0 else value, MAX_NO)


def body_object(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused(400, "The request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise Refused(400, "The request body must be a JSON object")
    return document


def text_field(document: dict[str, Any], key: str) -> str:
    if key not in document:
        raise Refused(400, f"The request body has no '{key}' key")
    value = document[key]
    if not isinstance(value, str):
        raise Refused(400, f"'{key}' must be a string")
    return value


def no_user(username: str) -> Refused:
    return Refused(404, f"There is no user {username!r}")


class Ceiling:
    def __init__(self, database_url: str, pool_size: int) -> None:
        self.database_url = database_url
        self.pool_size = pool_size
        self.pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self.db_threads = anyio.CapacityLimiter(pool_size)
        self.hash_threads = anyio.CapacityLimiter(HASH_CONCURRENCY)

    def open(self) -> None:
        # minconn = maxconn: a psycopg2 pool closes connections above minconn on return.
        self.pool = psycopg2.pool.ThreadedConnectionPool(
            self.pool_size, self.pool_size, self.database_url, application_name="ceiling_rest"
        )
        for connection in [self.pool.getconn() for _ in range(self.pool_size)]:
            connection.autocommit = True  # one statement, one transaction, one round trip
            self.pool.putconn(connection)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.closeall()

    def _execute(self, statement: str, params: Any, fetch: str) -> Any:
        assert self.pool is not None
        connection = self.pool.getconn()
        if not connection.autocommit:  # a replacement for a connection that broke
            connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                if fetch == "all":
                    return cursor.fetchall()
                if fetch == "one":
                    return cursor.fetchone()
                return None
        finally:
            # A broken connection is closed; the pool opens a new one on the next getconn.
            self.pool.putconn(connection, close=connection.closed != 0)

    async def db(self, statement: str, params: Any = None, fetch: str = "none") -> Any:
        return await anyio.to_thread.run_sync(
            self._execute, statement, params, fetch, limiter=self.db_threads
        )

    async def store_latest(self, latest: int | None) -> None:
        if latest is not None:
            await self.db(STORE_LATEST, (latest,))

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(self.open)
        try:
            yield
        finally:
            self.close()

    def routes(self) -> list[Route]:
        every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/latest", _methods(GET=self.get_latest), methods=every),
            Route("/register", _methods(POST=self.register), methods=every),
            Route("/msgs", _methods(GET=self.messages), methods=every),
            Route(
                "/msgs/{username:path}",
                _methods(GET=self.user_messages, POST=self.post_message),
                methods=every,
            ),
            Route(
                "/fllws/{username:path}",
                _methods(GET=self.follows, POST=self.change_follow),
                methods=every,
            ),
        ]

    # -- endpoints ------------------------------------------------------------------------

    async def get_latest(self, request: Request) -> Response:
        row = await self.db(GET_LATEST, fetch="one")
        return json_response({"latest": -1 if row is None else row[0]})

    async def register(self, request: Request) -> Response:
        latest = parse_latest(request)
        try:
            document = body_object(await request.body())
            username = text_field(document, "username")
            email = text_field(document, "email")
            password = text_field(document, "pwd")
            if not username:
                raise Refused(400, "You have to enter a username")
            if not email or "@" not in email or len(email) > EMAIL_MAX or not storable(email):
                raise Refused(400, "You have to enter a valid email address")
            if not password:
                raise Refused(400, "You have to enter a password")
            if len(username) > USERNAME_MAX or not storable(username) or "/" in username:
                raise Refused(400, "The username may not contain '/' or control characters")
            if len(password) > 1024 or not storable(password):
                raise Refused(400, "The password cannot be stored")
        except Refused as refused:
            await self.store_latest(latest)
            return error(refused.status, refused.message)
        # Hashed before the look-up, so a taken name costs the same time as a free one.
        pw_hash = await anyio.to_thread.run_sync(HASHER.hash, password, limiter=self.hash_threads)
        params = {
            "latest": latest,
            "username": username,
            "email": email,
            "pw_hash": pw_hash,
            "now": int(time.time()),
        }
        if await self.db(REGISTER, params, fetch="one") is None:
            return error(400, USERNAME_TAKEN)
        return Response(status_code=204)

    async def messages(self, request: Request) -> Response:
        await self.store_latest(parse_latest(request))
        if not authorized(request):
            return error(403, NOT_AUTHORIZED)
        rows = await self.db(MESSAGES, (parse_no(request),), fetch="all")
        items = [{"content": text, "pub_date": pub, "user": user} for text, pub, user in rows]
        return json_bytes(encode(items))

    async def user_messages(self, request: Request) -> Response:
        await self.store_latest(parse_latest(request))
        if not authorized(request):
            return error(403, NOT_AUTHORIZED)
        username: str = request.path_params["username"]
        rows = []
        if username and len(username) <= USERNAME_MAX and storable(username):
            rows = await self.db(USER_MESSAGES, (parse_no(request), username), fetch="all")
        if not rows:
            return error(404, no_user(username).message)
        items = [
            {"content": text, "pub_date": pub, "user": user}
            for user, text, pub in rows
            if text is not None
        ]
        return json_bytes(encode(items))

    async def post_message(self, request: Request) -> Response:
        latest = parse_latest(request)
        if not authorized(request):
            await self.store_latest(latest)
            return error(403, NOT_AUTHORIZED)
        username: str = request.path_params["username"]
        try:
            content = text_field(body_object(await request.body()), "content")
            if not storable(content):
                raise Refused(400, "The message contains characters that cannot be stored")
            if not (username and len(username) <= USERNAME_MAX and storable(username)):
                raise no_user(username)
        except Refused as refused:
            await self.store_latest(latest)
            return error(refused.status, refused.message)
        params = {"latest": latest, "username": username, "content": content, "now": now()}
        if await self.db(POST_MESSAGE, params, fetch="one") is None:
            return error(404, no_user(username).message)
        return Response(status_code=204)

    async def follows(self, request: Request) -> Response:
        await self.store_latest(parse_latest(request))
        if not authorized(request):
            return error(403, NOT_AUTHORIZED)
        username: str = request.path_params["username"]
        rows = []
        if username and len(username) <= USERNAME_MAX and storable(username):
            rows = await self.db(FOLLOWS, (parse_no(request), username), fetch="all")
        if not rows:
            return error(404, no_user(username).message)
        return json_bytes(encode({"follows": [name for _, name in rows if name is not None]}))

    async def change_follow(self, request: Request) -> Response:
        latest = parse_latest(request)
        if not authorized(request):
            await self.store_latest(latest)
            return error(403, NOT_AUTHORIZED)
        username: str = request.path_params["username"]
        try:
            document = body_object(await request.body())
            if "follow" in document:
                statement, other = FOLLOW, text_field(document, "follow")
            elif "unfollow" in document:
                statement, other = UNFOLLOW, text_field(document, "unfollow")
            else:
                raise Refused(400, "The request body needs a 'follow' or an 'unfollow' key")
            for name in (username, other):
                if not (name and len(name) <= USERNAME_MAX and storable(name)):
                    raise no_user(name)
        except Refused as refused:
            await self.store_latest(latest)
            return error(refused.status, refused.message)
        params = {"latest": latest, "username": username, "other": other, "now": now()}
        who, whom = await self.db(statement, params, fetch="one")
        if who is None:
            return error(404, no_user(username).message)
        if whom is None:
            return error(404, no_user(other).message)
        return Response(status_code=204)


def now() -> int:
    return int(time.time())


def authorized(request: Request) -> bool:
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            return hmac.compare_digest(value, SIMULATOR_AUTH)
    return False


def json_bytes(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def json_response(content: Any) -> Response:
    return json_bytes(encode(content))


def _methods(**handlers: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """One endpoint per path that dispatches on the method (a JSON 405 otherwise)."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return error(405, "Method Not Allowed")
        response: Response = await handler(request)
        return response

    return endpoint


def create_app() -> Starlette:
    ceiling = Ceiling(os.environ["DATABASE_URL"], int(os.environ.get("POOL_SIZE", "10")))
    return Starlette(routes=ceiling.routes(), lifespan=ceiling.lifespan)
