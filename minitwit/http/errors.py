"""The service's one JSON error: ``{"error_msg": message, "status": status}``, the simulator's
shape, which the middleware and the cross-site guard answer with too. As a Starlette response
(``error_response``) or sent from ASGI middleware, where no response exists yet
(``send_json_error``): the same bytes either way."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.types import Send

JSON_MEDIA_TYPE = "application/json"


def encode(content: Any) -> bytes:
    """Flask's compact ``jsonify`` bytes: sorted keys, no spaces, non-ASCII as ``\\u`` escapes."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def error_body(status: int, message: str) -> bytes:
    return encode({"status": status, "error_msg": message})


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        error_body(status_code, message),
        status_code=status_code,
        media_type=JSON_MEDIA_TYPE,
        headers=headers,
    )


async def send_json_error(
    send: Send, status: int, message: str, *, close: bool = False, retry_after: int | None = None
) -> None:
    """The error from ASGI middleware; ``close`` asks the client to end the connection."""
    body = error_body(status, message)
    headers = [
        (b"content-type", JSON_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
