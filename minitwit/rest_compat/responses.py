"""The simulator API's answers, byte for byte as the reference's Flask ``jsonify`` writes them."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def encode(content: Any) -> bytes:
    """Flask's compact ``jsonify`` bytes: sorted keys, no spaces, non-ASCII as ``\\u`` escapes."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def json_bytes(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE)


def json_response(content: Any, status_code: int = 200) -> Response:
    return json_bytes(encode(content), status_code)


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """``{"error_msg": message, "status": status_code}``, the reference's error shape."""
    body = encode({"status": status_code, "error_msg": message})
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)


def no_content() -> Response:
    """204 with no body and no Content-Type or Content-Length header."""
    return Response(status_code=204)
