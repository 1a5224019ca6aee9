"""The simulator API's bodies as pydantic models: the source of the OpenAPI document's schemas.

Requests are still read by ``parsing.py``, which answers the reference's exact error texts at
a fraction of a model's cost; these models describe the same shapes, and the tests hold real
answers against the document built from them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from minitwit.resolvers.latest import NOTHING_RECEIVED

INT64: dict[str, Any] = {"format": "int64"}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latest(_Answer):
    latest: int = Field(
        description=f"{NOTHING_RECEIVED} until a value has been received.",
        json_schema_extra=INT64,
    )


class Error(_Answer):
    error_msg: str
    status: int = Field(ge=400, le=599)


class Message(_Answer):
    content: str
    pub_date: int = Field(description="Unix seconds, UTC.", json_schema_extra=INT64)
    user: str = Field(description="The author's username.")


class Messages(RootModel[list[Message]]):
    pass


class Follows(_Answer):
    follows: list[str]


class RegisterRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    email: str = Field(description="Must contain '@'.")
    pwd: str = Field(min_length=1)


class MessageRequest(BaseModel):
    content: str


class FollowRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "Exactly one of the keys is expected; `follow` wins if both are sent.",
            "anyOf": [{"required": ["follow"]}, {"required": ["unfollow"]}],
        }
    )

    follow: str | None = None
    unfollow: str | None = None


MODELS: tuple[type[BaseModel], ...] = (
    Latest,
    Error,
    Message,
    Messages,
    Follows,
    RegisterRequest,
    MessageRequest,
    FollowRequest,
)


def component_schemas() -> dict[str, Any]:
    """Every model's schema, as OpenAPI 3.0's ``components.schemas`` holds them."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    converted: dict[str, Any] = _openapi_3_0(schemas["$defs"])
    return converted


def _openapi_3_0(schema: Any) -> Any:
    """JSON Schema as pydantic writes it, in OpenAPI 3.0's dialect: no titles, and an optional
    value (``anyOf`` with ``null``, default None) as a plain optional property."""
    if isinstance(schema, list):
        return [_openapi_3_0(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _openapi_3_0(value) for key, value in schema.items() if key != "title"}
    variants = converted.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [variant for variant in variants if variant != {"type": "null"}]
        del converted["anyOf"]
        if converted.get("default", ...) is None:
            del converted["default"]
        if len(rest) == 1:
            converted.update(rest[0])
        else:
            converted["anyOf"] = rest
    return converted
