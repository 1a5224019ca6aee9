"""Mutation: what a person can do."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from minitwit.resolvers import accounts, messages, social
from minitwit.resolvers.errors import Invalid, TooManyRequests
from minitwit.resolvers.validation import parse_global_id
from minitwit.schema.context import Context
from minitwit.schema.limits import cost
from minitwit.schema.types import Message, User

# The fields that hash a password say so (cost(hashes=True)): an operation selecting one waits
# for a hashing slot before it takes a database token (see ThreadedSchema), so waiting hashers
# never starve the pool.


Username = Annotated[str, strawberry.argument(description="A username, exactly as registered.")]
Password = Annotated[str, strawberry.argument(description="The password.")]
MessageId = Annotated[
    strawberry.ID,
    strawberry.argument(
        description=(
            "The message's global id (Message.id). A bare number, the message ids of old,"
            " is accepted too but deprecated."
        )
    ),
]


@strawberry.type(description="What a person can do.")
class Mutation:
    @strawberry.mutation(
        description=(
            "Sign up. Sign in afterwards with login. Limited per client address"
            " (RATE_LIMITED, with extensions.retryAfter, and HTTP 429)."
        ),
        metadata=cost(hashes=True),
    )
    def register(
        self,
        info: Info[Context, None],
        username: Annotated[
            str,
            strawberry.argument(
                description="The name to sign in with: up to 64 characters, no '/'."
            ),
        ],
        email: Annotated[str, strawberry.argument(description="An email address (for Gravatar).")],
        password: Annotated[str, strawberry.argument(description="The password to sign in with.")],
        password2: Annotated[
            str, strawberry.argument(description="The password again; both must match.")
        ],
    ) -> User:
        ctx = info.context
        row = accounts.sign_up(
            ctx,
            username=username,
            email=email,
            password=password,
            password2=password2,
            attempt=ctx.attempt(),
        )
        return User.from_row(row)

    @strawberry.mutation(
        description=(
            "Sign in; sets the session cookie. Failed attempts are limited per username and"
            " per client address (RATE_LIMITED, with extensions.retryAfter, and HTTP 429)."
        ),
        metadata=cost(hashes=True),
    )
    def login(self, info: Info[Context, None], username: Username, password: Password) -> User:
        ctx = info.context
        try:
            row = accounts.sign_in(ctx, username=username, password=password, attempt=ctx.attempt())
        except (Invalid, TooManyRequests) as error:
            if ctx.db.observer is not None:
                refused = isinstance(error, TooManyRequests)
                ctx.db.observer.committed(["sign_in_throttled" if refused else "sign_in_failed"])
            raise
        ctx.sign_in(row)
        return User.from_row(row)

    @strawberry.mutation(description="Sign out; clears the session cookie.")
    def logout(self, info: Info[Context, None]) -> bool:
        info.context.sign_out()
        return True

    @strawberry.mutation(description="Post a message as the signed-in user.")
    def post_message(
        self,
        info: Info[Context, None],
        text: Annotated[
            str,
            strawberry.argument(
                description="The message; not blank, at most MINITWIT_MAX_MESSAGE_LENGTH long."
            ),
        ],
    ) -> Message:
        ctx = info.context
        viewer = ctx.require_viewer()
        with ctx.write() as tx:
            view = messages.post_message(
                tx, author=viewer, text=text, max_length=ctx.settings.max_message_length
            )
        return Message.from_view(view)

    @strawberry.mutation(description="Follow a user; following twice changes nothing.")
    def follow(self, info: Info[Context, None], username: Username) -> User:
        ctx = info.context
        viewer = ctx.require_viewer()
        with ctx.write() as tx:
            row = social.follow(tx, who=viewer, whom=username)
        return User.from_row(row)

    @strawberry.mutation(description="Stop following a user; unfollowing a stranger is fine.")
    def unfollow(self, info: Info[Context, None], username: Username) -> User:
        ctx = info.context
        viewer = ctx.require_viewer()
        with ctx.write() as tx:
            row = social.unfollow(tx, who=viewer, whom=username)
        return User.from_row(row)

    @strawberry.mutation(description="Hide a message everywhere (moderators).")
    def flag_message(self, info: Info[Context, None], id: MessageId) -> Message:
        return _set_flagged(info, id, flagged=True)

    @strawberry.mutation(description="Show a flagged message again (moderators).")
    def unflag_message(self, info: Info[Context, None], id: MessageId) -> Message:
        return _set_flagged(info, id, flagged=False)


def _set_flagged(info: Info[Context, None], raw_id: str, *, flagged: bool) -> Message:
    ctx = info.context
    moderator = ctx.require_moderator()
    message_id = parse_global_id(raw_id, "Message", "message id")
    with ctx.write() as tx:
        view = messages.set_flagged(tx, message_id=message_id, flagged=flagged, moderator=moderator)
    return Message.from_view(view)
