"""Prometheus metrics: HTTP requests, GraphQL operations, the database and the business.

Metrics work in one process or in several: with ``PROMETHEUS_MULTIPROC_DIR`` set (``minitwit
serve --workers N`` sets it), every worker writes its samples there and ``/metrics`` sums them.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from minitwit import __version__

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's metrics, in a registry of its own (one per app, so tests do not clash).

    ``known_operations`` are the GraphQL operation names that get a label of their own (the
    web client's); any other name counts as ``other``, so no client can grow the label set.
    It also observes the database (``minitwit.db.database.DatabaseObserver``): query durations,
    waits for a connection and the domain events that committed.
    """

    def __init__(self, known_operations: frozenset[str] = frozenset()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.known_operations = known_operations
        registry = self.registry
        self.requests = Counter(
            "minitwit_http_requests",
            "HTTP requests handled, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "minitwit_http_request_duration_seconds",
            "Time from request start to the end of the response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "minitwit_http_requests_in_flight",
            "Requests being handled now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.graphql_operations = Counter(
            "minitwit_graphql_operations",
            "GraphQL operations, by type and outcome.",
            ["operation_type", "status"],
            registry=registry,
        )
        self.graphql_named = Histogram(
            "minitwit_graphql_operation_duration_seconds",
            "GraphQL operations by name (the web client's, else other) and outcome.",
            ["operation", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.pool_checked_out = Gauge(
            "minitwit_db_pool_checked_out",
            "Database connections in use.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "minitwit_db_pool_size",
            "Database connections each worker process may hold.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_waits = Counter(
            "minitwit_db_pool_waits",
            "Units of database work that waited for a free connection.",
            registry=registry,
        )
        self.query_duration = Histogram(
            "minitwit_db_query_duration_seconds",
            "Round trips to the database, reads and writes.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._query_kinds = {kind: self.query_duration.labels(kind) for kind in ("read", "write")}
        # Label children by (method, route, status): few, since routes are templates.
        self._by_request: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.events = {
            event: Counter(f"minitwit_{name}", help_text, registry=registry)
            for event, name, help_text in EVENTS
        }
        self.sign_ins = Counter(
            "minitwit_sign_ins",
            "Sign-in attempts, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.build_info = Gauge(
            "minitwit_build_info",
            "The running version and git revision (always 1).",
            ["version", "revision"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__, build_revision()).set(1)
        self.started = Gauge(
            "minitwit_process_start_time_seconds",
            "When this worker process started (Unix time).",
            registry=registry,
            multiprocess_mode="min",
        )
        self.started.set(time.time())
        self.live = LiveMetrics(registry)

    # -- minitwit.db.database.DatabaseObserver ------------------------------------------------

    def queried(self, kind: str, seconds: float) -> None:
        self._query_kinds[kind].observe(seconds)

    def waited(self) -> None:
        self.pool_waits.inc()

    def committed(self, events: list[str]) -> None:
        for event in events:
            counter = self.events.get(event)
            if counter is not None:
                counter.inc()
            elif event in SIGN_IN_OUTCOMES:
                self.sign_ins.labels(SIGN_IN_OUTCOMES[event]).inc()

    # -- HTTP ----------------------------------------------------------------------------

    def responded(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered: its count by status, and its duration."""
        key = (method, route, status)
        children = self._by_request.get(key)
        if children is None:
            children = self._by_request[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    # -- GraphQL -------------------------------------------------------------------------

    def graphql_operation(self, kind: str, name: str | None, outcome: str, seconds: float) -> None:
        self.graphql_operations.labels(kind, outcome).inc()
        label = name if name in self.known_operations else "other"
        self.graphql_named.labels(label, outcome).observe(seconds)

    def exposition(self, extra: str = "") -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry) + extra.encode()
        return generate_latest(self.registry) + extra.encode()


class LiveMetrics:
    """Live timelines (``minitwit.live.feeds.LiveObserver``): sockets and subscriptions open now,
    deliveries made and dropped, and the time from a change's announcement (inside the
    writing transaction) to its hand-over to a subscriber."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "minitwit_live_connections",
            "WebSocket connections open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.subscriptions = Gauge(
            "minitwit_live_subscriptions",
            "Live timeline subscriptions open now, by timeline.",
            ["timeline"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.delivered_total = Counter(
            "minitwit_live_events_delivered",
            "Timeline events handed to subscribers, by kind (added, removed, refetch).",
            ["kind"],
            registry=registry,
        )
        self.dropped_total = Counter(
            "minitwit_live_events_dropped",
            "Timeline events dropped from a slow subscriber's full queue (it is told to refetch).",
            registry=registry,
        )
        self.latency = Histogram(
            "minitwit_live_delivery_latency_seconds",
            "From a change's announcement (NOTIFY) to its delivery to a subscriber.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.listener_connects = Counter(
            "minitwit_live_listener_connects",
            "Times the listening connection to PostgreSQL connected, by whether it reconnected.",
            ["reconnect"],
            registry=registry,
        )

    def connected(self, delta: int) -> None:
        self.connections.inc(delta)

    def subscribed(self, timeline: str, delta: int) -> None:
        self.subscriptions.labels(timeline).inc(delta)

    def delivered(self, kind: str, seconds: float) -> None:
        self.delivered_total.labels(kind).inc()
        self.latency.observe(max(seconds, 0.0))

    def dropped(self, count: int) -> None:
        self.dropped_total.inc(count)

    def listener_connected(self, reconnect: bool) -> None:
        self.listener_connects.labels("true" if reconnect else "false").inc()


# (domain event, counter name, help): what resolvers record and the counters that count it
EVENTS = (
    ("user_registered", "users_registered", "Users who signed up."),
    ("message_posted", "messages_posted", "Messages posted."),
    ("followed", "follows", "Follow actions."),
    ("unfollowed", "unfollows", "Unfollow actions."),
    ("message_flagged", "messages_flagged", "Messages flagged by moderators."),
    ("message_unflagged", "messages_unflagged", "Messages unflagged by moderators."),
)


SIGN_IN_OUTCOMES = {
    "signed_in": "succeeded",
    "sign_in_failed": "failed",
    "sign_in_throttled": "throttled",
}


def build_revision() -> str:
    """The git revision the image was built from (``MINITWIT_REVISION``), else unknown."""
    return os.environ.get("MINITWIT_REVISION", "unknown")[:40] or "unknown"


def known_operations(web_dir: Path) -> frozenset[str]:
    """The names of the GraphQL operations the web client sends, read from its own scripts
    (not the vendored GraphiQL's)."""
    names: set[str] = set()
    for script in web_dir.rglob("*.js"):
        if "vendor" in script.relative_to(web_dir).parts:
            continue
        names.update(_OPERATION_NAME.findall(script.read_text(encoding="utf-8")))
    return frozenset(names)


_OPERATION_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([A-Z][A-Za-z0-9_]*)")


def route_template(scope: Scope) -> str:
    """The matched route's path template, so label values stay few (``/msgs/{username}``)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    return "unmatched"
