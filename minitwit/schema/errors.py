"""How domain errors look to GraphQL clients, and how unexpected ones are hidden from them."""

from __future__ import annotations

from graphql import GraphQLError
from loguru import logger

from minitwit.db.errors import TIMED_OUT, UNAVAILABLE, is_timeout
from minitwit.ops.logs import first_line, log_failure
from minitwit.resolvers.errors import Conflict as ConflictError
from minitwit.resolvers.errors import (
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)

ERROR_CODES: tuple[tuple[type[DomainError], str], ...] = (
    (ConflictError, "CONFLICT"),
    (Invalid, "BAD_USER_INPUT"),
    (Unauthenticated, "UNAUTHENTICATED"),
    (Forbidden, "FORBIDDEN"),
    (NotFound, "NOT_FOUND"),
    (TooManyRequests, "RATE_LIMITED"),
)
UNEXPECTED = "Unexpected error."


def code_for(error: DomainError) -> str:
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code
    return "BAD_USER_INPUT"


def present(error: GraphQLError) -> None:
    """Make ``error`` fit for the client, in place: a domain error keeps its text and gets its
    code (and ``extensions.field``, the argument at fault, when it names one); a mistake in the
    request gets BAD_REQUEST; the database out of reach (restarting, locked) gets
    SERVICE_UNAVAILABLE, worth a retry; a statement cancelled by the database's time limit gets
    TIMEOUT; anything else is logged with its traceback and masked.

    Strawberry hands every error to ``Schema.process_errors`` (parse, validation and execution
    alike) before it answers, which is where this runs (see ``ThreadedSchema``).
    """
    original = error.original_error
    if isinstance(original, DomainError):
        _set(error, original.message, code_for(original))
        if original.field is not None:
            error.extensions = {**(error.extensions or {}), "field": original.field}
        if isinstance(original, TooManyRequests):
            error.extensions = {**(error.extensions or {}), "retryAfter": original.retry_after}
    elif original is None or isinstance(original, GraphQLError):
        _set(error, error.message, "BAD_REQUEST")
    elif error.path is None and isinstance(original, ValueError | OverflowError | RecursionError):
        # Raised while reading the document itself (a 5,000-digit Int literal): bad input.
        _set(error, f"Invalid input: {original}", "BAD_REQUEST")
    elif is_timeout(original):
        logger.warning(
            "database statement timed out in GraphQL resolver at {path}: {error}",
            path=error.path,
            error=first_line(original),
        )
        _set(error, TIMED_OUT, "TIMEOUT")
        error.original_error = None
    elif log_failure(original, "in GraphQL resolver at {path}", path=error.path):
        _set(error, UNAVAILABLE, "SERVICE_UNAVAILABLE")
        error.original_error = None
    else:
        _set(error, UNEXPECTED, "INTERNAL_SERVER_ERROR")
        error.original_error = None


def _set(error: GraphQLError, message: str, code: str) -> None:
    error.message = message
    error.extensions = {**(error.extensions or {}), "code": code}
