"""Domain operations, on SQLite and on PostgreSQL (every test runs on both backends)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert
from werkzeug.security import generate_password_hash

from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Database
from minitwit.models import SimulatorAction, User
from minitwit.resolvers import accounts, latest, messages, sign_ins, social, timelines
from minitwit.resolvers.errors import Conflict, Forbidden, Invalid, NotFound
from tests.factories import PASSWORD, Units, make_message, make_user, orm_session
from tests.test_passwords import werkzeug_hash


@pytest.mark.parametrize(
    ("username", "email", "password", "password2", "error", "field"),
    [
        ("", "", "", "", "You have to enter a username", "username"),
        ("ann", "", "", "", "You have to enter a valid email address", "email"),
        ("ann", "no-at-sign", "", "", "You have to enter a valid email address", "email"),
        ("ann", "ann@x.dk", "", "", "You have to enter a password", "password"),
        ("ann", "ann@x.dk", "pw", "other", "The two passwords do not match", "password2"),
        (
            "a" * 65,
            "ann@x.dk",
            "pw",
            "pw",
            "The username can have at most 64 characters",
            "username",
        ),
        (
            "a/b",
            "ann@x.dk",
            "pw",
            "pw",
            "The username may not contain '/' or control characters",
            "username",
        ),
        (
            "a\x00b",
            "ann@x.dk",
            "pw",
            "pw",
            "The username may not contain '/' or control characters",
            "username",
        ),
        (
            "a\ud800b",  # not a control character, but not storable
            "ann@x.dk",
            "pw",
            "pw",
            "The username may not contain '/' or control characters",
            "username",
        ),
        (
            "ann ",
            "ann@x.dk",
            "pw",
            "pw",
            "The username may not start or end with a space",
            "username",
        ),
        ("ann", "ann@x.dk\x00", "pw", "pw", "You have to enter a valid email address", "email"),
        (
            "ann",
            "ann@x.dk",
            "p" * 1025,
            "p" * 1025,
            "The password can have at most 1024 characters",
            "password",
        ),
        (
            "ann",
            "ann@x.dk",
            "p\ud800",
            "p\ud800",
            "The password contains characters that cannot be stored",
            "password",
        ),
    ],
)
def test_registration_errors_come_in_the_original_order(
    db: Database,
    username: str,
    email: str,
    password: str,
    password2: str,
    error: str,
    field: str,
) -> None:
    with pytest.raises(Invalid) as raised:
        accounts.sign_up(
            Units(db), username=username, email=email, password=password, password2=password2
        )
    assert (raised.value.message, raised.value.field) == (error, field)


@pytest.mark.parametrize(
    "email",
    [
        "a" * 250 + "@x.dk",  # 255 characters: one over the column's 254
        "ann@x.dk\ud800",  # a lone surrogate: not a control character, but not storable
        "ann@x.dk\x85",  # a C1 control character: storable, but refused
    ],
)
def test_an_email_refused_for_one_reason_alone_names_the_email_field(
    db: Database, email: str
) -> None:
    with pytest.raises(Invalid) as raised:
        accounts.sign_up(Units(db), username="ann", email=email, password="pw")
    assert (raised.value.message, raised.value.field) == (
        "You have to enter a valid email address",
        "email",
    )
    with db.unit() as tx:
        assert accounts.user_by_name(tx, "ann") is None


def test_an_email_of_the_longest_storable_length_is_accepted(db: Database) -> None:
    email = "a" * 249 + "@x.dk"
    assert len(email) == 254
    user = accounts.sign_up(Units(db), username="ann", email=email, password="pw")
    assert user.email == email


def test_a_taken_username_is_a_conflict(db: Database) -> None:
    make_user(db, "Roger Histand")
    with pytest.raises(Conflict) as raised:
        accounts.sign_up(Units(db), username="Roger Histand", email="r@x.dk", password="pw")
    assert raised.value.message == "The username is already taken"


def test_usernames_with_spaces_and_non_ascii_characters_register_and_sign_in(db: Database) -> None:
    make_user(db, "Søren Kierkegård")
    user = accounts.sign_in(Units(db), username="Søren Kierkegård", password=PASSWORD)
    assert user.username == "Søren Kierkegård"


def test_sign_in_errors_name_the_wrong_part(db: Database) -> None:
    make_user(db, "ann")
    with pytest.raises(Invalid, match="Invalid username"):
        accounts.sign_in(Units(db), username="nobody", password=PASSWORD)
    with pytest.raises(Invalid, match="Invalid password"):
        accounts.sign_in(Units(db), username="ann", password="wrong")


def test_a_legacy_werkzeug_hash_verifies_once_and_is_upgraded_to_argon2(db: Database) -> None:
    with orm_session(db, write=True) as session:
        session.add(
            User(
                username="legacy",
                email="l@x.dk",
                pw_hash=generate_password_hash("old pw", method="pbkdf2:sha256:50000"),
                created_at=0,
            )
        )
    signed_in = accounts.sign_in(Units(db), username="legacy", password="old pw")
    with db.unit() as tx:
        user = accounts.user_by_name(tx, "legacy")
    assert user is not None
    assert user.pw_hash.startswith("$argon2id$")
    assert signed_in.pw_hash == user.pw_hash, "the user returned carries the new hash"
    assert accounts.sign_in(Units(db), username="legacy", password="old pw").id == user.id


@pytest.mark.parametrize("method", ["sha1", "md5", "plain", "pbkdf2:sha1:1000", "scrypt:16384:8:1"])
def test_every_legacy_hash_form_signs_in_once_and_is_upgraded(db: Database, method: str) -> None:
    legacy_hash = werkzeug_hash("old pw ☃", method)
    with orm_session(db, write=True) as session:
        session.add(User(username="legacy", email="l@x.dk", pw_hash=legacy_hash, created_at=0))
    with pytest.raises(Invalid, match="Invalid password"):
        accounts.sign_in(Units(db), username="legacy", password="old pw")
    accounts.sign_in(Units(db), username="legacy", password="old pw ☃")
    with db.unit() as tx:
        user = accounts.user_by_name(tx, "legacy")
    assert user is not None
    assert user.pw_hash.startswith("$argon2id$")
    assert accounts.sign_in(Units(db), username="legacy", password="old pw ☃").id == user.id
    with pytest.raises(Invalid, match="Invalid password"):
        accounts.sign_in(Units(db), username="legacy", password="old pw")


def test_follow_is_idempotent_and_unfollowing_a_stranger_is_fine(db: Database) -> None:
    ann, bob = make_user(db, "ann"), make_user(db, "bob")
    assert ann.id is not None
    assert bob.id is not None
    with db.unit(write=True) as tx:
        social.follow(tx, who=ann, whom="bob")
        social.follow(tx, who=ann, whom="bob")
        following = social.following_page(tx, user_id=ann.id, limit=10).items
        followers = social.followers_page(tx, user_id=bob.id, limit=10).items
        assert [user.username for user, _ in following] == ["bob"]
        assert [user.username for user, _ in followers] == ["ann"]
        social.unfollow(tx, who=bob, whom="ann")
        social.unfollow(tx, who=ann, whom="bob")
        social.unfollow(tx, who=ann, whom="bob")
        assert social.following_page(tx, user_id=ann.id, limit=10).items == []


def test_following_an_unknown_user_or_yourself_is_refused(db: Database) -> None:
    ann = make_user(db, "ann")
    with db.unit(write=True) as tx:
        with pytest.raises(NotFound):
            social.follow(tx, who=ann, whom="ghost")
        with pytest.raises(NotFound):
            social.unfollow(tx, who=ann, whom="ghost")
        with pytest.raises(Invalid, match="yourself"):
            social.follow(tx, who=ann, whom="ann")


def test_timelines_are_newest_first_with_the_id_breaking_ties(db: Database) -> None:
    ann, bob, cid = make_user(db, "ann"), make_user(db, "bob"), make_user(db, "cid")
    first = make_message(db, ann, "first", 100)
    tie_a = make_message(db, bob, "tie a", 200)
    tie_b = make_message(db, ann, "tie b", 200)
    make_message(db, cid, "stranger", 300)
    with db.unit(write=True) as tx:
        social.follow(tx, who=ann, whom="bob")
    assert ann.id is not None
    with db.unit() as tx:
        public = timelines.public_timeline(tx, limit=30)
        home = timelines.home_timeline(tx, user_id=ann.id, limit=30)
        own = timelines.user_timeline(tx, user_id=ann.id, limit=30)
    assert [m.text for m in public.items] == ["stranger", "tie b", "tie a", "first"]
    assert [m.id for m in home.items] == [tie_b, tie_a, first]
    assert [m.text for m in own.items] == ["tie b", "first"]
    assert home.items[0].author_username == "ann"
    assert not public.has_next


def test_keyset_pages_cover_every_message_once(db: Database) -> None:
    ann = make_user(db, "ann")
    ids = {make_message(db, ann, f"m{i}", 1000 + i // 3) for i in range(23)}
    seen: list[int] = []
    after = None
    with db.unit() as tx:
        while True:
            page = timelines.public_timeline(tx, limit=5, after=after)
            seen.extend(m.id for m in page.items)
            if not page.has_next:
                break
            after = page.end_cursor
    assert len(seen) == len(ids)
    assert set(seen) == ids
    keys = [(m.pub_date, m.id) for m in _all(db)]
    assert keys == sorted(keys, reverse=True)


def _all(db: Database) -> list[timelines.MessageView]:
    with db.unit() as tx:
        return list(timelines.public_timeline(tx, limit=100).items)


@pytest.mark.parametrize(
    "cursor", ["", "???", "bm90IGEgY3Vyc29y", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjE"]
)
def test_a_malformed_cursor_is_invalid_input(db: Database, cursor: str) -> None:
    with db.unit() as tx, pytest.raises(Invalid, match="Invalid cursor"):
        timelines.public_timeline(tx, limit=5, after=cursor)


def test_flagged_messages_disappear_from_every_timeline_until_unflagged(db: Database) -> None:
    ann = make_user(db, "ann")
    mod = make_user(db, "mod", moderator=True)
    assert ann.id is not None
    hidden = make_message(db, ann, "rude", 10)
    make_message(db, ann, "nice", 5)
    with db.unit(write=True) as tx:
        view = messages.set_flagged(tx, message_id=hidden, flagged=True, moderator=mod)
        assert view.flagged
    with db.unit() as tx:
        for page in (
            timelines.public_timeline(tx, limit=30),
            timelines.user_timeline(tx, user_id=ann.id, limit=30),
            timelines.home_timeline(tx, user_id=ann.id, limit=30),
        ):
            assert [m.text for m in page.items] == ["nice"]
        assert [m.text for m in timelines.flagged_messages(tx, limit=30).items] == ["rude"]
    with db.unit(write=True) as tx:
        messages.set_flagged(tx, message_id=hidden, flagged=False, moderator=mod)
    assert [m.text for m in _all(db)] == ["rude", "nice"]


def test_only_moderators_flag_and_unknown_messages_are_not_found(db: Database) -> None:
    ann = make_user(db, "ann")
    mod = make_user(db, "mod", moderator=True)
    message_id = make_message(db, ann, "hello", 1)
    with db.unit(write=True) as tx:
        with pytest.raises(Forbidden):
            messages.set_flagged(tx, message_id=message_id, flagged=True, moderator=ann)
        with pytest.raises(NotFound):
            messages.set_flagged(tx, message_id=999_999, flagged=True, moderator=mod)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "You have to enter a message"),
        ("   ", "You have to enter a message"),
        ("x" * 1001, "A message can have at most 1000 characters"),
        ("nul\x00byte", "The message contains characters that cannot be stored"),
        ("lone \udc80 surrogate", "The message contains characters that cannot be stored"),
    ],
)
def test_unpostable_messages_are_refused(db: Database, text: str, error: str) -> None:
    ann = make_user(db, "ann")
    with db.unit(write=True) as tx, pytest.raises(Invalid) as raised:
        messages.post_message(tx, author=ann, text=text)
    assert (raised.value.message, raised.value.field) == (error, "text")


def test_a_posted_message_keeps_its_text_exactly(db: Database) -> None:
    ann = make_user(db, "ann")
    text = "\ufeff“Quotes” — £ æ é œ <b>not html</b> 🎉"
    with db.unit(write=True) as tx:
        posted = messages.post_message(tx, author=ann, text=text)
    assert _all(db)[0].text == text == posted.text


def test_latest_is_minus_one_until_set_then_the_last_value_received(db: Database) -> None:
    with db.unit() as tx:
        assert latest.get_latest(tx) == -1
    for value in (1337, 5, 0):
        with db.unit(write=True) as tx:
            latest.set_latest(tx, value)
    with db.unit() as tx:
        assert latest.get_latest(tx) == 0


def test_every_page_reads_forwards_unless_asked_backwards(db: Database) -> None:
    """Without ``backward``, a page shorter than the list is its start (the newest messages,
    the earliest follows), not its end."""
    ann, bob, cid = make_user(db, "ann"), make_user(db, "bob"), make_user(db, "cid")
    assert ann.id is not None
    assert bob.id is not None
    for i in range(3):
        make_message(db, ann, f"ann {i}", 100 + i)
    with db.unit(write=True) as tx:
        social.follow(tx, who=bob, whom="ann")
        social.follow(tx, who=cid, whom="ann")
        social.follow(tx, who=ann, whom="bob")
        social.follow(tx, who=ann, whom="cid")
    with db.unit(write=True) as tx:
        for message in timelines.public_timeline(tx, limit=3).items:
            messages.set_flagged(tx, message_id=message.id, flagged=True, moderator=None)
    with db.unit() as tx:
        flagged = timelines.flagged_messages(tx, limit=2)
    make_message(db, ann, "ann 3", 103)
    make_message(db, ann, "ann 4", 104)
    with db.unit() as tx:
        public = timelines.public_timeline(tx, limit=1)
        own = timelines.user_timeline(tx, user_id=ann.id, limit=1)
        home = timelines.home_timeline(tx, user_id=bob.id, limit=1)
        following = social.following_page(tx, user_id=ann.id, limit=1)
        followers = social.followers_page(tx, user_id=ann.id, limit=1)
    assert [m.text for m in flagged.items] == ["ann 2", "ann 1"]
    assert (flagged.has_next, flagged.has_previous) == (True, False)
    for page in (public, own, home):
        assert [m.text for m in page.items] == ["ann 4"]
        assert (page.has_next, page.has_previous) == (True, False)
    assert [user.username for user, _ in following.items] == ["bob"]
    assert [user.username for user, _ in followers.items] == ["bob"]
    assert (followers.has_next, followers.has_previous) == (True, False)


def test_a_page_is_first_or_last_and_giving_both_is_refused_naming_last() -> None:
    with pytest.raises(Invalid) as raised:
        timelines.page_window(2, 3, default=30, maximum=100)
    assert (raised.value.message, raised.value.field) == ("Give first or last, not both", "last")
    window = timelines.page_window
    assert window(None, None, default=30, maximum=100) == timelines.Window(30, False)
    assert window(2, None, default=30, maximum=100) == timelines.Window(2, False)
    assert window(None, 3, default=30, maximum=100) == timelines.Window(3, True)
    with pytest.raises(Invalid) as raised:
        window(None, 101, default=30, maximum=100)
    assert (raised.value.message, raised.value.field) == ("last must be between 0 and 100", "last")


def test_a_token_signs_in_its_own_user_until_it_ends_or_expires(db: Database) -> None:
    ann, bob = make_user(db, "ann"), make_user(db, "bob")
    assert ann.id is not None
    assert bob.id is not None
    with db.unit(write=True) as tx:
        ann_token = sign_ins.start(tx, user_id=ann.id, max_age=3600)
        expired = sign_ins.start(tx, user_id=ann.id, max_age=0)
        bob_token = sign_ins.start(tx, user_id=bob.id, max_age=3600)
    assert len({ann_token, expired, bob_token}) == 3
    with db.unit() as tx:
        users = [sign_ins.user_for(tx, t) for t in (ann_token, bob_token)]
        assert [(u.id, u.username) for u in users if u] == [(ann.id, "ann"), (bob.id, "bob")]
        assert sign_ins.user_for(tx, expired) is None
        assert sign_ins.user_for(tx, ann_token[:-1]) is None
    with db.unit(write=True) as tx:
        sign_ins.end(tx, ann_token)
    with db.unit() as tx:
        assert sign_ins.user_for(tx, ann_token) is None
        still = sign_ins.user_for(tx, bob_token)
        assert still is not None
        assert still.id == bob.id


def test_a_message_by_id_is_its_view_and_an_unknown_id_none(db: Database) -> None:
    ann = make_user(db, "ann")
    message_id = make_message(db, ann, "hi", 5)
    with db.unit() as tx:
        assert timelines.message_by_id(tx, message_id + 1) is None
        view = timelines.message_by_id(tx, message_id)
    assert view is not None
    assert (view.id, view.text, view.pub_date, view.author_username) == (message_id, "hi", 5, "ann")


def test_follows_and_unfollows_are_recorded_as_the_metrics_events(db: Database) -> None:
    ann, bob = make_user(db, "ann"), make_user(db, "bob")
    with db.unit(write=True) as tx:
        social.follow(tx, who=ann, whom="bob")
        assert social.unfollow(tx, who=ann, whom="bob").username == "bob"
        assert social.unfollow(tx, who=ann, whom=bob).username == "bob"
        social.follow_by_names(tx, who_name="ann", whom_name="bob")
        social.unfollow_by_names(tx, who_name="ann", whom_name="bob")
        events = list(tx.events)
    assert events == ["followed", "unfollowed", "unfollowed", "followed", "unfollowed"]


@pytest.mark.parametrize("username", ["zed", "", "nul\x00name", "z" * 65])
def test_the_follows_and_messages_of_an_unknown_name_are_not_found_naming_it(
    db: Database, username: str
) -> None:
    with db.unit() as tx, pytest.raises(NotFound) as raised:
        social.following_by_name(tx, username=username, limit=10)
    assert (raised.value.message, raised.value.field) == (
        f"There is no user {username!r}",
        "username",
    )
    with db.unit() as tx, pytest.raises(NotFound) as again:
        timelines.user_messages_by_name(tx, username=username, limit=5)
    assert (again.value.message, again.value.field) == (raised.value.message, "username")


def test_posting_and_moderation_record_their_events_and_announce_their_changes(
    db: Database,
) -> None:
    """The events feed the metrics, the changes the live timelines."""
    ann, bob = make_user(db, "ann"), make_user(db, "bob", moderator=True)
    assert ann.id is not None
    with db.unit(write=True) as tx:
        posted = messages.post_message(tx, author=ann, text="hi")
        messages.set_flagged(tx, message_id=posted.id, flagged=True, moderator=bob)
        messages.set_flagged(tx, message_id=posted.id, flagged=False, moderator=None)
        events, changes = list(tx.events), list(tx.changes)
    assert events == ["message_posted", "message_flagged", "message_unflagged"]
    assert changes == [
        Change(ChangeKind.POSTED, posted.id, ann.id),
        Change(ChangeKind.FLAGGED, posted.id, ann.id),
        Change(ChangeKind.UNFLAGGED, posted.id, ann.id),
    ]
    with db.unit(write=True) as tx, pytest.raises(NotFound) as raised:
        messages.set_flagged(tx, message_id=posted.id + 1, flagged=True, moderator=bob)
    assert (raised.value.message, raised.value.field) == (
        f"There is no message {posted.id + 1}",
        "id",
    )


def test_signing_in_records_its_event_and_a_user_keeps_its_creation_time(db: Database) -> None:
    before = int(time.time())
    ann = make_user(db, "ann")
    after = int(time.time())
    assert ann.id is not None
    with db.unit(write=True) as tx:
        token = sign_ins.start(tx, user_id=ann.id, max_age=60)
        events = list(tx.events)
    assert events == ["signed_in"]
    with db.unit() as tx:
        found = sign_ins.user_for(tx, token)
        by_name = accounts.user_by_name(tx, "ann")
    assert found is not None
    assert by_name is not None
    assert before <= found.created_at <= after
    assert by_name.created_at == found.created_at


def test_the_home_timeline_shows_every_column_as_the_public_one_does(db: Database) -> None:
    """On PostgreSQL the home timeline has a statement of its own (``_home_by_author``): the
    views it makes must be the public timeline's, column for column."""
    ann, bob = make_user(db, "ann"), make_user(db, "bob", moderator=True)
    assert ann.id is not None
    assert bob.id is not None
    with db.unit(write=True) as tx:
        social.follow(tx, who=ann, whom="bob")
    first = make_message(db, ann, "from ann", 100)
    second = make_message(db, bob, "from bob", 101)
    with db.unit() as tx:
        home = timelines.home_timeline(tx, user_id=ann.id, limit=10).items
        public = timelines.public_timeline(tx, limit=10).items
    assert (
        home
        == public
        == [
            timelines.MessageView(second, "from bob", 101, False, bob.id, "bob", bob.email, True),
            timelines.MessageView(first, "from ann", 100, False, ann.id, "ann", ann.email, False),
        ]
    )
    assert [type(view.flagged) for view in home] == [bool, bool]
    assert [type(view.author_is_moderator) for view in home] == [bool, bool]


def test_a_full_page_with_nothing_after_it_has_no_next_page(db: Database) -> None:
    """Exactly ``limit`` messages: the page holds them all, and says there is no more."""
    ann = make_user(db, "ann")
    assert ann.id is not None
    for i in range(3):
        make_message(db, ann, f"ann {i}", 100 + i)
    with db.unit() as tx:
        pages = [
            timelines.public_timeline(tx, limit=3),
            timelines.user_timeline(tx, user_id=ann.id, limit=3),
            timelines.home_timeline(tx, user_id=ann.id, limit=3),
        ]
        brief = timelines.public_messages(tx, limit=1)
    for page in pages:
        assert [m.text for m in page.items] == ["ann 2", "ann 1", "ann 0"]
        assert (page.has_next, page.has_previous) == (False, False)
    assert [m.text for m in brief] == ["ann 2"]


def test_a_posted_message_is_returned_as_a_timeline_shows_it(db: Database) -> None:
    ann, bob = make_user(db, "ann"), make_user(db, "bob", moderator=True)
    with db.unit(write=True) as tx:
        posted = [
            messages.post_message(tx, author=ann, text="hi"),
            messages.post_message(tx, author=bob, text=" ", allow_empty=True),
        ]
    with db.unit() as tx:
        assert posted == [timelines.message_by_id(tx, view.id) for view in posted]
    assert [(v.author_username, v.author_is_moderator) for v in posted] == [
        ("ann", False),
        ("bob", True),
    ]


@pytest.mark.parametrize(
    ("who", "whom", "unknown"),
    [
        ("zed", "ann", "zed"),
        ("ann", "zed", "zed"),
        ("", "ann", ""),
        ("ann", "z" * 65, "z" * 65),
        ("zed", "z" * 65, "zed"),
    ],
)
def test_following_by_names_names_the_unknown_one(
    db: Database, who: str, whom: str, unknown: str
) -> None:
    make_user(db, "ann")
    for change in (social.follow_by_names, social.unfollow_by_names):
        with db.unit(write=True) as tx, pytest.raises(NotFound) as raised:
            change(tx, who_name=who, whom_name=whom)
        assert (raised.value.message, raised.value.field) == (
            f"There is no user {unknown!r}",
            "username",
        )


def test_the_longest_password_accepted_signs_in_and_a_longer_one_never(db: Database) -> None:
    longest = "p" * accounts.PASSWORD_MAX_LENGTH
    accounts.sign_up(Units(db), username="ann", email="ann@x.dk", password=longest)
    assert accounts.sign_in(Units(db), username="ann", password=longest).username == "ann"
    with pytest.raises(Invalid, match="Invalid password"):
        accounts.sign_in(Units(db), username="ann", password=longest + "p")


def test_making_an_unknown_user_a_moderator_is_not_found_naming_them(db: Database) -> None:
    make_user(db, "ann")
    with db.unit(write=True) as tx, pytest.raises(NotFound) as raised:
        accounts.set_moderator(tx, username="zed")
    assert (raised.value.message, raised.value.field) == ("There is no user 'zed'", "username")
    with db.unit(write=True) as tx:
        assert accounts.set_moderator(tx, username="ann").is_moderator


def test_follows_among_are_the_pairs_between_the_two_groups_only(db: Database) -> None:
    ann, bob, cid, dan = (make_user(db, name) for name in ("ann", "bob", "cid", "dan"))
    with db.unit(write=True) as tx:
        for who, whom in ((ann, bob), (ann, dan), (cid, bob), (bob, ann)):
            social.follow(tx, who=who, whom=whom)
    ids = {user.username: user.id or 0 for user in (ann, bob, cid, dan)}
    with db.unit() as tx:
        pairs = social.follows_among(tx, who_ids=[ids["ann"], ids["bob"]], whom_ids=[ids["bob"]])
        assert social.follows_among(tx, who_ids=[], whom_ids=[ids["bob"]]) == set()
        assert social.follows_among(tx, who_ids=[ids["ann"]], whom_ids=[]) == set()
    assert pairs == {(ids["ann"], ids["bob"])}


def test_a_cursor_refused_without_a_field_named_is_refused_as_after() -> None:
    with pytest.raises(Invalid) as raised:
        timelines.decode_cursor("???")
    assert (raised.value.message, raised.value.field) == ("Invalid cursor", "after")


def test_recorded_actions_are_pruned_at_most_once_a_minute_and_only_after_an_hour(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time())
    old, recent = latest.Action.of(1, "/msgs/ann", b"{}"), latest.Action.of(2, "/msgs/ann", b"{}")
    with db.unit(write=True) as tx:
        tx.write(
            (
                insert(SimulatorAction).values(latest=1, digest=old.digest, received_at=now - 3601),
                {},
            ),
            (
                insert(SimulatorAction).values(
                    latest=2, digest=recent.digest, received_at=now - 3500
                ),
                {},
            ),
        )
    monkeypatch.setattr(latest, "_next_prune", 0.0)
    first = latest.Action.of(3, "/msgs/ann", b"{}")
    with db.unit(write=True) as tx:
        tx.write(*latest.claim(first))
    with db.unit() as tx:
        assert [latest.claimed(tx, a) for a in (old, recent, first)] == [False, True, True]
    with db.unit(write=True) as tx:
        tx.write((insert(SimulatorAction).values(latest=1, digest=old.digest, received_at=0), {}))
        tx.write(*latest.claim(latest.Action.of(4, "/msgs/ann", b"{}")))
    with db.unit() as tx:
        assert latest.claimed(tx, old), "no second prune within the minute"


def test_posting_by_name_records_its_event_and_change_and_names_an_unknown_author(
    db: Database,
) -> None:
    ann = make_user(db, "ann")
    with db.unit(write=True) as tx:
        message_id = messages.post_message_as(tx, username="ann", text="hi")
        events, changes = list(tx.events), list(tx.changes)
    assert (events, changes) == (
        ["message_posted"],
        [Change(ChangeKind.POSTED, message_id, ann.id)],
    )
    for name in ("zed", "", "z" * 65):
        for text in ("hi", ""):
            with db.unit(write=True) as tx, pytest.raises(NotFound) as raised:
                messages.post_message_as(tx, username=name, text=text)
            assert raised.value.message == f"There is no user {name!r}"
    with db.unit() as tx, pytest.raises(NotFound) as raised:
        accounts.require_user(tx, "zed")
    assert (raised.value.message, raised.value.field) == ("There is no user 'zed'", "username")
