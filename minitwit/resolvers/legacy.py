"""Import a database of the original MiniTwit (its SQLite ``schema.sql``).

Users keep their werkzeug password hashes (they verify at sign-in and become argon2 then). A
user whose hash is of a form MiniTwit cannot verify is imported all the same, with their messages
and follows, and listed: they cannot sign in until an operator gives them a new hash.
Running the import again adds nothing twice: users are matched by name, messages by author,
date and text, follows by pair.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit import passwords
from minitwit.db.database import Tx
from minitwit.models import Follower, Message
from minitwit.models.tables import PASSWORD_HASH_MAX_LENGTH
from minitwit.resolvers.accounts import (
    create_user,
    user_by_name,
    validate_email,
    validate_username,
)
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import is_storable


@dataclass
class ImportReport:
    users: int = 0
    users_skipped: int = 0
    messages: int = 0
    messages_skipped: int = 0
    follows: int = 0
    follows_skipped: int = 0
    invalid: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        summary = (
            f"imported {self.users} users ({self.users_skipped} already present), "
            f"{self.messages} messages ({self.messages_skipped} already present), "
            f"{self.follows} follows ({self.follows_skipped} already present)"
        )
        if self.invalid:
            summary += f"\nskipped {len(self.invalid)} rows that cannot be stored:\n" + "\n".join(
                f"  {reason}" for reason in self.invalid
            )
        if self.unverifiable:
            summary += (
                f"\n{len(self.unverifiable)} imported users cannot sign in: their password hash"
                " is of a form MiniTwit cannot verify:\n"
                + "\n".join(f"  {who}" for who in self.unverifiable)
            )
        return summary


def import_legacy(tx: Tx, path: Path) -> ImportReport:
    if not path.is_file():
        raise Invalid(f"{path} is not a file")
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _import(tx, source)
        finally:
            source.close()
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"{path} is not a MiniTwit database: {exc}") from None


LAST_SECOND_OF_9999 = 253_402_300_799


def _user_problem(username: object, email: object, pw_hash: object) -> str | None:
    """Why a legacy user row cannot be imported as it is, or None."""
    if not isinstance(username, str):
        return "no username"
    try:
        validate_username(username)
        validate_email(email if isinstance(email, str) else "")
    except Invalid as error:
        return f"{username!r}: {error.message}"
    if not isinstance(pw_hash, str) or not pw_hash or len(pw_hash) > PASSWORD_HASH_MAX_LENGTH:
        return f"{username!r}: unusable password hash"
    return None


def _form(pw_hash: str) -> str:
    """The method part of a hash, safe to print: never its salt or digest."""
    prefix = "$" if pw_hash.startswith("$") else ""  # modular crypt: $2b$..., $argon2id$...
    rest = pw_hash.removeprefix(prefix)
    if "$" not in rest:
        return "no method"
    method = prefix + rest.split("$", 1)[0]
    return method[:40] if method.isprintable() else "unprintable"


def _id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("a flushed row has an id")
    return value


def _import(tx: Tx, source: sqlite3.Connection) -> ImportReport:
    report = ImportReport()
    now = int(time.time())
    ids: dict[int, int] = {}
    for legacy_id, username, email, pw_hash in source.execute(
        "SELECT user_id, username, email, pw_hash FROM user ORDER BY user_id"
    ):
        problem = _user_problem(username, email, pw_hash)
        if problem is not None:
            report.invalid.append(f"user {legacy_id}: {problem}")
            continue
        existing = user_by_name(tx, username)
        # Listed on every run while it lasts: a second import tells who still cannot sign in.
        stored_hash = pw_hash if existing is None else existing.pw_hash
        if not passwords.is_verifiable(stored_hash):
            report.unverifiable.append(
                f"user {legacy_id}: {username!r} (hash form {_form(stored_hash)!r})"
            )
        if existing is not None and existing.id is not None:
            ids[legacy_id] = existing.id
            report.users_skipped += 1
            continue
        user = create_user(tx, username=username, email=email, pw_hash=pw_hash)
        ids[legacy_id] = _id(user.id)
        report.users += 1

    present = {
        (author_id, pub_date, text)
        for author_id, pub_date, text in tx.connection.execute(
            select(col(Message.author_id), col(Message.pub_date), col(Message.text)).where(
                col(Message.author_id).in_(list(ids.values()))
            )
        )
    }
    new_messages = []
    for author, text, pub_date, flagged in source.execute(
        "SELECT author_id, text, pub_date, flagged FROM message ORDER BY message_id"
    ):
        author_id = ids.get(author)
        if author_id is None:
            continue  # its author was not imported: counted there
        if not (isinstance(text, str) and is_storable(text)):
            report.invalid.append(f"message by user {author}: text cannot be stored")
            continue
        if not (isinstance(pub_date, int) and 0 <= pub_date <= LAST_SECOND_OF_9999):
            report.invalid.append(f"message by user {author}: pub_date {pub_date!r} out of range")
            continue
        key = (author_id, pub_date, text)
        if key in present:
            report.messages_skipped += 1
            continue
        present.add(key)
        new_messages.append(
            {
                "author_id": author_id,
                "text": text,
                "pub_date": key[1],
                "flagged": bool(flagged),
                "flagged_at": now if flagged else None,
            }
        )
    if new_messages:
        tx.connection.execute(Message.__table__.insert(), new_messages)  # type: ignore[attr-defined]
    report.messages = len(new_messages)

    pairs = {
        (ids[who], ids[whom])
        for who, whom in source.execute("SELECT who_id, whom_id FROM follower")
        if who in ids and whom in ids and ids[who] != ids[whom]
    }
    present_pairs = {
        (who, whom)
        for who, whom in tx.connection.execute(select(col(Follower.who_id), col(Follower.whom_id)))
    }
    new_pairs = [
        {"who_id": who, "whom_id": whom, "followed_at": now}
        for who, whom in sorted(pairs - present_pairs)
    ]
    report.follows_skipped = len(pairs & present_pairs)
    if new_pairs:
        insert = (
            postgresql.insert(Follower)
            if tx.dialect.name == "postgresql"
            else sqlite.insert(Follower)
        )
        tx.connection.execute(insert.on_conflict_do_nothing(), new_pairs)
    report.follows = len(new_pairs)
    return report
