"""minitwit/db/errors.py and log_failure: what counts as the database being unavailable, and how
it is logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger
from sqlalchemy import text

from minitwit.db.database import Database
from minitwit.db.errors import is_unavailable
from minitwit.ops.logs import log_failure
from minitwit.settings import Settings


@pytest.fixture
def records() -> Iterator[list[Any]]:
    seen: list[Any] = []
    sink = logger.add(lambda message: seen.append(message.record), level="DEBUG")
    yield seen
    logger.remove(sink)


def _unreachable_database_error() -> BaseException:
    database = Database(Settings(database_url="postgresql://nobody@127.0.0.1:1/nothing"))
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return error
    finally:
        database.dispose()
    raise AssertionError("port 1 answered")


def test_an_unavailable_database_is_one_warning_line_without_traceback(
    records: list[Any],
) -> None:
    error = _unreachable_database_error()
    assert is_unavailable(error)
    assert log_failure(error, "while storing latest={value}", value=7) is True
    (record,) = records
    assert record["level"].name == "WARNING"
    assert record["message"].startswith("database unavailable while storing latest=7: ")
    assert record["message"].endswith("Connection refused")
    assert record["exception"] is None
    assert record["extra"]["value"] == 7


def test_anything_else_is_an_error_with_its_traceback(records: list[Any]) -> None:
    try:
        raise ValueError("a bug")
    except ValueError as error:
        unavailable = log_failure(error, "in GraphQL resolver at {path}", path=["viewer"])
    assert unavailable is False
    (record,) = records
    assert record["level"].name == "ERROR"
    assert record["message"] == "unexpected error in GraphQL resolver at ['viewer']"
    assert record["exception"] is not None
    assert record["exception"].type is ValueError
