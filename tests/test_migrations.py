"""Alembic owns the schema: the revisions produce exactly the tables the models describe."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.models import metadata
from minitwit.settings import Settings
from tests.conftest import PostgresDatabases


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d
            for d in compare_metadata(context, metadata)
            # SQLite reflects partial indexes without their WHERE; the DDL has it.
            if not (db.settings.is_sqlite and d[0] in ("add_index", "remove_index"))
        ]
    assert differences == []
    assert migrate.current_revision(db.engine) == migrate.head_revision()


def test_upgrading_twice_changes_nothing(db: Database) -> None:
    before = inspect(db.engine).get_table_names()
    migrate.upgrade(db.engine)
    assert inspect(db.engine).get_table_names() == before


@pytest.mark.postgres
def test_replicas_migrating_at_once_serialise_on_the_advisory_lock(
    postgres: PostgresDatabases,
) -> None:
    url = postgres.fresh(migrated=False)
    databases = [Database(Settings(database_url=url)) for _ in range(4)]
    errors: list[BaseException] = []

    def run(database: Database) -> None:
        try:
            migrate.upgrade(database.engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert migrate.current_revision(databases[0].engine) == migrate.head_revision()
    finally:
        for database in databases:
            database.dispose()
        postgres.drop(url)
