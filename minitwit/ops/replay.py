"""``minitwit replay URL``: drive a server with a simulator scenario file, as the course does.

A client, not part of the server: it needs ``httpx`` (``pip install 'minitwit[replay]'``).

With one worker it behaves like the course's ``minitwit_simulator.py``: every action in file
order, one request at a time, a new connection each (``Connection: close``), the same headers,
bodies and timeout. With ``--workers N`` the actions are sharded by acting user: first every
registration, then everything else, each user's actions in file order on one worker; the
file's last action is sent alone at the very end, so ``/latest`` ends at the same value as a
sequential run.

Errors are printed to stdout in the simulator's CSV form (so empty stdout still means a
pass); on stderr a terminal sees a progress line (done/total, rate, errors so far, eta), and
every run ends with one summary line. The exit status is 1 on any error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import ssl
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import httpx

from minitwit.settings import DEFAULT_SIMULATOR_AUTH, SIMULATOR_TIMEOUT_SECONDS

KINDS = ("register", "tweet", "follow", "unfollow")
EXPECTED_STATUS: dict[str, frozenset[int]] = {
    "register": frozenset({204, 400}),
    "tweet": frozenset({204}),
    "follow": frozenset({204}),
    "unfollow": frozenset({204}),
}
# What ``requests`` (the simulator's client) reports each httpx failure as.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.PoolTimeout,
)


class ScenarioError(ValueError):
    """A line of the scenario file that cannot be replayed."""


@dataclass(frozen=True, slots=True)
class Action:
    """One scenario line: ``latest`` id, action kind, acting user and the kind's arguments."""

    latest: int
    kind: str
    username: str
    argument: str
    password: str = ""

    @classmethod
    def parse(cls, line: str) -> Action:
        fields = line.rstrip("\n").split("\t")
        try:
            latest, kind, username, argument = int(fields[0]), fields[3], fields[4], fields[5]
        except (IndexError, ValueError):
            raise ScenarioError(f"not a scenario line: {line.rstrip()!r}") from None
        if kind not in KINDS:
            raise ScenarioError(f"Unknown type found: ({kind})")
        return cls(latest, kind, username, argument, fields[-1] if kind == "register" else "")

    def request(self) -> tuple[str, bytes]:
        """The path (with query) and JSON body the simulator sends for this action."""
        if self.kind == "register":
            path = "/register"
            body = {"username": self.username, "email": self.argument, "pwd": self.password}
        elif self.kind == "tweet":
            path = f"/msgs/{quote(self.username, safe='')}"
            body = {"content": self.argument}
        else:
            path = f"/fllws/{quote(self.username, safe='')}"
            body = {self.kind: self.argument}
        return f"{path}?latest={self.latest}", json.dumps(body).encode()


def read_scenario(
    path: Path, limit: int | None = None, skip: int = 0
) -> tuple[list[Action], list[tuple[int, str]]]:
    """The actions of a scenario file (``limit`` lines after the first ``skip``), and the
    (line number, problem) of lines that are not."""
    actions: list[Action] = []
    problems: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", newline="\n") as lines:
        for number, line in enumerate(lines, start=1):
            if number <= skip:
                continue
            if limit is not None and number > skip + limit:
                break
            if not line.strip():
                continue
            try:
                actions.append(Action.parse(line))
            except ScenarioError as exc:
                problems.append((number, str(exc)))
    return actions, problems


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    seconds: float
    status: int | None = None
    failure: str | None = None
    sent_at: float = 0.0  # Unix time
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status in EXPECTED_STATUS[self.action.kind]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Report:
    workers: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    slow: Counter[str] = field(default_factory=Counter)  # requests >= 300 ms, by action kind
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        rate = self.requests / self.seconds if self.seconds else 0.0
        p50, p99 = percentile(ordered, 0.50), percentile(ordered, 0.99)
        longest = ordered[-1] if ordered else 0.0
        statuses = ", ".join(f"{key}: {n}" for key, n in sorted(self.statuses.items()))
        return (
            f"{self.requests} requests in {self.seconds:.1f} s ({rate:.0f}/s) "
            f"with {self.workers} worker{'s' if self.workers != 1 else ''}, "
            f"{self.errors} error{'s' if self.errors != 1 else ''}; "
            f"latency ms: p50 {p50 * 1000:.1f}, p99 {p99 * 1000:.1f}, max {longest * 1000:.1f}; "
            f"statuses: {statuses}"
        )


class Replayer:
    """Sends actions to one server and keeps the score; safe to use from several threads."""

    def __init__(
        self,
        base_url: str,
        *,
        workers: int = 1,
        timeout: float = SIMULATOR_TIMEOUT_SECONDS,
        auth: str = DEFAULT_SIMULATOR_AUTH,
        out: TextIO | None = None,
        progress: TextIO | None = None,
        total: int = 0,
        verify: ssl.SSLContext | bool = True,
        rate: float | None = None,
        journal: TextIO | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        # Each worker waits this long between the starts of its requests: ``rate`` in all.
        self.interval = workers / rate if rate else 0.0
        self.journal = journal
        self.host = base_url
        self.workers = workers
        self.timeout = timeout
        self.headers = {
            "Connection": "close",
            "Content-Type": "application/json",
            "Authorization": auth,
        }
        self.out = out
        self.progress = progress
        self.total = total
        self.report = Report(workers=workers)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._shown = 0.0

    def client(self) -> httpx.Client:
        """A client that opens a new connection for every request, as the simulator does."""
        return httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            headers=self.headers,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=self.verify,
        )

    def send(self, client: httpx.Client, action: Action) -> Outcome:
        path, body = action.request()
        sent_at = time.time()
        started = time.perf_counter()
        try:
            response = client.post(path, content=body)
        except httpx.ReadTimeout:
            outcome = Outcome(action, time.perf_counter() - started, failure="ReadTimeout")
        except CONNECTION_ERRORS:
            outcome = Outcome(action, time.perf_counter() - started, failure="ConnectionError")
        except Exception as exc:  # the simulator reports any other failure by its class, too
            trace = "".join(traceback.format_exception(exc))
            outcome = Outcome(action, time.perf_counter() - started, failure=type(exc).__name__)
            self._write("=" * 40 + "\n" + trace)
        else:
            outcome = Outcome(
                action,
                time.perf_counter() - started,
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        outcome = dataclasses.replace(outcome, sent_at=sent_at)
        self._record(outcome)
        return outcome

    def run(self, shards: Iterable[Sequence[Action]]) -> None:
        """Send every shard's actions in order, the shards in parallel threads."""
        shards = [shard for shard in shards if shard]
        if len(shards) <= 1:  # a phase with nothing to send (a scenario of sign-ups only)
            for shard in shards:
                self._run_shard(shard)
            return
        with ThreadPoolExecutor(max_workers=len(shards)) as pool:
            for future in [pool.submit(self._run_shard, shard) for shard in shards]:
                future.result()

    def _run_shard(self, actions: Sequence[Action]) -> None:
        with self.client() as client:
            due = time.monotonic()
            for action in actions:
                if self.interval:
                    time.sleep(max(0.0, due - time.monotonic()))
                    due += self.interval
                self.send(client, action)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.report.latencies.append(outcome.seconds)
            if outcome.seconds >= SIMULATOR_TIMEOUT_SECONDS:
                self.report.slow[outcome.action.kind] += 1
            self.report.statuses[outcome.failure or str(outcome.status)] += 1
            self.report.outcomes.append(outcome)
            if self.journal is not None:
                self.journal.write(journal_line(outcome))
            if not outcome.ok:
                self.report.errors += 1
                self._write(self.error_line(outcome) + "\n")
            self._show_progress()

    def error_line(self, outcome: Outcome) -> str:
        """The line ``minitwit_simulator.py`` prints for this failure."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = [stamp, self.host, str(outcome.action.latest)]
        if outcome.failure is not None:
            fields.append(outcome.failure)
        else:
            fields += [str(outcome.status), outcome.action.kind]
        return ",".join(fields)

    def _write(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text)
            self.out.flush()

    def _show_progress(self, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not final and now - self._shown < 0.2:
            return
        self._shown = now
        self.progress.write("\r" + self.progress_line(now - self._started) + "\x1b[K")
        if final:
            self.progress.write("\n")
        self.progress.flush()

    def progress_line(self, elapsed: float) -> str:
        """``done/total (share), rate, errors so far, eta``: what a terminal shows meanwhile."""
        done = self.report.requests
        share = f" ({100 * done / self.total:.0f} %)" if self.total else ""
        rate = done / elapsed if elapsed > 0 else 0.0
        errors = self.report.errors
        left = max(self.total - done, 0)
        eta = _clock(left / rate) if rate else "?"
        return (
            f"{done}/{self.total}{share}, {rate:.0f}/s, "
            f"{errors} error{'s' if errors != 1 else ''}, eta {eta}"
        )

    def finish(self) -> None:
        with self._lock:
            self._show_progress(final=True)


def journal_line(outcome: Outcome) -> str:
    """One request as a JSON line: when it was sent, what, and how it was answered."""
    return (
        json.dumps(
            {
                "sent_at": round(outcome.sent_at, 3),
                "latest": outcome.action.latest,
                "kind": outcome.action.kind,
                "user": outcome.action.username,
                "status": outcome.status,
                "failure": outcome.failure,
                "ms": round(outcome.seconds * 1000, 1),
                "retry_after": outcome.retry_after,
                "ok": outcome.ok,
            }
        )
        + "\n"
    )


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def plan(actions: Sequence[Action], workers: int) -> list[list[list[Action]]]:
    """Phases of shards: in each phase the shards run in parallel, phases one after another.

    One worker: a single phase with the file's order. More: registrations, then the other
    actions, sharded by acting user (balanced by action count), then the last action alone.
    """
    if workers <= 1 or len(actions) <= 1:
        return [[list(actions)]]
    *body, last = actions
    per_user = Counter(action.username for action in body)
    loads = [0] * workers
    shard_of: dict[str, int] = {}
    for username, count in per_user.most_common():
        shard = loads.index(min(loads))
        shard_of[username] = shard
        loads[shard] += count
    phases: list[list[list[Action]]] = []
    for registrations in (True, False):
        shards: list[list[Action]] = [[] for _ in range(workers)]
        for action in body:
            if (action.kind == "register") == registrations:
                shards[shard_of[action.username]].append(action)
        phases.append(shards)
    phases.append([[last]])
    return phases


def replay(
    base_url: str,
    actions: Sequence[Action],
    *,
    workers: int = 1,
    timeout: float = SIMULATOR_TIMEOUT_SECONDS,
    auth: str = DEFAULT_SIMULATOR_AUTH,
    out: TextIO | None = None,
    progress: TextIO | None = None,
    verify: ssl.SSLContext | bool = True,
    rate: float | None = None,
    journal: TextIO | None = None,
) -> Report:
    """Replay ``actions`` against ``base_url``; the report holds every latency and the errors."""
    replayer = Replayer(
        base_url,
        workers=workers,
        timeout=timeout,
        auth=auth,
        out=out,
        progress=progress,
        total=len(actions),
        verify=verify,
        rate=rate,
        journal=journal,
    )
    started = time.perf_counter()
    for phase in plan(actions, workers):
        replayer.run(phase)
    replayer.report.seconds = time.perf_counter() - started
    replayer.finish()
    return replayer.report


def command(
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    isatty: Callable[[], bool] | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    skip = getattr(args, "skip", 0)
    try:
        actions, problems = read_scenario(args.scenario, args.limit, skip)
        before, _ = read_scenario(args.scenario, skip) if skip else ([], [])
    except OSError as exc:
        err.write(f"error: cannot read the scenario: {exc}\n")
        return 1
    verify: ssl.SSLContext | bool = True
    if getattr(args, "cacert", None) is not None:
        try:
            verify = ssl.create_default_context(cafile=str(args.cacert))
        except OSError as exc:  # ssl.SSLError too
            err.write(f"error: cannot use {args.cacert} as a CA certificate: {exc}\n")
            return 1
    for number, problem in problems:
        err.write(f"{args.scenario}:{number}: {problem}\n")
    tty = (isatty or err.isatty)()
    if tty:
        err.write(f"replaying {len(actions)} actions of {args.scenario} against {args.url}\n")
    journal = getattr(args, "journal", None)
    with (
        journal.open("a", encoding="utf-8") if journal is not None else nullcontext()
    ) as journal_file:
        report = replay(
            args.url,
            actions,
            workers=args.workers,
            timeout=args.timeout,
            auth=args.auth,
            out=out,
            progress=err if tty else None,
            verify=verify,
            rate=getattr(args, "rate", None),
            journal=journal_file,
        )
    err.write(f"{args.scenario}: {report.summary()}\n")
    if problems:
        err.write(f"{len(problems)} scenario lines could not be replayed\n")
    mismatches: list[str] = []
    if getattr(args, "check", False):
        mismatches = check_state(args.url, before, report.outcomes, auth=args.auth, verify=verify)
        for mismatch in mismatches:
            err.write(f"state: {mismatch}\n")
        err.write(f"state: {len(mismatches)} mismatches against what the answered requests wrote\n")
    return 1 if report.errors or problems or mismatches else 0


@dataclass
class _Expected:
    """What the server must hold after a replay: for each registered user, the messages
    (``True`` where the request was answered, ``False`` where it may or may not have been
    written) and the followed users (``None`` where unanswered requests leave it open)."""

    users: set[str] = field(default_factory=set)
    messages: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    follows: dict[str, dict[str, bool | None]] = field(default_factory=dict)

    def add(self, action: Action, answered: bool) -> None:
        user = action.username
        if action.kind == "register":
            if answered:
                self.users.add(user)
            self.messages.setdefault(user, [])
            self.follows.setdefault(user, {})
        elif action.kind == "tweet":
            self.messages.setdefault(user, []).append((action.argument, answered))
        else:
            follows = self.follows.setdefault(user, {})
            if answered:
                follows[action.argument] = action.kind == "follow"
            elif follows.get(action.argument) != (action.kind == "follow"):
                follows[action.argument] = None


def check_state(
    base_url: str,
    before: Sequence[Action],
    outcomes: Sequence[Outcome],
    *,
    auth: str = DEFAULT_SIMULATOR_AUTH,
    verify: ssl.SSLContext | bool = True,
) -> list[str]:
    """Read every user's messages and follows back from the simulator API and compare them
    with what the replay wrote: every answered write is there, in order, and nothing is there
    that no request sent. ``before`` are actions replayed earlier (``--skip``), all answered.
    Returns the mismatches, none when the state is exact."""
    expected = _Expected()
    for action in before:
        expected.add(action, True)
    for outcome in sorted(outcomes, key=lambda o: o.action.latest):
        expected.add(outcome.action, outcome.ok)
    problems: list[str] = []
    headers = {"Authorization": auth}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, verify=verify) as client:
        for user, sent in expected.messages.items():
            path = quote(user, safe="")
            response = client.get(f"/msgs/{path}", params={"no": 100_000})
            if response.status_code != 200:
                if user in expected.users:
                    problems.append(f"{user}: GET /msgs answered {response.status_code}")
                continue
            held = [item["content"] for item in response.json()][::-1]
            answered = [text for text, ok in sent if ok]
            if all(ok for _, ok in sent):
                if held != answered:
                    problems.append(f"{user}: {len(held)} messages, {len(answered)} expected")
            else:
                missing = Counter(answered) - Counter(held)
                unsent = Counter(held) - Counter(text for text, _ in sent)
                if missing or unsent:
                    problems.append(
                        f"{user}: {sum(missing.values())} answered messages missing, "
                        f"{sum(unsent.values())} that nobody sent"
                    )
            response = client.get(f"/fllws/{path}", params={"no": 100_000})
            held_follows = set(response.json()["follows"]) if response.status_code == 200 else set()
            for target, state in expected.follows.get(user, {}).items():
                if state is not None and (target in held_follows) != state:
                    problems.append(f"{user}: follows {target} is {not state}, expected {state}")
            strangers = held_follows - set(expected.follows.get(user, {}))
            if strangers:
                problems.append(f"{user}: follows {sorted(strangers)} that nobody asked for")
    return problems
