"""Domain errors: what a resolver says when it refuses. Each face (GraphQL, REST) maps them."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal whose ``message`` is safe, and meant, to show to the person who asked.

    ``field`` names the input at fault (``"username"``, ``"first"``...), when one is: the
    GraphQL face sends it as ``extensions.field`` so a client can point at that input.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """The input cannot be accepted as given."""


class Unauthenticated(DomainError):
    """The operation needs a signed-in user."""


class Forbidden(DomainError):
    """The signed-in user may not do this."""


class NotFound(DomainError):
    """A named thing does not exist."""


class Conflict(Invalid):
    """The input clashes with what is stored (a taken username)."""


class TooManyRequests(DomainError):
    """Too many attempts in a while; the next may come ``retry_after`` seconds from now."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
