"""Logging: loguru and the standard library's loggers to stdout, as JSON lines or (for a
developer's terminal) one short coloured line per event; and the access log, one line per
request, written by the request middleware."""

from __future__ import annotations

import inspect
import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from minitwit.db.errors import is_unavailable

# The GraphQL operation's name, which the schema leaves in the request's state for the log line.
GRAPHQL_OPERATION = "graphql_operation"


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send loguru and the standard library's logging to stdout: one JSON object a line, or
    (``json_lines=False``, for a developer's terminal) one short coloured line per event."""
    logger.remove()
    if json_lines:
        logger.add(_json_sink, level=level.upper(), format="{message}")
    else:
        logger.add(sys.stdout, level=level.upper(), format=_console_format, colorize=None)
    level_no = logger.level(level.upper()).no
    ACCESS_LOG.configure(
        json_lines=json_lines, enabled=level_no <= INFO, not_modified=level_no <= DEBUG
    )
    # The standard library's loggers filter at the same level, so records below it are never
    # made; at level 0 uvicorn would also wrap the app in its per-message TRACE logger.
    logging.basicConfig(handlers=[_InterceptHandler()], level=level.upper(), force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "strawberry"):
        logging.getLogger(name).handlers = [_InterceptHandler()]
        logging.getLogger(name).propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def _console_format(record: Any) -> str:
    """``12:03:04 INFO  GET /msgs 200 3.1 ms Timeline 5f0c...``: the access line's fields in
    colour; other events as their message, with the request id when there is one."""
    extra = record["extra"]
    line = "<dim>{time:HH:mm:ss}</dim> <level>{level: <7}</level> "
    if "status" in extra and "method" in extra:
        status = extra["status"]
        colour = "green" if status < 400 else "yellow" if status < 500 else "red"
        line += f"{{extra[method]}} {{extra[path]}} <{colour}>{{extra[status]}}</{colour}>"
        line += " {extra[duration_ms]} ms"
        if extra.get("operation"):
            line += " <cyan>{extra[operation]}</cyan>"
    else:
        line += "{message}"
    if "request_id" in extra:
        line += " <dim>{extra[request_id]}</dim>"
    return line + "\n{exception}"


def _json_sink(message: Any) -> None:
    record = message.record
    entry: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "logger": record["name"],
        **record["extra"],
    }
    if record["exception"] is not None:
        entry["exception"] = "".join(traceback.format_exception(*record["exception"]))
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


INFO = logging.INFO
DEBUG = logging.DEBUG
NOT_MODIFIED = 304


class AccessLog:
    """One line per request. In JSON mode it is written straight to stdout, in the shape of
    every other JSON line: loguru's record, frame lookup and formatting cost more than the
    rest of a small request's logging, and this line is written for every request."""

    def __init__(self) -> None:
        self.configure(json_lines=False, enabled=True)

    def configure(self, *, json_lines: bool, enabled: bool, not_modified: bool = False) -> None:
        """``not_modified``: whether 304s (a browser revalidating a static file) are written;
        they are DEBUG events, too many to read at INFO."""
        self.json_lines = json_lines
        self.enabled = enabled
        self.not_modified = not_modified

    def write(
        self,
        request_id: str,
        method: str,
        path: str,
        route: str,
        status: int,
        ms: float,
        operation: str | None = None,
    ) -> None:
        if status == NOT_MODIFIED:
            if not self.not_modified:
                return
        elif not self.enabled:
            return
        level = "DEBUG" if status == NOT_MODIFIED else "INFO"
        if not self.json_lines:
            logger.log(
                level,
                "{method} {path} {status}",
                method=method,
                # a terminal would act on control characters (%1b is ESC) in a path
                path=path if path.isprintable() else path.encode("unicode_escape").decode(),
                status=status,
                route=route,
                duration_ms=ms,
                operation=operation,
            )
            return
        # The same object json.dumps would write for the dict of these keys, put together
        # without building the dict: this runs for every request.
        quoted_path = _quote(path)
        named = "" if operation is None else f', "operation": {_quote(operation)}'
        sys.stdout.write(
            f'{{"time": "{datetime.now(UTC).astimezone().isoformat()}", "level": "{level}", '
            f'"message": {_quote(f"{method} {path} {status}")}, "logger": "{__name__}", '
            f'"request_id": {_quote(request_id)}, "method": {_quote(method)}, '
            f'"path": {quoted_path}, "status": {status}, "route": {_quote(route)}, '
            f'"duration_ms": {ms!r}{named}}}\n'
        )
        sys.stdout.flush()


# One process-wide writer, like loguru's sinks: configure_logging sets it up.
ACCESS_LOG = AccessLog()
_quote = json.encoder.encode_basestring_ascii


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def log_failure(error: BaseException, where: str = "", **fields: Any) -> bool:
    """Log ``error``: a one-line warning when the database is unavailable (a condition that
    passes, worth no traceback), else the error with its traceback. ``where`` (a loguru
    template filled from ``fields``) says what was being done: "in GraphQL resolver at {path}".
    Returns whether the database was unavailable."""
    where = f" {where}" if where else ""
    if is_unavailable(error):
        logger.warning(
            "database unavailable" + where + ": {error}", error=first_line(error), **fields
        )
        return True
    logger.opt(exception=error).error("unexpected error" + where, **fields)
    return False


def first_line(error: BaseException) -> str:
    """``error`` in one line, for a warning that needs no traceback."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
