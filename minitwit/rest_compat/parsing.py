"""Reading the simulator's query parameters and JSON bodies without ever failing with a 500.

Query values follow the reference (werkzeug's ``args.get(name, type=int)``): the first value
of a repeated parameter counts and anything ``int()`` refuses is as good as absent. Bodies are
JSON objects whose named keys must hold strings; every other shape is :class:`Invalid`, a 400.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import QueryParams

from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import INT64_MAX, INT64_MIN

NOTHING = -1
NOT_AN_OBJECT = "The request body must be a JSON object"


def _first(query: QueryParams, name: str) -> str | None:
    values = query.getlist(name)
    return values[0] if values else None


def _integer(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def parse_latest(query: QueryParams) -> int | None:
    """The ``latest`` to store, or None: absent, not an integer, ``-1`` or outside int64."""
    value = _integer(_first(query, "latest"))
    if value is None or value == NOTHING or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


def parse_no(query: QueryParams, *, default: int, maximum: int) -> int:
    """A list's length limit: ``default`` unless a non-negative integer, at most ``maximum``."""
    raw = _first(query, "no")
    value = _integer(raw)
    if value is None:
        # int() refuses digit strings over 4300 digits; such a number is above every cap.
        digits = (raw or "").strip().removeprefix("+")
        value = maximum if digits.isdecimal() else default
    elif value < 0:
        value = default
    return min(value, maximum)


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Invalid."""
    if not body.strip():
        raise Invalid("The request body must be a JSON object, but it is empty")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Invalid("The request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise Invalid(NOT_AN_OBJECT)
    return document


def text_field(document: dict[str, Any], key: str) -> str:
    """``document[key]`` when it is a string, or Invalid naming the key."""
    if key not in document:
        raise Invalid(f"The request body has no '{key}' key")
    value = document[key]
    if not isinstance(value, str):
        raise Invalid(f"'{key}' must be a string")
    return value


def follow_action(document: dict[str, Any]) -> tuple[bool, str]:
    """``(True, whom)`` to follow, ``(False, whom)`` to unfollow; ``follow`` wins if both."""
    if "follow" in document:
        return True, text_field(document, "follow")
    if "unfollow" in document:
        return False, text_field(document, "unfollow")
    raise Invalid("The request body needs a 'follow' or an 'unfollow' key")
