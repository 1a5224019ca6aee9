"""The simulator's endpoints.

Each request is parsed on the event loop; its database work runs in one worker-thread
transaction that calls the shared resolvers and, last of all, stores ``latest`` (so the row
lock on ``latest`` is held only for the commit). When the request is refused, before or during
that transaction, ``latest`` is stored in a small transaction of its own: the reference stores it
before anything can fail, and so does this layer, in effect.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, TypeVar

import anyio
from sqlalchemy.exc import IntegrityError
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from minitwit.db.database import Database, Tx
from minitwit.http.errors import encode, error_response
from minitwit.ops.logs import log_failure
from minitwit.resolvers import accounts, latest, messages, social, timelines
from minitwit.resolvers.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from minitwit.rest_compat import openapi, operations
from minitwit.rest_compat.parsing import (
    follow_action,
    parse_latest,
    parse_no,
    parse_object,
    text_field,
)
from minitwit.rest_compat.responses import json_bytes, json_response, no_content
from minitwit.settings import Settings

T = TypeVar("T")


class _AnyText(Convertor[str]):
    """Any characters, newlines too. Starlette's ``path`` is ``.*``, which stops at a newline
    and lets ``$`` match before one: ``/msgs/a%0Ab`` would miss the route, and ``/msgs/a%0A``
    would be read as user ``a``."""

    regex = "(?s:.*)"  # empty too: "/msgs/" is an unknown user, a JSON 404

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anytext", _AnyText())
Endpoint = Callable[[Request], Awaitable[Response]]

NOT_AUTHORIZED = "You are not authorized to use this resource!"
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def status_for(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    return 400


async def domain_error(request: Request, error: Exception) -> Response:
    """A resolver's refusal, as the reference's JSON error body (the app's exception handler
    for DomainError: GraphQL answers its own, so only this face's refusals get here)."""
    if not isinstance(error, DomainError):
        raise error
    return error_response(status_for(error), error.message)


def _dispatch(handlers: dict[str, Endpoint]) -> Endpoint:
    """One endpoint for every method, so an unsupported one gets a JSON 405 too."""
    if "GET" in handlers:
        handlers = {"HEAD": handlers["GET"], **handlers}
    allow = ", ".join(handlers)

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return error_response(405, "Method Not Allowed", headers={"Allow": allow})
        return await handler(request)

    return endpoint


def _message_list(items: Sequence[timelines.Brief]) -> bytes:
    return encode([{"content": text, "pub_date": date, "user": user} for text, date, user in items])


class SimulatorApi:
    """The endpoints, bound to one database and one set of settings."""

    def __init__(self, db: Database, settings: Settings, hashing: anyio.CapacityLimiter) -> None:
        self.db = db
        self.settings = settings
        self.hashing = hashing
        self.credential = settings.simulator_auth.encode("utf-8")
        self.openapi = encode(
            openapi.document(settings.rest_prefix, default_no=settings.rest_default_no)
        )

    # -- mechanics shared by every endpoint ------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        for name, value in request.scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self.credential)
        return False

    async def _store(self, received: int | None) -> None:
        if received is not None:
            await self.db.run_work(latest.set_latest, received, write=True)

    async def store_latest_of_refused(self, scope: Scope) -> None:
        """Store the ``latest`` of a request the app refused before routing (a body over the
        size limit): the reference stores it before anything can fail, and so do we."""
        path: str = scope["path"]
        prefix = self.settings.rest_prefix
        if not any(path.startswith(prefix + base) for base in ("/register", "/msgs", "/fllws")):
            return
        await self._store(parse_latest(QueryParams(scope.get("query_string", b""))))

    async def _refuse(self, received: int | None, error: DomainError) -> Response:
        await self._store(received)
        return error_response(status_for(error), error.message)

    async def _act(
        self, received: int | None, func: Callable[..., T], *args: Any, write: bool
    ) -> T:
        """``func(tx, *args)``, and the ``latest`` it came with stored by its write (or by a
        write of its own when ``func`` writes nothing): committed together, one round trip."""

        def work(tx: Tx) -> T:
            if received is not None:
                tx.also(latest.store(tx, received))
            return func(tx, *args)

        return await self._storing_latest_on_failure(
            received, self.db.run_work(work, write=write or received is not None)
        )

    async def _act_in_steps(
        self,
        received: int | None,
        func: Callable[..., T],
        action: latest.Action | None = None,
        **kwargs: Any,
    ) -> T:
        """``func(transactions, **kwargs)``, each write transaction storing ``latest`` (and
        recording ``action``) too."""
        transactions = _LatestOnCommit(self.db, received, action)
        return await self._storing_latest_on_failure(
            received, self.db.run(partial(func, transactions, **kwargs))
        )

    async def _act_once(self, action: latest.Action, func: Callable[..., None], *args: Any) -> None:
        """``func(tx, *args)``, a write, recorded as ``action`` in the same round trip, so a
        retry of it (same request, same ``latest``) after an ambiguous failure, such as a 503
        while the database restarted, does nothing and answers as the first did."""

        received = action.latest

        def work(tx: Tx) -> None:
            tx.also(latest.store(tx, received), *latest.claim(action))
            try:
                func(tx, *args)
            except DomainError:
                if tx.wrote:  # committed, action record and all, yet refused: forget it
                    latest.release(tx, action)
                raise

        try:
            await self._storing_latest_on_failure(received, self.db.run_work(work, write=True))
        except IntegrityError:
            # The unit was undone as a whole (latest stored again on its own). A replay, if
            # the record is there: in a fresh unit, so only a committed one counts.
            if not await self.db.run_work(latest.claimed, action):
                raise

    async def _storing_latest_on_failure(self, received: int | None, work: Awaitable[T]) -> T:
        try:
            return await work
        except DomainError:
            await self._store(received)
            raise
        except Exception:
            try:
                await self._store(received)
            except Exception as error:  # the request's own error is logged with its cause
                log_failure(
                    error, "while storing latest={value} of a failed request", value=received
                )
            raise

    # -- endpoints ---------------------------------------------------------------------------

    async def get_latest(self, request: Request) -> Response:
        value = await self.db.run_work(latest.get_latest)
        return json_response({"latest": value})

    async def register(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        body = await request.body()
        action = self._action(request, received, body)
        try:
            document = parse_object(body)
            username = text_field(document, "username")
            email = text_field(document, "email")
            password = text_field(document, "pwd")
        except Invalid as error:
            return await self._refuse(received, error)
        async with self.hashing:
            try:
                await self._act_in_steps(
                    received,
                    accounts.sign_up,
                    action,
                    username=username,
                    email=email,
                    password=password,
                )
            except Conflict:
                # Taken by this very request's first try (its commit's answer lost)?
                if action is None or not await self.db.run_work(latest.claimed, action):
                    raise
        return no_content()

    async def public_messages(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        if not self._authorized(request):
            return await self._refuse(received, Forbidden(NOT_AUTHORIZED))
        limit = self._limit(request)
        body = await self._act(received, _public_messages, limit, write=False)
        return json_bytes(body)

    async def user_messages(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        if not self._authorized(request):
            return await self._refuse(received, Forbidden(NOT_AUTHORIZED))
        username: str = request.path_params["username"]
        body = await self._act(
            received, _user_messages, username, self._limit(request), write=False
        )
        return json_bytes(body)

    async def post_message(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        if not self._authorized(request):
            return await self._refuse(received, Forbidden(NOT_AUTHORIZED))
        username: str = request.path_params["username"]
        body = await request.body()
        content: str | Invalid
        try:
            content = text_field(parse_object(body), "content")
        except Invalid as error:
            content = error
        arguments = (username, content, self.settings.max_message_length)
        action = self._action(request, received, body)
        if action is None:
            await self._act(received, _post_message, *arguments, write=True)
        else:
            await self._act_once(action, _post_message, *arguments)
        return no_content()

    async def follows(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        if not self._authorized(request):
            return await self._refuse(received, Forbidden(NOT_AUTHORIZED))
        username: str = request.path_params["username"]
        body = await self._act(received, _follows, username, self._limit(request), write=False)
        return json_bytes(body)

    async def change_follow(self, request: Request) -> Response:
        received = parse_latest(request.query_params)
        if not self._authorized(request):
            return await self._refuse(received, Forbidden(NOT_AUTHORIZED))
        username: str = request.path_params["username"]
        body = await request.body()
        change: tuple[bool, str] | Invalid
        try:
            change = follow_action(parse_object(body))
        except Invalid as error:
            change = error
        action = self._action(request, received, body)
        if action is None:
            await self._act(received, _change_follow, username, change, write=True)
        else:
            await self._act_once(action, _change_follow, username, change)
        return no_content()

    async def openapi_document(self, request: Request) -> Response:
        return json_bytes(self.openapi)

    @staticmethod
    def _action(request: Request, received: int | None, body: bytes) -> latest.Action | None:
        """The write as an idempotent action, when it carries a ``latest`` id to key it by."""
        return None if received is None else latest.Action.of(received, request.scope["path"], body)

    def _limit(self, request: Request) -> int:
        return parse_no(
            request.query_params,
            default=self.settings.rest_default_no,
            maximum=self.settings.rest_max_no,
        )

    def routes(self) -> list[BaseRoute]:
        """One route per path of the operations' table, built once at start-up."""
        prefix = self.settings.rest_prefix
        routes: list[BaseRoute] = []
        for path, path_operations in operations.paths().items():
            handlers: dict[str, Endpoint] = {
                operation.method: getattr(self, operation.handler)
                for operation in path_operations
                if operation.handler is not None
            }
            methods = list(ALL_METHODS)
            if path == "/register" and not prefix:
                # GET /register is the web client's sign-up page; leave GET and HEAD to it.
                methods = [m for m in methods if m not in ("GET", "HEAD")]
            template = path.replace(operations.USERNAME, "{username:anytext}")
            name = "sim_" + path_operations[0].operation_id
            routes.append(Route(prefix + template, _dispatch(handlers), methods=methods, name=name))
        return routes


# -- the work each endpoint does in its worker thread --------------------------------------


class _LatestOnCommit:
    """Transactions whose every write also stores the request's ``latest`` and records its
    ``action``, so an action and the id it came with commit together."""

    def __init__(self, db: Database, received: int | None, action: latest.Action | None) -> None:
        self.db = db
        self.received = received
        self.action = action

    def read(self) -> AbstractContextManager[Tx]:
        return self.db.unit()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.db.unit(write=True) as tx:
            if self.received is not None:
                tx.also(latest.store(tx, self.received))
            if self.action is not None:
                tx.also(*latest.claim(self.action))
            yield tx


def _public_messages(tx: Tx, limit: int) -> bytes:
    return _message_list(timelines.public_messages(tx, limit=limit))


def _user_messages(tx: Tx, username: str, limit: int) -> bytes:
    return _message_list(timelines.user_messages_by_name(tx, username=username, limit=limit))


def _post_message(tx: Tx, username: str, content: str | Invalid, max_length: int) -> None:
    if isinstance(content, Invalid):
        accounts.require_user(tx, username)
        raise content
    messages.post_message_as(
        tx, username=username, text=content, max_length=max_length, allow_empty=True
    )


def _follows(tx: Tx, username: str, limit: int) -> bytes:
    followed = social.following_by_name(tx, username=username, limit=limit)
    return encode({"follows": [user.username for user in followed]})


def _change_follow(tx: Tx, username: str, action: tuple[bool, str] | Invalid) -> None:
    if isinstance(action, Invalid):
        accounts.require_user(tx, username)
        raise action
    follow, whom_name = action
    # Following oneself: the reference stores the pair and answers 204, the simulator wants
    # 204; it changes nothing here (the home timeline has one's own messages anyway).
    change = social.follow_by_names if follow else social.unfollow_by_names
    change(tx, who_name=username, whom_name=whom_name)
