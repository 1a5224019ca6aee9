"""What every GraphQL resolver receives: the request, the database and the viewer.

Execution runs in one worker thread per request (see ``execution``). The context holds at most
one database connection at a time, so a request never needs two pooled connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from starlette.requests import HTTPConnection

from minitwit.db.database import Database, Tx
from minitwit.http.sessions import SESSION_KEY
from minitwit.models import User
from minitwit.resolvers import sign_ins, social, throttle
from minitwit.resolvers.errors import Forbidden, Unauthenticated
from minitwit.settings import Settings

_UNSET: Any = object()
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Context:
    request: HTTPConnection  # a Request; a WebSocket for a subscription (``LiveContext``)
    db: Database
    settings: Settings
    _tx: Tx | None = field(default=None, init=False)
    _unit: ExitStack = field(default_factory=ExitStack, init=False)
    _viewer: User | None = field(default=_UNSET, init=False)
    _following_ids: set[int] | None = field(default=None, init=False)

    def query(self, func: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(tx, ...)`` on the request's read connection, taken on first use and given
        back when the request ends. A database error gives it back, so the fields resolved
        after a failed one (a connection cut by a restart) start afresh instead of inheriting a
        connection that can only fail; a read that found its connection dead is tried once
        more on a new one."""
        for attempt in (1, 2):
            if self._tx is None:
                self._tx = self._unit.enter_context(self.db.unit())
            try:
                return func(self._tx, *args, **kwargs)
            except DBAPIError as error:
                self.close(error)
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A short unit of its own, for steps that must not hold a connection (hashing)."""
        self.close()
        with self.db.unit() as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A unit of work that writes, committed when the block ends; for mutations."""
        self.close()
        with self.db.unit(write=True) as tx:
            yield tx
        self._following_ids = None

    def close(self, error: BaseException | None = None) -> None:
        """Give the read connection back (rolled back when ``error`` ended its use)."""
        if self._tx is not None:
            self._tx = None
            if error is None:
                self._unit.close()
            else:
                self._unit.__exit__(type(error), error, error.__traceback__)

    @property
    def viewer(self) -> User | None:
        """The signed-in user, or None."""
        if self._viewer is _UNSET:
            token = self.request.session.get(SESSION_KEY)
            user = self.query(sign_ins.user_for, token) if isinstance(token, str) else None
            if user is None and token is not None:
                self.request.session.clear()
            self._viewer = user
        return self._viewer

    def attempt(self) -> throttle.Attempt:
        """This request as a sign-in or sign-up attempt, for the rate limits: from the client
        address the trusted proxy saw (uvicorn's proxy headers, FORWARDED_ALLOW_IPS), never
        from a header the client wrote."""
        client = self.request.client
        return throttle.Attempt(
            address=client.host if client is not None else "unknown",
            limits=rate_limits(self.settings),
        )

    def require_viewer(self, why: str = "You have to sign in first") -> User:
        viewer = self.viewer
        if viewer is None:
            raise Unauthenticated(why)
        return viewer

    def require_moderator(self) -> User:
        viewer = self.require_viewer()
        if not viewer.is_moderator:
            raise Forbidden("Only moderators can do this")
        return viewer

    def sign_in(self, user: User) -> None:
        """Start a sign-in for ``user`` and put its token in the cookie (a new one: no fixation)."""
        if user.id is None:
            raise ValueError("only a stored user can sign in")
        self.sign_out()
        with self.write() as tx:
            token = sign_ins.start(tx, user_id=user.id, max_age=self.settings.session_max_age)
        self.request.session[SESSION_KEY] = token
        self._viewer = user

    def sign_out(self) -> None:
        """End this browser's sign-in, so a copy of the cookie signs nobody in either."""
        token = self.request.session.get(SESSION_KEY)
        if isinstance(token, str):
            with self.write() as tx:
                sign_ins.end(tx, token)
        self.request.session.clear()
        self._viewer = None
        self._following_ids = None

    def viewer_following_ids(self) -> set[int]:
        """Whom the viewer follows, loaded once per request in one statement."""
        if self._following_ids is None:
            viewer = self.viewer
            self._following_ids = (
                set()
                if viewer is None or viewer.id is None
                else self.query(social.following_ids, who_id=viewer.id)
            )
        return self._following_ids


@cache
def rate_limits(settings: Settings) -> throttle.Limits:
    return throttle.Limits(
        sign_in_per_username=throttle.Limit(*settings.sign_in_limit_per_username),
        sign_in_per_address=throttle.Limit(*settings.sign_in_limit_per_address),
        sign_up_per_address=throttle.Limit(*settings.sign_up_limit_per_address),
    )
