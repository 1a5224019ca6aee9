"""A counting TCP proxy between an application and PostgreSQL.

It forwards bytes unchanged both ways and parses what the client sends (the frontend side of
PostgreSQL's wire protocol, version 3): every simple-protocol ``Query`` ('Q') is one round trip,
and the statements in its text are counted one by one (``BEGIN``, ``COMMIT`` and ``ROLLBACK``
included); the extended protocol's ``Parse``/``Bind``/``Execute``/``Sync`` are counted too,
each ``Sync`` being one round trip. SSL and GSS encryption requests are answered "no" by the
proxy itself, so the session stays readable whatever ``sslmode`` the client prefers.

Used only in a separate counting pass, never while latency or throughput is measured.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
STATEMENT_LOG_MAX = 20_000


@dataclass
class Counts:
    round_trips: int = 0
    statements: int = 0
    connections: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    keywords: Counter[str] = field(default_factory=Counter)

    def minus(self, before: Counts) -> Counts:
        return Counts(
            round_trips=self.round_trips - before.round_trips,
            statements=self.statements - before.statements,
            connections=self.connections - before.connections,
            messages=self.messages - before.messages,
            keywords=self.keywords - before.keywords,
        )


def split_statements(text: str) -> list[str]:
    """The statements of a simple query: split at ``;`` outside quotes, dollar quotes and
    comments; empty statements dropped."""
    statements: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in ("'", '"'):
            i += 1
            while i < n:
                if text[i] == c:
                    if i + 1 < n and text[i + 1] == c:  # doubled quote
                        i += 2
                        continue
                    break
                # E'...' strings escape with backslashes
                if c == "'" and text[i] == "\\" and _is_escape_string(text, start, i):
                    i += 1
                i += 1
        elif c == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif c == "$":
            end_tag = text.find("$", i + 1)
            tag = text[i : end_tag + 1] if end_tag > 0 else ""
            if tag and (tag == "$$" or tag[1:-1].replace("_", "a").isalnum()):
                close = text.find(tag, end_tag + 1)
                i = n if close < 0 else close + len(tag) - 1
        elif c == ";":
            statements.append(text[start:i])
            start = i + 1
        i += 1
    statements.append(text[start:])
    return [s.strip() for s in statements if s.strip()]


def _is_escape_string(text: str, segment_start: int, position: int) -> bool:
    opening = text.rfind("'", segment_start, position)
    while opening > 0 and text[opening - 1] == "'":
        opening = text.rfind("'", segment_start, opening - 1)
    return opening > 0 and text[opening - 1] in "eE"


def keyword(statement: str) -> str:
    words = statement.split(None, 1)
    return words[0].upper() if words else ""


class CountingProxy:
    """Listens on a loopback port and forwards to ``upstream``; counts in a background thread."""

    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._counts = Counts()
        self._statements: list[str] = []
        self._dropped = 0  # statements dropped from the front of the log
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- control from the benchmark's thread ------------------------------------------------

    def start(self) -> CountingProxy:
        self._thread = threading.Thread(target=self._serve, name="pgproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def snapshot(self) -> Counts:
        with self._lock:
            c = self._counts
            return Counts(
                c.round_trips, c.statements, c.connections, Counter(c.messages), Counter(c.keywords)
            )

    def statement_mark(self) -> int:
        with self._lock:
            return self._dropped + len(self._statements)

    def statements_since(self, mark: int) -> list[str]:
        with self._lock:
            return list(self._statements[max(0, mark - self._dropped) :])

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    # -- the proxy ---------------------------------------------------------------------------

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        with self._lock:
            self._counts.connections += 1
        downstream = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            await self._frontend(reader, writer, up_writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            up_writer.close()
            await asyncio.gather(downstream, return_exceptions=True)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _frontend(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
    ) -> None:
        # Start-up: untyped messages until the StartupMessage (or a cancel request).
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            rest = await reader.readexactly(length - 8)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            upstream.write(head + rest)
            await upstream.drain()
            if code == CANCEL_REQUEST:
                return
            break
        while True:
            head = await reader.readexactly(5)
            kind = chr(head[0])
            (length,) = struct.unpack("!i", head[1:])
            body = await reader.readexactly(length - 4)
            self._count(kind, body)
            upstream.write(head + body)
            await upstream.drain()
            if kind == "X":
                return

    def _log(self, statement: str) -> None:
        self._statements.append(statement)
        if len(self._statements) > STATEMENT_LOG_MAX:
            dropped = len(self._statements) // 2
            del self._statements[:dropped]
            self._dropped += dropped

    def _count(self, kind: str, body: bytes) -> None:
        with self._lock:
            counts = self._counts
            counts.messages[kind] += 1
            if kind == "Q":
                counts.round_trips += 1
                text = body.rstrip(b"\x00").decode("utf-8", "replace")
                for statement in split_statements(text):
                    counts.statements += 1
                    counts.keywords[keyword(statement)] += 1
                    self._log(statement)
            elif kind == "S":
                counts.round_trips += 1
            elif kind == "E":
                counts.statements += 1
            elif kind == "P":
                query = body.split(b"\x00", 2)[1].decode("utf-8", "replace")
                counts.keywords[keyword(query)] += 1
                self._log(query)
