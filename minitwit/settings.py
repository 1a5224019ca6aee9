"""Typed settings: one pydantic model, read from the environment in one place.

``Settings(...)`` takes its values as given and reads nothing, so tests and tools build the
settings they mean; ``Settings.from_env()`` is the one place that reads the environment: the
process's variables first, then ``.env`` in the working directory, and for secrets the file
that ``NAME_FILE`` names (a Docker secret) when ``NAME`` itself is not set. Values are checked
strictly (``MINITWIT_LOG_JSON=ture`` is an error, not false) and every error names the
variable at fault.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

Environment = Literal["development", "production"]

DEFAULT_SIMULATOR_AUTH = "Basic c2ltdWxhdG9yOnN1cGVyX3NhZmUh"
# The course simulator gives up on a request after this long: an answer later is an error.
SIMULATOR_TIMEOUT_SECONDS = 0.3
DEVELOPMENT_SECRET = "development key"  # noqa: S105 - the original's key, refused in production
# Settings whose value may come from the file ``NAME_FILE`` names, as Docker secrets do.
SECRET_VARIABLES = ("DATABASE_URL", "SECRET_KEY")
# Settings whose value an error message must not repeat.
HIDDEN_VARIABLES = frozenset({"SECRET_KEY", "SIMULATOR_AUTH"})


class SettingsError(ValueError):
    """The environment describes a configuration the service refuses to run with."""


def normalise_database_url(url: str) -> str:
    """Point plain ``postgres(ql)://`` URLs at the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def redacted(url: str) -> str | None:
    """``url`` with its password hidden, for messages (None if it is not a URL at all)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return None


Positive = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # 0 turns the limit off
# (attempts, window in seconds), written ``attempts/seconds`` (``10/900``); 0 attempts is off.
RateLimit = Annotated[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1)]], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        env_ignore_empty=True,
        case_sensitive=True,
        env_file_encoding="utf-8",
    )

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'minitwit.sqlite3'}",
        validation_alias="DATABASE_URL",
    )
    env: Environment = Field("development", validation_alias="MINITWIT_ENV")
    secret_key: str = Field(DEVELOPMENT_SECRET, validation_alias="SECRET_KEY")
    simulator_auth: str = Field(DEFAULT_SIMULATOR_AUTH, validation_alias="SIMULATOR_AUTH")
    rest_prefix: str = Field("", validation_alias="MINITWIT_REST_PREFIX")
    page_size: Positive = Field(30, validation_alias="MINITWIT_PAGE_SIZE")
    max_page_size: Positive = 100
    rest_default_no: Positive = 100
    rest_max_no: Positive = Field(10_000, validation_alias="MINITWIT_MAX_NO")
    max_message_length: Positive = Field(1000, validation_alias="MINITWIT_MAX_MESSAGE_LENGTH")
    db_pool_size: Positive = Field(10, validation_alias="DB_POOL_SIZE")
    hash_concurrency: Positive = Field(2, validation_alias="MINITWIT_HASH_CONCURRENCY")
    body_timeout: float = Field(
        30.0, gt=0, allow_inf_nan=False, validation_alias="MINITWIT_BODY_TIMEOUT"
    )
    session_max_age: Positive = 14 * 24 * 3600
    web_dir: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parent.parent / "web",
        validation_alias="MINITWIT_WEB_DIR",
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # None: JSON lines unless stdout is a terminal in development (see wants_json_logs)
    log_json: bool | None = Field(None, validation_alias="MINITWIT_LOG_JSON")
    migrate_on_start: bool = Field(True, validation_alias="MINITWIT_MIGRATE_ON_START")
    # Seconds to go on serving after SIGTERM before shutting down (minitwit.drain); 0: none.
    drain_seconds: float = Field(
        0.0, ge=0, le=60, allow_inf_nan=False, validation_alias="MINITWIT_DRAIN_SECONDS"
    )
    # PostgreSQL limits for request work (0 turns one off); see minitwit.db.make_engine.
    db_statement_timeout: Seconds = Field(5.0, validation_alias="MINITWIT_DB_STATEMENT_TIMEOUT")
    db_idle_in_transaction_timeout: Seconds = Field(
        10.0, validation_alias="MINITWIT_DB_IDLE_IN_TRANSACTION_TIMEOUT"
    )
    # Live timelines (minitwit.live): limits per socket, per user and per address (per worker
    # process), and the events a subscriber may fall behind by before it is told to refetch.
    live_subscriptions_per_connection: Positive = Field(
        10, validation_alias="MINITWIT_LIVE_SUBSCRIPTIONS_PER_CONNECTION"
    )
    live_connections_per_user: Positive = Field(
        20, validation_alias="MINITWIT_LIVE_CONNECTIONS_PER_USER"
    )
    live_connections_per_address: Positive = Field(
        200, validation_alias="MINITWIT_LIVE_CONNECTIONS_PER_ADDRESS"
    )
    live_queue_size: Positive = Field(64, validation_alias="MINITWIT_LIVE_QUEUE_SIZE")
    # Sign-in and sign-up limits (minitwit.resolvers.throttle).
    sign_in_limit_per_username: RateLimit = Field(
        (10, 15 * 60), validation_alias="MINITWIT_SIGN_IN_LIMIT_PER_USERNAME"
    )
    sign_in_limit_per_address: RateLimit = Field(
        (20, 60), validation_alias="MINITWIT_SIGN_IN_LIMIT_PER_ADDRESS"
    )
    sign_up_limit_per_address: RateLimit = Field(
        (20, 60 * 60), validation_alias="MINITWIT_SIGN_UP_LIMIT_PER_ADDRESS"
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructing reads nothing: the environment is read by from_env() alone.
        return (init_settings,)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        url = normalise_database_url(url)
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "must be a database URL such as sqlite:///minitwit.sqlite3 or "
                "postgresql://user:password@host:5432/minitwit"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return url

    @field_validator(
        "sign_in_limit_per_username",
        "sign_in_limit_per_address",
        "sign_up_limit_per_address",
        mode="before",
    )
    @classmethod
    def _attempts_per_window(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        attempts, slash, seconds = value.partition("/")
        if not (slash and attempts.strip().isdigit() and seconds.strip().isdigit()):
            raise ValueError("must be attempts/seconds, like 10/900")
        return int(attempts), int(seconds)

    @field_validator("rest_prefix")
    @classmethod
    def _prefix_shape(cls, prefix: str) -> str:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("must start with '/' and not end with '/'")
        return prefix

    @field_validator("log_level")
    @classmethod
    def _level_name(cls, level: str) -> str:
        known = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
        if level.upper() not in known:
            raise ValueError(f"must be one of {', '.join(known)}")
        return level.upper()

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.production and (not self.secret_key or self.secret_key == DEVELOPMENT_SECRET):
            raise ValueError("SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    def wants_json_logs(self, stdout_is_terminal: bool) -> bool:
        """JSON lines, unless MINITWIT_LOG_JSON says otherwise or a developer is watching."""
        if self.log_json is not None:
            return self.log_json
        return self.production or not stdout_is_terminal

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        """These settings with ``changes``, checked as a whole again."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """The settings the environment describes: ``environ`` (default ``os.environ``), then
        ``env_file`` (if it exists), then ``NAME_FILE`` for each secret ``NAME``."""
        dotenv = DotEnvSettingsSource(cls, env_file=env_file).env_vars
        layers = [
            dict(os.environ if environ is None else environ),
            {key: value for key, value in dotenv.items() if value is not None},
        ]
        values: dict[str, Any] = {}
        for layer in layers:  # the first layer that sets a value wins
            for key, value in _Variables(cls, layer)().items():
                values.setdefault(key, value)
            for name in SECRET_VARIABLES:
                if name not in values and layer.get(f"{name}_FILE"):
                    values[name] = _read_secret(name, layer[f"{name}_FILE"])
        return cls(**values)


def _describe(error: ValidationError) -> str:
    """One line naming each variable at fault, what it must be and (unless secret) what it is."""
    problems = []
    for problem in error.errors(include_url=False):
        if not problem["loc"]:
            problems.append(problem["msg"].removeprefix("Value error, "))
            continue
        name = _variable_name(str(problem["loc"][0]))
        message = problem["msg"].removeprefix("Value error, ")
        message = re.sub(r"^(Input|Value) should be", "must be", message)
        if problem["type"] == "bool_parsing":
            message = "must be a boolean: 1/0, true/false, yes/no or on/off"
        elif problem["type"] == "extra_forbidden":
            message = "is not a setting"
        shown = problem.get("input")
        if name == "DATABASE_URL" and isinstance(shown, str):
            shown = redacted(shown)
        if name in HIDDEN_VARIABLES or shown is None or problem["type"] == "extra_forbidden":
            problems.append(f"{name} {message}")
        else:
            problems.append(f"{name} {message}, not {shown!r}")
    return "; ".join(problems)


def _variable_name(key: str) -> str:
    """The environment variable of a field (by name or alias), or the field's name."""
    field = Settings.model_fields.get(key)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    return key


class _Variables(EnvSettingsSource):
    """Environment variables from a given mapping (``os.environ`` or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        self._variables = variables
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._variables, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _read_secret(name: str, path: str) -> str:
    """The secret in the file ``NAME_FILE`` names, so commands run by hand in a container read
    the same secrets as the server."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{name}_FILE cannot be read: {exc}") from None
    if not value:
        raise SettingsError(f"{name}_FILE names an empty file: {path}")
    return value
