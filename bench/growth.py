"""Growth: MiniTwit's timelines on a large data set beside the same on a small one.

    PYTHONPATH=. .venv/bin/python -m bench.growth [--duration 10] [--warmup 2]
    PYTHONPATH=. .venv/bin/python -m bench --growth      # the same, inside the full suite

Two fresh MiniTwit databases are filled with PostgreSQL's ``generate_series`` (``INSERT ...
SELECT``; secondary indexes dropped for the load and rebuilt, foreign-key triggers skipped,
then ``ANALYZE``), with the same shape and different sizes:

- large: 20,000 users, 1,000,000 messages (50 per user, 0.1 % flagged), about 500,000 follows
  (25 per user);
- small: 1,000 users, 50,000 messages (also 50 per user), about 6,500 follows (6 per user).

In both, ``user00001`` follows one user and ``user00002`` follows 500, and every user's password
is ``benchpass`` (one real argon2id hash made by MiniTwit's own hasher, so signing in works).
MiniTwit (production settings, one worker) then serves each timeline to ``wrk`` at 16
connections: the public timeline (REST ``/msgs?no=30`` and GraphQL ``publicTimeline``), a user's
(REST ``/msgs/user00003?no=30``) and the home timeline (GraphQL ``homeTimeline``, signed in
through the ``login`` mutation) of a user following 1 and of one following 500. The SQL that
MiniTwit sends for each is captured by the counting proxy (bench/pgproxy.py) in a separate
pass, and ``EXPLAIN (ANALYZE, BUFFERS)`` of exactly that statement is recorded for both sizes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from bench import wrk
from bench.pgproxy import CountingProxy
from bench.services import DEFAULT_PG, Databases, MiniTwitServer, git_state, machine
from minitwit.settings import DEFAULT_SIMULATOR_AUTH

PASSWORD = "benchpass"
BASE_TIME = 1_600_000_000
SIZES = {
    "small": {"users": 1_000, "messages": 50_000, "follows_each": 6},
    "large": {"users": 20_000, "messages": 1_000_000, "follows_each": 25},
}
TIMELINE_FIELDS = "nodes { text pubDate author { username gravatarUrl } }"
AUTH = {"Authorization": DEFAULT_SIMULATOR_AUTH}


@dataclass(frozen=True)
class GrowthOptions:
    duration: int
    warmup: int
    connections: int = 16

    @classmethod
    def from_run(cls, options: Any) -> GrowthOptions:
        return cls(duration=options.duration, warmup=options.warmup)


@dataclass(frozen=True)
class Timeline:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    viewer: str | None = None


TIMELINES = (
    Timeline("public, REST /msgs?no=30", "GET", "/msgs?no=30"),
    Timeline("user's, REST /msgs/user00003?no=30", "GET", "/msgs/user00003?no=30"),
    Timeline(
        "public, GraphQL publicTimeline(first: 30)",
        "POST",
        "/graphql",
        {"query": f"{{ publicTimeline(first: 30) {{ {TIMELINE_FIELDS} }} }}"},
    ),
    Timeline(
        "home following 1, GraphQL homeTimeline(first: 30)",
        "POST",
        "/graphql",
        {"query": f"{{ homeTimeline(first: 30) {{ {TIMELINE_FIELDS} }} }}"},
        viewer="user00001",
    ),
    Timeline(
        "home following 500, GraphQL homeTimeline(first: 30)",
        "POST",
        "/graphql",
        {"query": f"{{ homeTimeline(first: 30) {{ {TIMELINE_FIELDS} }} }}"},
        viewer="user00002",
    ),
)

LOAD = [
    """INSERT INTO users (id, username, email, pw_hash, is_moderator, created_at)
    SELECT i, 'user' || lpad(i::text, 5, '0'), 'user' || i || '@example.com',
           %(pw_hash)s, false, %(base)s + i
    FROM generate_series(1, %(users)s) AS i""",
    "SELECT setval(pg_get_serial_sequence('users', 'id'), %(users)s)",
    """INSERT INTO messages (id, author_id, text, pub_date, flagged)
    SELECT i, 1 + (i::bigint * 7919) %% %(users)s, 'message number ' || i || ', ' || md5(i::text),
           %(base)s::bigint + i * 30, i %% 1000 = 0
    FROM generate_series(1, %(messages)s) AS i""",
    "SELECT setval(pg_get_serial_sequence('messages', 'id'), %(messages)s)",
    # users 3..N follow 25 (or 6) others each: 797 * k mod N is distinct and non-zero for
    # k = 1..25 (N = 20,000) and k = 1..6 (N = 1,000), so no pair repeats and none is a self-follow
    """INSERT INTO followers (who_id, whom_id, followed_at)
    SELECT who, 1 + (who - 1 + k * 797) %% %(users)s, %(base)s
    FROM generate_series(3, %(users)s) AS who, generate_series(1, %(follows_each)s) AS k""",
    "INSERT INTO followers (who_id, whom_id, followed_at) VALUES (1, 3, %(base)s)",
    """INSERT INTO followers (who_id, whom_id, followed_at)
    SELECT 2, 2 + k, %(base)s FROM generate_series(1, 500) AS k""",
]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def generate(url: str, size: dict[str, int], pw_hash: str) -> dict[str, Any]:
    """Fill a freshly migrated MiniTwit database; returns the counts and the seconds taken."""
    started = time.perf_counter()
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
            cursor.execute(
                """SELECT indexname, indexdef FROM pg_indexes
                WHERE schemaname = 'public' AND tablename IN ('users', 'messages', 'followers')
                AND indexname NOT IN (SELECT conname FROM pg_constraint)"""
            )
            indexes = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            params = {**size, "pw_hash": pw_hash, "base": BASE_TIME}
            for statement in LOAD:
                cursor.execute(statement, params)
            for _, definition in indexes:
                cursor.execute(definition)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE users, messages, followers")
            cursor.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM messages), "
                "(SELECT count(*) FROM followers)"
            )
            users, messages, follows = cursor.fetchone()
    finally:
        connection.close()
    return {
        "users": users,
        "messages": messages,
        "follows": follows,
        "seconds": round(time.perf_counter() - started, 1),
        "indexes_rebuilt": [name for name, _ in indexes],
    }


def sign_in(url: str, username: str) -> str:
    """The session cookie of ``username``, through MiniTwit's GraphQL ``login``."""
    mutation = 'mutation { login(username: "%s", password: "%s") { username } }'
    response = httpx.post(
        url + "/graphql", json={"query": mutation % (username, PASSWORD)}, timeout=10
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"login of {username} failed: {response.status_code} {body}")
    for header in response.headers.get_list("set-cookie"):
        name_value = header.split(";", 1)[0]
        if name_value.startswith("minitwit_session="):
            return name_value
    raise RuntimeError(f"login of {username} set no session cookie")


def headers_for(timeline: Timeline, cookies: dict[str, str], url: str) -> dict[str, str]:
    headers = dict(AUTH) if timeline.method == "GET" else {}
    if timeline.viewer is not None:
        headers["Cookie"] = cookies[timeline.viewer]
        headers["Origin"] = url  # a POST with the session cookie must say it is ours
    return headers


def check(url: str, timeline: Timeline, cookies: dict[str, str]) -> int:
    """One request, which must succeed; returns how many messages it listed."""
    response = httpx.request(
        timeline.method,
        url + timeline.path,
        json=timeline.body,
        headers=headers_for(timeline, cookies, url),
        timeout=30,
    )
    body = response.json()
    if response.status_code != 200 or (isinstance(body, dict) and body.get("errors")):
        raise RuntimeError(f"{timeline.name}: {response.status_code} {body!r:.300}")
    if isinstance(body, list):
        return len(body)
    return len(next(iter(body["data"].values()))["nodes"])


def viewers() -> set[str]:
    return {t.viewer for t in TIMELINES if t.viewer is not None}


def measure_size(
    database_url: str, log_dir: Path, label: str, opts: GrowthOptions
) -> dict[str, Any]:
    server = MiniTwitServer(database_url, log_dir, f"growth_{label}").start()
    figures: dict[str, Any] = {}
    try:
        cookies = {name: sign_in(server.url, name) for name in viewers()}
        for timeline in TIMELINES:
            listed = check(server.url, timeline, cookies)
            log(f"wrk {label}: {timeline.name}")
            kwargs: dict[str, Any] = {"headers": headers_for(timeline, cookies, server.url)}
            if timeline.body is not None:
                kwargs["post"] = timeline.body
            if opts.warmup:
                wrk.run(
                    server.url + timeline.path,
                    connections=opts.connections,
                    seconds=opts.warmup,
                    **kwargs,
                )
            result = wrk.run(
                server.url + timeline.path,
                connections=opts.connections,
                seconds=opts.duration,
                **kwargs,
            ).as_dict()
            result["messages_listed"] = listed
            figures[timeline.name] = result
    finally:
        server.stop()
    figures["_peak_rss_mb"] = server.peak_rss
    return figures


def capture_sql(databases: Databases, name: str, log_dir: Path) -> dict[str, list[str]]:
    """The statements MiniTwit sends for one request of each timeline (through the proxy)."""
    proxy = CountingProxy().start()
    server = MiniTwitServer(proxy.url(name), log_dir, f"growth_capture_{name[-5:]}").start()
    captured: dict[str, list[str]] = {}
    try:
        cookies = {viewer: sign_in(server.url, viewer) for viewer in viewers()}
        for timeline in TIMELINES:
            mark = proxy.statement_mark()
            check(server.url, timeline, cookies)
            captured[timeline.name] = [
                s for s in proxy.statements_since(mark) if "messages" in s.lower()
            ]
    finally:
        server.stop()
        proxy.stop()
    return captured


def explain(url: str, statement: str) -> str:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        connection.rollback()
    finally:
        connection.close()
    return plan


def measure(databases: Databases, log_dir: Path, opts: GrowthOptions) -> dict[str, Any]:
    from minitwit.passwords import hash_password

    pw_hash = hash_password(PASSWORD)
    result: dict[str, Any] = {"generation": {}, "timelines": {}, "sql": {}, "peak_rss_mb": {}}
    per_size: dict[str, dict[str, Any]] = {}
    for label, size in SIZES.items():
        name = databases.create(f"growth_{label}")
        url = databases.url(name)
        log(f"generating the {label} data set ({size})")
        result["generation"][label] = generate(url, size, pw_hash)
        log(f"  {result['generation'][label]}")
        per_size[label] = measure_size(url, log_dir, label, opts)
        result["peak_rss_mb"][label] = per_size[label].pop("_peak_rss_mb")
        for timeline, statements in capture_sql(databases, name, log_dir).items():
            entry = result["sql"].setdefault(timeline, {"statements": statements, "explain": {}})
            entry["explain"][label] = [explain(url, s) for s in statements]
    for timeline in TIMELINES:
        result["timelines"][timeline.name] = {
            label: per_size[label][timeline.name] for label in SIZES
        }
    large = result["generation"]["large"]["seconds"]
    result["generation_under_a_minute"] = large < 60
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| timeline | small p50 ms | large p50 ms | small p99 ms | large p99 ms "
        "| small req/s | large req/s | large/small p50 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pair in result["timelines"].items():
        s, g = pair["small"], pair["large"]
        growth = g["p50_ms"] / s["p50_ms"] if s["p50_ms"] else float("nan")
        lines.append(
            f"| {name} | {s['p50_ms']:.2f} | {g['p50_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {g['p99_ms']:.2f} | {s['rps']:.0f} | {g['rps']:.0f} | {growth:.2f}x |"
        )
    for name, entry in result["sql"].items():
        lines.append(f"\n#### {name}\n")
        for statement, plan in zip(
            entry["statements"], entry["explain"].get("large", []), strict=False
        ):
            lines.append(f"```sql\n{statement}\n```\n\nlarge data set:\n\n```\n{plan}\n```")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    databases = Databases(args.pg)
    log_dir = Path(__import__("tempfile").mkdtemp(prefix="minitwit-growth-"))
    started = time.monotonic()
    info = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": machine(databases),
    }
    try:
        result = measure(databases, log_dir, GrowthOptions(args.duration, args.warmup))
    finally:
        databases.drop_all()
    result = {**info, "duration_s": round(time.monotonic() - started, 1), "growth": result}
    text = markdown(result["growth"])
    print(f"large data set generated in {result['growth']['generation']['large']['seconds']} s")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = args.out / f"{stamp}-{info['git']['short']}-growth.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(text + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
