"""What every GraphQL resolver receives: the request, the database and the viewer.

Execution runs in one worker thread per request (see ``execution``). The context holds at most
one database session at a time, so a request never needs two pooled connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from starlette.requests import Request

from minitwit.db import Database
from minitwit.models import User
from minitwit.resolvers import accounts, social
from minitwit.resolvers.errors import Forbidden, Unauthenticated
from minitwit.settings import Settings

SESSION_USER_KEY = "uid"

_UNSET: Any = object()


@dataclass
class Context:
    request: Request
    db: Database
    settings: Settings
    _session: Session | None = field(default=None, init=False)
    _viewer: User | None = field(default=_UNSET, init=False)
    _following_ids: set[int] | None = field(default=None, init=False)

    @property
    def session(self) -> Session:
        """A read session, opened on first use and closed when the request ends."""
        if self._session is None:
            self._session = Session(self.db.engine, expire_on_commit=False)
        return self._session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A short read transaction of its own, for steps that must not hold one open."""
        self.close()
        with self.db.session() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed when the block ends; for mutations."""
        self.close()
        with self.db.session(write=True) as session:
            yield session
        self._following_ids = None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    @property
    def viewer(self) -> User | None:
        """The signed-in user, or None."""
        if self._viewer is _UNSET:
            user_id = self.request.session.get(SESSION_USER_KEY)
            user = accounts.user_by_id(self.session, user_id) if isinstance(user_id, int) else None
            if user is None and user_id is not None:
                self.request.session.clear()
            self._viewer = user
        return self._viewer

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
        self.request.session.clear()
        self.request.session[SESSION_USER_KEY] = user.id
        self._viewer = user
        self._following_ids = None

    def sign_out(self) -> None:
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
                else social.following_ids(self.session, who_id=viewer.id)
            )
        return self._following_ids
