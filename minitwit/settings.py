"""Typed settings, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Environment = Literal["development", "production"]

DEFAULT_SIMULATOR_AUTH = "Basic c2ltdWxhdG9yOnN1cGVyX3NhZmUh"
DEVELOPMENT_SECRET = "development key"  # noqa: S105 - the original's key, refused in production


class SettingsError(ValueError):
    """The environment describes a configuration the service refuses to run with."""


def normalise_database_url(url: str) -> str:
    """Point plain ``postgres(ql)://`` URLs at the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'minitwit.sqlite3'}"
    )
    env: Environment = "development"
    secret_key: str = DEVELOPMENT_SECRET
    simulator_auth: str = DEFAULT_SIMULATOR_AUTH
    rest_prefix: str = ""
    page_size: int = 30
    max_page_size: int = 100
    rest_default_no: int = 100
    rest_max_no: int = 10_000
    max_message_length: int = 1000
    db_pool_size: int = 10
    hash_concurrency: int = 2
    body_timeout: float = 30.0
    session_max_age: int = 14 * 24 * 3600
    web_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")
    log_level: str = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True
    live_subscriptions_per_connection: int = 10
    live_connections_per_user: int = 20
    live_connections_per_address: int = 200
    live_queue_size: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if self.env not in ("development", "production"):
            raise SettingsError(f"MINITWIT_ENV must be development or production, not {self.env!r}")
        if self.production and (not self.secret_key or self.secret_key == DEVELOPMENT_SECRET):
            raise SettingsError("SECRET_KEY must be set to a real secret in production")
        if self.rest_prefix and (
            not self.rest_prefix.startswith("/") or self.rest_prefix.endswith("/")
        ):
            raise SettingsError("MINITWIT_REST_PREFIX must start with '/' and not end with '/'")
        for name in ("page_size", "max_page_size", "rest_max_no", "max_message_length"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be positive")
        if self.db_pool_size < 1 or self.hash_concurrency < 1:
            raise SettingsError("DB_POOL_SIZE and MINITWIT_HASH_CONCURRENCY must be positive")
        for name in (
            "live_subscriptions_per_connection",
            "live_connections_per_user",
            "live_connections_per_address",
            "live_queue_size",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be positive")
        if not 0 < self.body_timeout < float("inf"):
            raise SettingsError("MINITWIT_BODY_TIMEOUT must be a positive number of seconds")

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}

        def text(var: str, key: str) -> None:
            if env.get(var):
                values[key] = env[var]

        def parsed(var: str, key: str, convert: Callable[[str], object], kind: str) -> None:
            raw = env.get(var)
            if raw:
                try:
                    values[key] = convert(raw)
                except ValueError:
                    raise SettingsError(f"{var} must be {kind}, not {raw!r}") from None

        def integer(var: str, key: str) -> None:
            parsed(var, key, int, "an integer")

        def number(var: str, key: str) -> None:
            parsed(var, key, float, "a number")

        def flag(var: str, key: str) -> None:
            raw = env.get(var)
            if raw:
                values[key] = raw.strip().lower() in ("1", "true", "yes", "on")

        database_url = _value_or_file(env, "DATABASE_URL")
        if database_url:
            values["database_url"] = database_url
        text("MINITWIT_ENV", "env")
        text("SIMULATOR_AUTH", "simulator_auth")
        text("MINITWIT_REST_PREFIX", "rest_prefix")
        text("LOG_LEVEL", "log_level")
        integer("MINITWIT_PAGE_SIZE", "page_size")
        integer("MINITWIT_MAX_NO", "rest_max_no")
        integer("MINITWIT_MAX_MESSAGE_LENGTH", "max_message_length")
        integer("DB_POOL_SIZE", "db_pool_size")
        integer("MINITWIT_HASH_CONCURRENCY", "hash_concurrency")
        number("MINITWIT_BODY_TIMEOUT", "body_timeout")
        integer("MINITWIT_LIVE_SUBSCRIPTIONS_PER_CONNECTION", "live_subscriptions_per_connection")
        integer("MINITWIT_LIVE_CONNECTIONS_PER_USER", "live_connections_per_user")
        integer("MINITWIT_LIVE_CONNECTIONS_PER_ADDRESS", "live_connections_per_address")
        integer("MINITWIT_LIVE_QUEUE_SIZE", "live_queue_size")
        flag("MINITWIT_LOG_JSON", "log_json")
        flag("MINITWIT_MIGRATE_ON_START", "migrate_on_start")
        if env.get("MINITWIT_WEB_DIR"):
            values["web_dir"] = Path(env["MINITWIT_WEB_DIR"])
        secret = _value_or_file(env, "SECRET_KEY")
        if secret:
            values["secret_key"] = secret
        elif values.get("env") == "production":
            values["secret_key"] = ""
        return cls(**values)  # type: ignore[arg-type]


def _value_or_file(env: Mapping[str, str], var: str) -> str | None:
    """``var`` itself, or else the contents of the file ``var_FILE`` names (a Docker secret),
    so commands run by hand in a container read the same secrets as the server."""
    if env.get(var):
        return env[var]
    path = env.get(f"{var}_FILE")
    if not path:
        return None
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{var}_FILE cannot be read: {exc}") from None
    if not value:
        raise SettingsError(f"{var}_FILE names an empty file: {path}")
    return value
