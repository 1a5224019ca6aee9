"""Checks on text that comes from outside, shared by every resolver."""

from __future__ import annotations

import base64
import binascii
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


def parse_id(raw: str | int, what: str = "id", *, field: str = "id") -> int:
    """A positive database id, or Invalid."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Invalid(f"Invalid {what}", field=field) from None
    if not 0 < value <= INT32_MAX:
        raise Invalid(f"Invalid {what}", field=field)
    return value


def global_id(type_name: str, row_id: int) -> str:
    """The GraphQL global id of a row: base64 of ``"Type:id"`` (Strawberry's relay format)."""
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def parse_global_id(raw: str, type_name: str, what: str = "id", *, field: str = "id") -> int:
    """The database id in a global id of ``type_name`` (``global_id``'s output), or Invalid.

    A bare decimal id (``"42"``) is accepted too: message ids were bare integers before
    global ids, and clients and scripts that kept one still work (deprecated).
    """
    if raw.isascii() and raw.strip().isdigit():
        return parse_id(raw, what, field=field)
    try:
        decoded = base64.b64decode(raw.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, ValueError, binascii.Error):
        raise Invalid(f"Invalid {what}", field=field) from None
    kind, colon, number = decoded.partition(":")
    if kind != type_name or not colon or not (number.isascii() and number.isdigit()):
        raise Invalid(f"Invalid {what}", field=field)
    return parse_id(number, what, field=field)
