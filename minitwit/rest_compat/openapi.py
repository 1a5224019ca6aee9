"""The OpenAPI 3.0 document of the simulator API, written by hand to match ``endpoints.py``.

The tests validate real responses against the schemas below, so the two cannot drift apart
unnoticed.
"""

from __future__ import annotations

from typing import Any

from minitwit.resolvers.latest import NOTHING_RECEIVED

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
    authed: list[dict[str, list[str]]] = [{"simulator": []}]
    common = [LATEST_PARAMETER]
    spec: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "MiniTwit simulator API",
            "version": "1.0.0",
            "description": (
                "The course simulator's REST API (the reference `minitwit_sim_api.py`). "
                'Every error body is `{"error_msg": str, "status": int}`. Endpoints other '
                "than `/register`, `/latest` and this document need the header "
                "`Authorization: Basic c2ltdWxhdG9yOnN1cGVyX3NhZmUh` (configurable), else 403."
            ),
        },
        "paths": {
            f"{prefix}/latest": {
                "get": {
                    "operationId": "getLatest",
                    "summary": "The last `latest` value received by any endpoint",
                    "responses": {"200": _json(_ref("Latest"), "The stored value.")},
                }
            },
            f"{prefix}/register": {
                "post": {
                    "operationId": "register",
                    "summary": "Sign up a user (no authorization needed)",
                    "parameters": common,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RegisterRequest")}},
                    },
                    "responses": {
                        "204": NO_CONTENT,
                        "400": _error("BadRequest"),
                        "405": _error("MethodNotAllowed"),
                        "408": _error("TooSlow"),
                        "413": _error("TooLarge"),
                    },
                }
            },
            f"{prefix}/msgs": {
                "get": {
                    "operationId": "getMessages",
                    "summary": "Everyone's unflagged messages, newest first",
                    "security": authed,
                    "parameters": [no, *common],
                    "responses": {
                        "200": _json(_ref("Messages"), "The messages."),
                        "403": _error("Unauthorized"),
                    },
                },
                "post": {
                    "operationId": "postMessagesNotAllowed",
                    "summary": "Not supported: post as a user at /msgs/{username}",
                    "responses": {"405": _error("MethodNotAllowed")},
                },
            },
            f"{prefix}/msgs/{{username}}": {
                "parameters": [USERNAME_PARAMETER],
                "get": {
                    "operationId": "getUserMessages",
                    "summary": "One user's unflagged messages, newest first",
                    "security": authed,
                    "parameters": [no, *common],
                    "responses": {
                        "200": _json(_ref("Messages"), "The messages."),
                        "403": _error("Unauthorized"),
                        "404": _error("NotFound"),
                    },
                },
                "post": {
                    "operationId": "postMessage",
                    "summary": "Post a message as the user",
                    "security": authed,
                    "parameters": common,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("MessageRequest")}},
                    },
                    "responses": {
                        "204": NO_CONTENT,
                        "400": _error("BadRequest"),
                        "403": _error("Unauthorized"),
                        "404": _error("NotFound"),
                        "408": _error("TooSlow"),
                        "413": _error("TooLarge"),
                    },
                },
            },
            f"{prefix}/fllws/{{username}}": {
                "parameters": [USERNAME_PARAMETER],
                "get": {
                    "operationId": "getFollows",
                    "summary": "The usernames the user follows, in the order followed",
                    "security": authed,
                    "parameters": [no, *common],
                    "responses": {
                        "200": _json(_ref("Follows"), "The followed users."),
                        "403": _error("Unauthorized"),
                        "404": _error("NotFound"),
                    },
                },
                "post": {
                    "operationId": "changeFollow",
                    "summary": (
                        "Follow or unfollow a user. `follow` wins when both keys are present; "
                        "following twice and unfollowing a user not followed both succeed."
                    ),
                    "security": authed,
                    "parameters": common,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("FollowRequest")}},
                    },
                    "responses": {
                        "204": NO_CONTENT,
                        "400": _error("BadRequest"),
                        "403": _error("Unauthorized"),
                        "404": _error("NotFound"),
                        "408": _error("TooSlow"),
                        "413": _error("TooLarge"),
                    },
                },
            },
            f"{prefix}/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "simulator": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The header value must equal the configured credential.",
                }
            },
            "schemas": SCHEMAS,
            "responses": {
                "BadRequest": _json(
                    _ref("Error"),
                    "The body is not a JSON object, lacks a key, has a value of the wrong type, "
                    "or fails validation (e.g. `The username is already taken`).",
                ),
                "Unauthorized": _json(
                    _ref("Error"), "`You are not authorized to use this resource!`"
                ),
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
            },
        },
    }
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                reaches_database = path != f"{prefix}/openapi.json" and any(
                    status < "400" for status in operation["responses"]
                )
                if reaches_database:
                    operation["responses"]["503"] = _error("Unavailable")
    return spec


SCHEMAS: dict[str, Any] = {
    "Latest": {
        "type": "object",
        "required": ["latest"],
        "additionalProperties": False,
        "properties": {
            "latest": {
                "type": "integer",
                "format": "int64",
                "description": f"{NOTHING_RECEIVED} until a value has been received.",
            }
        },
    },
    "Error": {
        "type": "object",
        "required": ["error_msg", "status"],
        "additionalProperties": False,
        "properties": {
            "error_msg": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
        },
    },
    "Message": {
        "type": "object",
        "required": ["content", "pub_date", "user"],
        "additionalProperties": False,
        "properties": {
            "content": {"type": "string"},
            "pub_date": {
                "type": "integer",
                "format": "int64",
                "description": "Unix seconds, UTC.",
            },
            "user": {"type": "string", "description": "The author's username."},
        },
    },
    "Messages": {"type": "array", "items": _ref("Message")},
    "Follows": {
        "type": "object",
        "required": ["follows"],
        "additionalProperties": False,
        "properties": {"follows": {"type": "array", "items": {"type": "string"}}},
    },
    "RegisterRequest": {
        "type": "object",
        "required": ["username", "email", "pwd"],
        "properties": {
            "username": {"type": "string", "minLength": 1, "maxLength": 64},
            "email": {"type": "string", "description": "Must contain '@'."},
            "pwd": {"type": "string", "minLength": 1},
        },
    },
    "MessageRequest": {
        "type": "object",
        "required": ["content"],
        "properties": {"content": {"type": "string"}},
    },
    "FollowRequest": {
        "type": "object",
        "description": "Exactly one of the keys is expected; `follow` wins if both are sent.",
        "properties": {"follow": {"type": "string"}, "unfollow": {"type": "string"}},
        "anyOf": [{"required": ["follow"]}, {"required": ["unfollow"]}],
    },
}
