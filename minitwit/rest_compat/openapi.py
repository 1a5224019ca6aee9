"""The OpenAPI 3.0 document of the simulator API, built from the operations' table that also
builds the routes (``operations.py``) and from the bodies' pydantic models (``schemas.py``).

The tests validate real responses against it, and compare it with the committed document.
"""

from __future__ import annotations

from typing import Any

from minitwit.rest_compat import operations, schemas
from minitwit.rest_compat.operations import Operation

OPENAPI_VERSION = "3.0.3"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


NO_CONTENT = {"description": "Done. The body is empty and carries no Content-Type."}

LATEST_PARAMETER: dict[str, Any] = {
    "name": "latest",
    "in": "query",
    "required": False,
    "description": (
        "The simulator's action id. Stored before anything else happens, so also when the "
        "request then fails; `/latest` returns the last value received. Ignored when absent, "
        "not an integer, outside the 64-bit range, or -1."
    ),
    "schema": {"type": "string", "example": "1337"},
}

USERNAME_PARAMETER: dict[str, Any] = {
    "name": "username",
    "in": "path",
    "required": True,
    "description": "A username, percent-encoded (the simulator's names contain a space).",
    "schema": {"type": "string", "example": "Roger Histand"},
}


def _no_parameter(default: str) -> dict[str, Any]:
    return {
        "name": "no",
        "in": "query",
        "required": False,
        "description": (
            f"How many entries to return at most. {default} A non-integer or negative value "
            "means the default; a value above the server's cap (MINITWIT_MAX_NO) means the cap."
        ),
        "schema": {"type": "string", "example": "100"},
    }


def document(prefix: str = "", *, default_no: int = 100) -> dict[str, Any]:
    """The document for routes mounted under ``prefix`` ("" for the root)."""
    no = _no_parameter(f"Default {default_no}.")
    paths: dict[str, Any] = {}
    for path, path_operations in operations.paths().items():
        item: dict[str, Any] = {}
        if operations.USERNAME in path:
            item["parameters"] = [USERNAME_PARAMETER]
        for operation in path_operations:
            item[operation.method.lower()] = _operation(operation, no)
        paths[prefix + path] = item
    return {
        "openapi": OPENAPI_VERSION,
        "info": INFO,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "simulator": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The header value must equal the configured credential.",
                }
            },
            "schemas": schemas.component_schemas(),
            "responses": RESPONSES,
        },
    }


def _operation(operation: Operation, no: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
    }
    if operation.authorized:
        described["security"] = [{"simulator": []}]
    parameters = [no] * operation.paged + [LATEST_PARAMETER] * operation.latest
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body.__name__)}},
        }
    responses: dict[str, Any] = {}
    if operation.status == 200:
        answer = _ref(operation.answer.__name__) if operation.answer else {"type": "object"}
        responses["200"] = _json(answer, operation.answer_description)
    elif operation.status == 204:
        responses["204"] = NO_CONTENT
    if operation.body is not None:
        responses["400"] = _error("BadRequest")
    if operation.authorized:
        responses["403"] = _error("Unauthorized")
    if operations.USERNAME in operation.path and operation.handler is not None:
        responses["404"] = _error("NotFound")
    if operation.status == 405 or operation.refuses_other_methods:
        responses["405"] = _error("MethodNotAllowed")
    if operation.body is not None:
        responses["408"] = _error("TooSlow")
        responses["413"] = _error("TooLarge")
    if operation.database:
        responses["503"] = _error("Unavailable")
    described["responses"] = responses
    return described


INFO = {
    "title": "MiniTwit simulator API",
    "version": "1.0.0",
    "description": (
        "The course simulator's REST API (the reference `minitwit_sim_api.py`). "
        'Every error body is `{"error_msg": str, "status": int}`. Endpoints other '
        "than `/register`, `/latest` and this document need the header "
        "`Authorization: Basic c2ltdWxhdG9yOnN1cGVyX3NhZmUh` (configurable), else 403."
    ),
}

RESPONSES = {
    "BadRequest": _json(
        _ref("Error"),
        "The body is not a JSON object, lacks a key, has a value of the wrong type, "
        "or fails validation (e.g. `The username is already taken`).",
    ),
    "Unauthorized": _json(_ref("Error"), "`You are not authorized to use this resource!`"),
    "NotFound": _json(_ref("Error"), "The user named in the path or body is unknown."),
    "MethodNotAllowed": _json(_ref("Error"), "The method is not supported here."),
    "TooLarge": _json(_ref("Error"), "The body is larger than 64 KiB."),
    "TooSlow": _json(
        _ref("Error"), "The body did not arrive within MINITWIT_BODY_TIMEOUT seconds."
    ),
    "Unavailable": _json(
        _ref("Error"),
        "The database is out of reach for now (restarting); retry after the "
        "`Retry-After` header's seconds.",
    ),
}
