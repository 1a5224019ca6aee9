"""The simulator API's answers, byte for byte as the reference's Flask ``jsonify`` writes them."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from minitwit.http.errors import JSON_MEDIA_TYPE, encode


def json_bytes(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE)


def json_response(content: Any, status_code: int = 200) -> Response:
    return json_bytes(encode(content), status_code)


def no_content() -> Response:
    """204 with no body and no Content-Type or Content-Length header."""
    return Response(status_code=204)
