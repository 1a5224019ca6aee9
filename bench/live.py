"""Live timelines under load (issue 11 item 7): many subscribers on ONE worker process.

    PYTHONPATH=. .venv/bin/python -m bench.live                  # 1,000 subscribers, ~3 minutes
    PYTHONPATH=. .venv/bin/python -m bench.live --quick          # 100 subscribers, a smoke run

It starts ``minitwit serve`` (production settings, one uvicorn worker) on a fresh PostgreSQL
database, opens N WebSockets to it, each subscribed to ``publicTimelineEvents``, and posts one
message every 100 ms through the simulator API for a while. It reports:

- **latency**: for every (subscriber, message), from the moment the client SENT the POST to the
  moment the subscriber received the event: an upper bound of commit-to-delivery (the commit
  happens between the two). The server's own histogram (``minitwit_live_delivery_latency``:
  from the trigger's NOTIFY, inside the transaction, to the hand-over to the subscription) is
  reported beside it.
- **missing**: deliveries that never arrived (and REFETCH events, which replace dropped ones).
- **memory per subscriber**: the worker's RSS with N subscribers minus its RSS before, over N.
- **throughput cost**: ``wrk`` on ``GET /msgs?no=30`` (16 connections, 10 s) while the posts go
  on, with the N subscribers connected and receiving, and again after they left.

Subscribers and wrk run on the same machine as the server (2 cores here), so the figures
include the clients' own CPU: they are pessimistic. Run it alone, on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench import wrk
from bench.services import DEFAULT_PG, Databases, git_state, machine
from minitwit.ops.replay import percentile
from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.servers import REPO, ServerProcess

RESULTS = REPO / "bench" / "results"
AUTH = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
QUERY = "subscription BenchLive { publicTimelineEvents { kind message { text } } }"
TEXT = re.compile(r'"text":"bench (\d+)"')


@dataclass
class Subscriber:
    received: dict[int, float] = field(default_factory=dict)
    refetches: int = 0
    ws: ClientConnection | None = None

    async def open(self, url: str) -> None:
        self.ws = await connect(
            url.replace("http://", "ws://") + "/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None,
            open_timeout=60,
            ping_interval=None,
        )
        await self.ws.send(json.dumps({"type": "connection_init"}))
        ack = json.loads(await self.ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        payload = {"query": QUERY}
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))

    async def listen(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            now = time.monotonic()
            text = frame if isinstance(frame, str) else frame.decode()
            found = TEXT.search(text)
            if found:
                self.received[int(found.group(1))] = now
            elif '"REFETCH"' in text:
                self.refetches += 1


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def metric(metrics: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def histogram_quantile(metrics: str, name: str, q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` (Prometheus' own approximation)."""
    buckets = [
        (float("inf") if le == "+Inf" else float(le), float(count))
        for le, count in re.findall(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics, re.M)
    ]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return None


async def wait_for(predicate: Any, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {what}")
        await asyncio.sleep(0.2)


async def measure(
    url: str, pid: int, subscribers: int, seconds: float, interval: float, wrk_seconds: int = 10
) -> dict[str, Any]:
    http = httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH)
    body = {"username": "poster", "email": "poster@example.org", "pwd": "pw"}
    assert (await http.post("/register", json=body)).status_code == 204

    async def metrics() -> str:
        return (await http.get("/metrics")).text

    async def subscribed(n: int) -> bool:
        return metric(await metrics(), 'minitwit_live_subscriptions{timeline="public"}') == n

    await asyncio.sleep(2)
    rss_before = rss_kb(pid)
    clients = [Subscriber() for _ in range(subscribers)]
    opened = time.monotonic()
    for start in range(0, subscribers, 50):  # in waves, as a real crowd arrives
        await asyncio.gather(*(c.open(url) for c in clients[start : start + 50]))
    listeners = [asyncio.create_task(c.listen()) for c in clients]
    await wait_for(lambda: subscribed(subscribers), "all subscribed", 120)
    open_seconds = time.monotonic() - opened
    await asyncio.sleep(3)
    rss_with = rss_kb(pid)

    sent: dict[int, float] = {}
    answered: dict[int, float] = {}
    stop_posting = asyncio.Event()

    async def post_forever() -> None:
        seq = 0
        next_at = time.monotonic()
        while not stop_posting.is_set():
            seq += 1
            sent[seq] = time.monotonic()
            response = await http.post("/msgs/poster", json={"content": f"bench {seq}"})
            answered[seq] = time.monotonic()
            if response.status_code != 204:
                raise RuntimeError(f"post failed: {response.status_code} {response.text}")
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    poster = asyncio.create_task(post_forever())
    await asyncio.sleep(seconds)
    measured = dict(sent)  # the posts of the latency window
    first_during_reads = max(sent, default=0) + 1
    reads_with = await asyncio.to_thread(
        wrk.run,
        f"{url}/msgs?no=30",
        connections=16,
        seconds=wrk_seconds,
        headers={"Authorization": DEFAULT_SIMULATOR_AUTH},
    )
    last_during_reads = max(sent, default=0)
    stop_posting.set()
    await poster
    await asyncio.sleep(5)  # the last deliveries arrive
    server_metrics = await metrics()
    during_reads = sorted(
        got - sent[seq]
        for client in clients
        for seq in range(first_during_reads, last_during_reads + 1)
        if (got := client.received.get(seq)) is not None
    )

    latencies = []
    missing = 0
    for client in clients:
        for seq, at in measured.items():
            got = client.received.get(seq)
            if got is None:
                missing += 1
            else:
                latencies.append(got - at)
    latencies.sort()
    refetches = sum(c.refetches for c in clients)

    for client in clients:
        assert client.ws is not None
        await client.ws.close()
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await wait_for(lambda: subscribed(0), "all gone", 60)

    stop_posting.clear()
    poster = asyncio.create_task(post_forever())
    reads_without = await asyncio.to_thread(
        wrk.run,
        f"{url}/msgs?no=30",
        connections=16,
        seconds=wrk_seconds,
        headers={"Authorization": DEFAULT_SIMULATOR_AUTH},
    )
    stop_posting.set()
    await poster
    await http.aclose()

    post_times = sorted(answered[s] - sent[s] for s in measured if s in answered)
    return {
        "subscribers": subscribers,
        "posts": len(measured),
        "interval_s": interval,
        "deliveries_expected": len(measured) * subscribers,
        "deliveries_missing": missing,
        "refetch_events": refetches,
        "latency_from_post_sent_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
        "latency_while_wrk_reads_ms": {
            "p50": round(percentile(during_reads, 0.50) * 1000, 1),
            "p99": round(percentile(during_reads, 0.99) * 1000, 1),
        },
        "server_notify_to_delivery_p99_bucket_s": histogram_quantile(
            server_metrics, "minitwit_live_delivery_latency_seconds", 0.99
        ),
        "post_response_ms": {
            "p50": round(percentile(post_times, 0.50) * 1000, 1),
            "p99": round(percentile(post_times, 0.99) * 1000, 1),
        },
        "dropped_events_server": metric(server_metrics, "minitwit_live_events_dropped_total"),
        "open_all_s": round(open_seconds, 1),
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_with_subscribers_mb": round(rss_with / 1024, 1),
        "memory_per_subscriber_kb": round((rss_with - rss_before) / subscribers, 1),
        "reads_with_subscribers": reads_with.as_dict(),
        "reads_without_subscribers": reads_without.as_dict(),
        "throughput_ratio_with_over_without": round(reads_with.rps / reads_without.rps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--wrk-seconds", type=int, default=10, help="each read throughput run")
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--quick", action="store_true", help="100 subscribers for 10 s")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.seconds = 100, 10.0
    databases = Databases(args.pg)
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = datetime.now(UTC)
    try:
        url = databases.url(databases.create("live"))
        log_dir = Path(tempfile.mkdtemp(prefix="bench-live-"))
        server = ServerProcess(
            url,
            log_dir / "server.log",
            SECRET_KEY=uuid.uuid4().hex,
            LOG_LEVEL="INFO",
            MINITWIT_LIVE_CONNECTIONS_PER_ADDRESS=str(args.subscribers + 10),
        ).start()
        try:
            assert server.process is not None
            figures = asyncio.run(
                measure(
                    server.url,
                    server.process.pid,
                    args.subscribers,
                    args.seconds,
                    args.interval,
                    args.wrk_seconds,
                )
            )
        finally:
            server.stop()
        results = {
            "kind": "live",
            "date": started.isoformat(timespec="seconds"),
            "machine": machine(databases),
            "git": git_state(),
            "options": vars(args) | {"out": str(args.out), "pg": "(admin url)"},
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "live": figures,
        }
    finally:
        databases.drop_all()
    print(table(figures))
    suffix = "-quick" if args.quick else ""
    stamp = started.strftime("%Y-%m-%dT%H%M%SZ")
    out = args.out / f"{stamp}-{results['git']['commit'][:7]}.live{suffix}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


def table(f: dict[str, Any]) -> str:
    lat = f["latency_from_post_sent_ms"]
    target = "PASS" if lat["p99"] < 500 else "MISS"
    rows = [
        ("subscribers on one worker", f["subscribers"], ""),
        (f"posts (one every {f['interval_s']:g} s)", f["posts"], ""),
        (
            "deliveries missing / expected",
            f"{f['deliveries_missing']} / {f['deliveries_expected']}",
            "",
        ),
        ("REFETCH events received", f["refetch_events"], ""),
        ("p50 post sent -> delivered, ms", lat["p50"], ""),
        ("p99 post sent -> delivered, ms", lat["p99"], f"< 500: {target}"),
        ("max post sent -> delivered, ms", lat["max"], ""),
        (
            "p99 post sent -> delivered while wrk reads, ms",
            f["latency_while_wrk_reads_ms"]["p99"],
            "",
        ),
        (
            "server p99 NOTIFY -> hand-over, whole run (bucket bound), s",
            f["server_notify_to_delivery_p99_bucket_s"],
            "",
        ),
        ("memory per subscriber, KiB", f["memory_per_subscriber_kb"], ""),
        (
            "worker RSS before / with subscribers, MB",
            f"{f['rss_before_mb']} / {f['rss_with_subscribers_mb']}",
            "",
        ),
        ("GET /msgs?no=30 @16 req/s with subscribers", f["reads_with_subscribers"]["rps"], ""),
        ("GET /msgs?no=30 @16 req/s without", f["reads_without_subscribers"]["rps"], ""),
        ("throughput with / without", f["throughput_ratio_with_over_without"], ""),
    ]
    lines = ["| figure | value | target |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {target_} |" for name, value, target_ in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
