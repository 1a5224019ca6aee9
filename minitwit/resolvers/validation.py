"""Checks on text that comes from outside, shared by every resolver."""

from __future__ import annotations

import unicodedata

from minitwit.resolvers.errors import Invalid

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_storable(value: str) -> bool:
    """Text every backend can store: encodable as UTF-8 and free of NUL."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def parse_id(raw: str | int, what: str = "id") -> int:
    """A positive database id, or Invalid."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid {what}") from None
    if not 0 < value <= INT32_MAX:
        raise Invalid(f"Invalid {what}")
    return value
