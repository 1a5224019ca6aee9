"""Live timelines: GraphQL subscriptions over a real WebSocket, on SQLite and PostgreSQL.

The server runs in a thread of the test process (``LiveServer``) with its own hub; the
replicas' tests (``test_live_replicas``) run real server processes on one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from websockets.exceptions import ConnectionClosed, InvalidStatus

from minitwit.app import create_app
from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Database
from minitwit.live.feeds import Announcement, Delivery, DeliveryKind, Feed, LiveObserver, Timeline
from minitwit.live.hub import Hub
from minitwit.resolvers import messages
from minitwit.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.factories import PASSWORD, make_user
from tests.rest.conftest import SIM_HEADERS
from tests.servers import ServerProcess
from tests.subscriptions import EVENT_FIELDS, Subscriber, texts

PUBLIC = f"subscription PublicLive {{ publicTimelineEvents {{ {EVENT_FIELDS} }} }}"
HOME = f"subscription HomeLive {{ homeTimelineEvents {{ {EVENT_FIELDS} }} }}"
USER = (
    "subscription UserLive($u: String!) "
    f"{{ userTimelineEvents(username: $u) {{ {EVENT_FIELDS} }} }}"
)
FLAGGED = f"subscription FlaggedLive {{ flaggedMessageEvents {{ {EVENT_FIELDS} }} }}"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
POST = "mutation ($t: String!) { postMessage(text: $t) { id } }"
FLAG = "mutation ($id: ID!) { flagMessage(id: $id) { id } }"
UNFLAG = "mutation ($id: ID!) { unflagMessage(id: $id) { id } }"
FOLLOW = "mutation ($u: String!) { follow(username: $u) { username } }"
UNFOLLOW = "mutation ($u: String!) { unfollow(username: $u) { username } }"


@contextmanager
def signed_in(server: LiveServer, username: str) -> Iterator[GraphQLClient]:
    with server.client() as client:
        client.data(LOGIN, u=username, p=PASSWORD)
        yield client


def cookie_of(client: GraphQLClient) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def rest_post(server: LiveServer, username: str, text: str) -> None:
    with server.client() as http:
        response = http.post(f"/msgs/{username}", json={"content": text}, headers=SIM_HEADERS)
        assert response.status_code == 204, response.text


def test_a_message_posted_through_graphql_and_rest_reaches_public_subscribers(
    server: LiveServer,
) -> None:
    make_user(server.db, "ann")
    with Subscriber(server.url) as watcher, signed_in(server, "ann") as ann:
        operation = watcher.subscribe(PUBLIC)
        ann.data(POST, t="through graphql")
        rest_post(server, "ann", "through rest")
        events = watcher.events_until(operation, "through rest")
    assert texts(events) == ["through graphql", "through rest"]
    assert {e["message"]["author"]["username"] for e in events} == {"ann"}
    assert all(e["messageId"] == e["message"]["id"] for e in events)


def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_listener_listens_only_while_a_live_socket_is_open(server: LiveServer) -> None:
    """With no socket open PostgreSQL has nobody to signal, so a write wakes no thread here;
    the first socket is acknowledged only once the listener LISTENs, so its first
    subscription hears the next post, with no REFETCH before it (the page would offer a
    reload for nothing)."""
    hub: Hub = server.app.state.hub
    listener = hub.listener
    assert listener is not None
    until(listener.listening.is_set, "the listener connected")
    make_user(server.db, "ann")
    rest_post(server, "ann", "heard by nobody")
    assert not listener.channel_on
    with Subscriber(server.url) as watcher:
        assert listener.channel_on  # before connection_ack
        operation = watcher.subscribe(PUBLIC)
        rest_post(server, "ann", "heard")
        events = watcher.events_until(operation, "heard")
    assert [(e["kind"], e["message"]["text"]) for e in events] == [("ADDED", "heard")]
    until(lambda: hub.sockets == 0, "the socket closed")
    rest_post(server, "ann", "once more to nobody")
    until(lambda: not listener.channel_on, "the listener UNLISTENed")


def test_a_user_timeline_gets_that_users_messages_only(server: LiveServer) -> None:
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    with Subscriber(server.url) as watcher:
        operation = watcher.subscribe(USER, u="ann")
        rest_post(server, "bob", "bob speaks")
        rest_post(server, "ann", "ann speaks")
        events = watcher.events_until(operation, "ann speaks")
    assert texts(events) == ["ann speaks"]


def test_home_timeline_follows_follow_and_unfollow(server: LiveServer) -> None:
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    with signed_in(server, "ann") as ann, Subscriber(server.url, cookie=cookie_of(ann)) as home:
        operation = home.subscribe(HOME)
        rest_post(server, "bob", "before the follow")
        ann.data(POST, t="ann's own 1")
        first = home.events_until(operation, "ann's own 1")
        ann.data(FOLLOW, u="bob")
        rest_post(server, "bob", "while followed")
        second = home.events_until(operation, "while followed")
        ann.data(UNFOLLOW, u="bob")
        rest_post(server, "bob", "after the unfollow")
        ann.data(POST, t="ann's own 2")
        third = home.events_until(operation, "ann's own 2")
    assert texts(first) == ["ann's own 1"]
    assert texts(second) == ["while followed"]
    assert texts(third) == ["ann's own 2"]


WHO = (
    "subscription Who($size: Int!) { publicTimelineEvents { kind message"
    " { text author { username isViewer gravatarUrl(size: $size) } } } }"
)


def test_one_execution_per_event_serves_every_subscription_that_asks_the_same(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscribers with the same document and variables share one execution of an event;
    other variables, and a document naming the viewer (isViewer), get their own answers."""
    executed: list[object] = []
    original = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counting(self: StrawberryGraphQLCoreExecutionContext, serially: bool | None = None) -> Any:
        executed.append(self.root_value)
        return original(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counting)
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    with (
        signed_in(server, "ann") as ann,
        signed_in(server, "bob") as bob,
        Subscriber(server.url) as first,
        Subscriber(server.url) as second,
        Subscriber(server.url) as third,
        Subscriber(server.url, cookie=cookie_of(ann)) as as_ann,
        Subscriber(server.url, cookie=cookie_of(bob)) as as_bob,
    ):
        plain = [(sub, sub.subscribe(PUBLIC)) for sub in (first, second, third)]
        sizes = [(sub, sub.subscribe(WHO, size=size)) for sub, size in ((as_ann, 8), (as_bob, 9))]
        ann.data(POST, t="shared")
        plain_events = [sub.events_until(op, "shared") for sub, op in plain]
        who_events = [sub.events_until(op, "shared")[-1] for sub, op in sizes]
    assert plain_events[0] == plain_events[1] == plain_events[2]
    assert [e["message"]["author"]["isViewer"] for e in who_events] == [True, False]
    urls = [e["message"]["author"]["gravatarUrl"] for e in who_events]
    assert [url.rsplit("=", 1)[-1] for url in urls] == ["8", "9"], urls
    # one execution for the three plain subscriptions, one for each WHO subscription
    assert len(executed) == 3, executed


def test_home_timeline_needs_a_signed_in_viewer(server: LiveServer) -> None:
    with Subscriber(server.url) as anonymous:
        operation = anonymous.subscribe(HOME)
        message = anonymous.receive(10)
    assert message["id"] == operation
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_flagging_a_delivered_message_removes_it_and_tells_moderators(
    server: LiveServer,
) -> None:
    make_user(server.db, "ann")
    make_user(server.db, "mod", moderator=True)
    with (
        signed_in(server, "mod") as mod,
        Subscriber(server.url) as watcher,
        Subscriber(server.url, cookie=cookie_of(mod)) as moderation,
    ):
        public = watcher.subscribe(PUBLIC)
        flagged = moderation.subscribe(FLAGGED)
        rest_post(server, "ann", "soon flagged")
        (added,) = watcher.events_until(public, "soon flagged")
        mod.data(FLAG, id=added["messageId"])
        removed = watcher.next_event(public)
        on_the_list = moderation.next_event(flagged)
        mod.data(UNFLAG, id=added["messageId"])
        shown_again = watcher.next_event(public)
        off_the_list = moderation.next_event(flagged)
    assert removed == {"kind": "REMOVED", "messageId": added["messageId"], "message": None}
    assert on_the_list["kind"] == "ADDED"
    assert on_the_list["message"]["flagged"] is True
    assert shown_again["kind"] == "ADDED"
    assert shown_again["messageId"] == added["messageId"]
    assert off_the_list == {"kind": "REMOVED", "messageId": added["messageId"], "message": None}


def test_the_moderators_list_is_for_moderators(server: LiveServer) -> None:
    make_user(server.db, "ann")
    with signed_in(server, "ann") as ann, Subscriber(server.url, cookie=cookie_of(ann)) as sub:
        operation = sub.subscribe(FLAGGED)
        message = sub.receive(10)
    assert message["id"] == operation
    assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_message_flagged_before_its_delivery_is_never_delivered(db: Database) -> None:
    """The announcement of a post can reach the hub after a moderator flagged the message:
    the hub reads the message when it delivers, and a flagged one is not delivered."""
    ann = make_user(db, "ann")
    with db.unit(write=True) as tx:
        view = messages.post_message(tx, author=ann, text="flagged at once")
    with db.unit(write=True) as tx:
        messages.set_flagged(tx, message_id=view.id, flagged=True, moderator=None)
    assert ann.id is not None
    hub = Hub(db)

    async def deliver() -> list[Delivery]:
        feed = hub.subscribe(Timeline.PUBLIC)
        late = Announcement(Change(ChangeKind.POSTED, view.id, ann.id or 0), time.time())
        await hub.dispatch([late])
        hub.unsubscribe(feed)
        feed.close()
        return [delivery async for delivery in feed.deliveries()]

    assert asyncio.run(deliver()) == []


class Recorder(LiveObserver):
    def __init__(self) -> None:
        self.dropped_counts: list[int] = []
        self.delivered_kinds: list[str] = []

    def dropped(self, count: int) -> None:
        self.dropped_counts.append(count)

    def delivered(self, kind: str, seconds: float) -> None:
        self.delivered_kinds.append(kind)


def test_a_slow_subscriber_is_told_to_refetch_instead_of_growing() -> None:
    recorder = Recorder()

    async def overflow() -> list[Delivery]:
        feed = Feed(Timeline.PUBLIC, size=3, observer=recorder)
        for message_id in range(1, 6):
            feed.offer(Delivery("added", None, message_id, time.time()))
            assert feed.queue.qsize() <= 3
        feed.close()
        return [delivery async for delivery in feed.deliveries()]

    deliveries = asyncio.run(overflow())
    assert [(d.kind, d.message_id) for d in deliveries] == [
        (DeliveryKind.REFETCH, None),
        (DeliveryKind.ADDED, 5),
    ]
    assert recorder.dropped_counts == [3]
    assert recorder.delivered_kinds == [DeliveryKind.REFETCH, DeliveryKind.ADDED]


def test_a_socket_from_a_foreign_origin_is_refused(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Subscriber(server.url, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with Subscriber(server.url, origin=server.url) as same_origin:
        same_origin.subscribe(PUBLIC)


def test_queries_and_mutations_are_refused_over_the_socket(server: LiveServer) -> None:
    with Subscriber(server.url) as sub:
        operation = sub.subscribe("query { viewer { username } }")
        message = sub.receive(10)
    assert message["id"] == operation
    assert message["type"] == "error"
    assert "over HTTP" in message["payload"][0]["message"]


def test_a_field_that_would_query_the_database_is_refused_in_an_event(
    server: LiveServer,
) -> None:
    make_user(server.db, "ann")
    query = (
        "subscription { publicTimelineEvents"
        " { message { author { followers { nodes { username } } } } } }"
    )
    with Subscriber(server.url) as sub:
        operation = sub.subscribe(query)
        rest_post(server, "ann", "hello")
        message = sub.receive(10)
    assert message["id"] == operation
    assert message["payload"]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
def limited(settings: Settings) -> Iterator[LiveServer]:
    limits = settings.with_(
        live_connections_per_user=1,
        live_connections_per_address=3,
        live_subscriptions_per_connection=2,
    )
    with LiveServer(create_app(limits)) as live:
        yield live


def test_connections_and_subscriptions_are_limited(limited: LiveServer) -> None:
    make_user(limited.db, "ann")
    with signed_in(limited, "ann") as ann, Subscriber(limited.url, cookie=cookie_of(ann)) as one:
        with pytest.raises(InvalidStatus) as per_user:
            Subscriber(limited.url, cookie=cookie_of(ann))
        one.subscribe(PUBLIC)
        one.subscribe(PUBLIC)
        third = one.subscribe(PUBLIC)
        refused = one.receive(10)
        with Subscriber(limited.url), Subscriber(limited.url):
            with pytest.raises(InvalidStatus) as per_address:
                Subscriber(limited.url)
    assert per_user.value.response.status_code == 403
    assert per_address.value.response.status_code == 403
    assert refused["id"] == third
    assert refused["payload"][0]["message"] == "Subscription limit reached"


def test_metrics_count_sockets_subscriptions_and_deliveries(server: LiveServer) -> None:
    make_user(server.db, "ann")
    with Subscriber(server.url) as watcher, server.client() as http:
        operation = watcher.subscribe(PUBLIC)
        rest_post(server, "ann", "counted")
        watcher.events_until(operation, "counted")
        metrics = http.get("/metrics").text
    assert "minitwit_live_connections 1.0" in metrics
    assert 'minitwit_live_subscriptions{timeline="public"} 1.0' in metrics
    assert 'minitwit_live_events_delivered_total{kind="added"} 1.0' in metrics
    assert "minitwit_live_delivery_latency_seconds_count 1.0" in metrics


def test_the_served_socket_refuses_oversized_messages(database_url: str, tmp_path: Path) -> None:
    """``minitwit serve`` caps what a client may send over the socket (64 KiB a message)."""
    server = ServerProcess(database_url, tmp_path / "server.log").start()
    try:
        with Subscriber(server.url) as sub:
            sub.ws.send(json.dumps({"type": "ping", "payload": {"junk": "x" * 100_000}}))
            with pytest.raises(ConnectionClosed) as closed:
                sub.receive(30)
    finally:
        server.stop()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big


def test_a_subscription_over_http_is_a_clear_error(client: GraphQLClient) -> None:
    message, code = client.error(PUBLIC)
    assert (message, code) == (
        "Subscriptions run over a WebSocket at /graphql (graphql-transport-ws)",
        "BAD_REQUEST",
    )
