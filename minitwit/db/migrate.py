"""Schema migrations, owned by Alembic.

On PostgreSQL every upgrade holds a session-level advisory lock for its whole run, so replicas
that start at once migrate one after another: the first does the work, the rest find the
schema current and do nothing. Migrations are exempt from the request engine's timeouts
(``minitwit.db.database.make_engine``): waiting for that lock, or rewriting a big table, may
take long.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x6D696E6974776974  # "minitwit"
NO_TIMEOUTS = "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0"
RESTORE_TIMEOUTS = "RESET statement_timeout; RESET idle_in_transaction_session_timeout"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.connect() as connection:
        locked = connection.dialect.name == "postgresql"
        if locked:
            connection.execute(text(NO_TIMEOUTS))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        finally:
            if locked:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                connection.execute(text(RESTORE_TIMEOUTS))  # the connection's own, from its start
                connection.commit()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
