"""A ``graphql-transport-ws`` client for tests and benchmarks: a real socket, no mocks."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from typing import Any

from websockets.sync.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"
EVENT_FIELDS = "kind messageId message { id text flagged author { username } }"


class Subscriber:
    """One WebSocket to ``/graphql``, acknowledged, with subscriptions by id."""

    def __init__(
        self, base_url: str, *, cookie: str | None = None, origin: str | None = None
    ) -> None:
        headers: dict[str, str] = {}
        if cookie is not None:
            headers["Cookie"] = cookie
        if origin is not None:
            headers["Origin"] = origin
        url = base_url.replace("http://", "ws://", 1) + "/graphql"
        self.stack = ExitStack()
        self.ws: ClientConnection = self.stack.enter_context(
            connect(url, subprotocols=[PROTOCOL], additional_headers=headers, open_timeout=10)
        )
        self.ws.send(json.dumps({"type": "connection_init"}))
        ack = self.receive(10)
        if ack.get("type") != "connection_ack":
            raise AssertionError(f"no connection_ack: {ack}")
        self.ids = 0

    def subscribe(self, query: str, **variables: Any) -> str:
        self.ids += 1
        operation = str(self.ids)
        payload = {"query": query, "variables": variables}
        self.ws.send(json.dumps({"id": operation, "type": "subscribe", "payload": payload}))
        return operation

    def receive(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return message

    def next_event(self, operation: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of ``operation`` (its field's value), skipping other operations'."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(deadline - time.monotonic(), 0.01))
            if message.get("id") != operation:
                continue
            if message["type"] != "next":
                raise AssertionError(f"not an event: {message}")
            payload = message["payload"]
            if payload.get("errors"):
                raise AssertionError(f"errors: {payload['errors']}")
            data: dict[str, Any] = payload["data"]
            (event,) = data.values()
            return dict(event)

    def events_until(self, operation: str, text: str, timeout: float = 10) -> list[dict[str, Any]]:
        """Events of ``operation`` up to and including the ADDED message with ``text``."""
        events = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(operation, max(deadline - time.monotonic(), 0.01))
            events.append(event)
            if event["kind"] == "ADDED" and event["message"]["text"] == text:
                return events

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"]["text"] for e in events if e["kind"] == "ADDED"]
