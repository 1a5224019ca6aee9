"""The simulator API's operations, in one table: ``endpoints.py`` builds its routes from it at
start-up and ``openapi.py`` builds the document from it, so the two cannot drift apart.

An operation says what it takes (a body model, ``no``, ``latest``, the Authorization header)
and what it answers on success; the error answers follow from that: a body can be a 400, 408
or 413, authorization a 403, a ``{username}`` a 404, database work a 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from minitwit.rest_compat import schemas

USERNAME = "{username}"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # OpenAPI's template; ``{username}`` matches any text, newlines included
    operation_id: str
    summary: str
    handler: str | None  # the SimulatorApi method; None: documented as refused (405)
    status: int = 204  # on success; 405 for an operation documented as refused
    answer: type[BaseModel] | None = None  # the 200's body; None: any JSON object
    answer_description: str = ""
    body: type[BaseModel] | None = None
    authorized: bool = False
    paged: bool = False  # takes ``no``
    latest: bool = True  # takes ``latest``
    database: bool = True  # can answer 503
    refuses_other_methods: bool = False  # documents its 405


# In the order the router tries them: the simulator's most frequent requests first.
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        f"/msgs/{USERNAME}",
        "getUserMessages",
        "One user's unflagged messages, newest first",
        handler="user_messages",
        status=200,
        answer=schemas.Messages,
        answer_description="The messages.",
        authorized=True,
        paged=True,
    ),
    Operation(
        "POST",
        f"/msgs/{USERNAME}",
        "postMessage",
        "Post a message as the user",
        handler="post_message",
        body=schemas.MessageRequest,
        authorized=True,
    ),
    Operation(
        "GET",
        f"/fllws/{USERNAME}",
        "getFollows",
        "The usernames the user follows, in the order followed",
        handler="follows",
        status=200,
        answer=schemas.Follows,
        answer_description="The followed users.",
        authorized=True,
        paged=True,
    ),
    Operation(
        "POST",
        f"/fllws/{USERNAME}",
        "changeFollow",
        "Follow or unfollow a user. `follow` wins when both keys are present; "
        "following twice and unfollowing a user not followed both succeed.",
        handler="change_follow",
        body=schemas.FollowRequest,
        authorized=True,
    ),
    Operation(
        "GET",
        "/msgs",
        "getMessages",
        "Everyone's unflagged messages, newest first",
        handler="public_messages",
        status=200,
        answer=schemas.Messages,
        answer_description="The messages.",
        authorized=True,
        paged=True,
    ),
    Operation(
        "POST",
        "/msgs",
        "postMessagesNotAllowed",
        "Not supported: post as a user at /msgs/{username}",
        handler=None,
        status=405,
        latest=False,
        database=False,
    ),
    Operation(
        "POST",
        "/register",
        "register",
        "Sign up a user (no authorization needed)",
        handler="register",
        body=schemas.RegisterRequest,
        refuses_other_methods=True,
    ),
    Operation(
        "GET",
        "/latest",
        "getLatest",
        "The last `latest` value received by any endpoint",
        handler="get_latest",
        status=200,
        answer=schemas.Latest,
        answer_description="The stored value.",
        latest=False,
    ),
    Operation(
        "GET",
        "/openapi.json",
        "getOpenApi",
        "This document",
        handler="openapi_document",
        status=200,
        answer_description="The OpenAPI document.",
        latest=False,
        database=False,
    ),
)


def paths() -> dict[str, list[Operation]]:
    """The operations by path, in the table's order."""
    grouped: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        grouped.setdefault(operation.path, []).append(operation)
    return grouped
