"""Opaque page cursors: a pair of integers (a sort key and a tie-breaking id), base64url text.

Every connection pages on such a pair: messages on ``(pub_date, id)``, followers and
followings on ``(followed_at, user id)``. A cursor that does not decode, or decodes to numbers
no row can hold, is :class:`Invalid` and names the argument it came in.
"""

from __future__ import annotations

import base64
import binascii

from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import INT32_MAX, INT64_MAX, INT64_MIN


def encode(key: int, row_id: int) -> str:
    raw = f"{key}:{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, field: str = "after") -> tuple[int, int]:
    """The (key, id) a cursor stands for, or Invalid naming ``field``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key_text, id_text = base64.urlsafe_b64decode(padded).decode().split(":")
        key, row_id = int(key_text), int(id_text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("Invalid cursor", field=field) from None
    if not (INT64_MIN <= key <= INT64_MAX and 0 <= row_id <= INT32_MAX):
        raise Invalid("Invalid cursor", field=field)
    return key, row_id
