"""The service's health: ``/health/live`` (the process answers) and ``/health/ready`` (the
database answers and its schema is at the newest migration). The container's probe that asks
them is ``minitwit.ops.healthcheck``.

The check has a path of its own: one dedicated connection (its own tiny engine) and its own
thread limiter, so it answers within ``timeout`` even while every request thread is waiting
on the database and every pooled connection is taken. Once the schema has been seen at head
the answer is cached (a deploy only ever moves the schema forward), and later checks cost one
``SELECT 1``.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from alembic.runtime.migration import MigrationContext
from loguru import logger
from sqlalchemy import Engine, create_engine, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from minitwit.db import migrate
from minitwit.ops.logs import first_line
from minitwit.settings import Settings

READY_TIMEOUT_SECONDS = 2.0
DATABASE_UNREACHABLE = "database unreachable"
SCHEMA_BEHIND = "schema not at the newest migration"


def probe_engine(settings: Settings, timeout: float = READY_TIMEOUT_SECONDS) -> Engine:
    """One connection, never shared with requests, that gives up within ``timeout``."""
    seconds = max(1, round(timeout))
    if settings.is_sqlite:
        return create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": timeout},
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout,
        )
    return create_engine(
        settings.database_url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=timeout,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": seconds,
            "application_name": "minitwit-readiness",
            "options": f"-c statement_timeout={seconds * 1000}",
        },
    )


async def live(request: Request) -> Response:
    """``/health/live``: 200 while the process serves; it asks nothing of the database."""
    return JSONResponse({"status": "ok"})


class Readiness:
    """The readiness endpoint and its own connection; ``dispose()`` at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = READY_TIMEOUT_SECONDS,
        engine: Engine | None = None,
    ) -> None:
        self.engine = engine or probe_engine(settings, timeout)
        self.timeout = timeout
        self.head = migrate.head_revision()
        self.at_head = False
        # Its own token: checks never wait for the request threads' limiter.
        self.limiter = anyio.CapacityLimiter(1)

    def schema_behind(self) -> str | None:
        """The database's revision if it is not at head yet, else None; raises if the database
        cannot be reached. Runs in a worker thread."""
        with self.engine.connect() as connection:
            if self.at_head:
                connection.execute(text("SELECT 1"))
                return None
            current = MigrationContext.configure(connection).get_current_revision()
        if current != self.head:
            return current or "none"
        self.at_head = True
        return None

    async def endpoint(self, request: Request) -> Response:
        """200 ``{"status": "ok"}``, or 503 with a short public reason; the log says more."""
        try:
            with anyio.fail_after(self.timeout):
                behind = await anyio.to_thread.run_sync(
                    self.schema_behind, limiter=self.limiter, abandon_on_cancel=True
                )
        except TimeoutError:
            return self._unavailable(DATABASE_UNREACHABLE, f"no answer within {self.timeout:g} s")
        except Exception as error:
            return self._unavailable(DATABASE_UNREACHABLE, first_line(error))
        if behind is not None:
            detail = f"schema at revision {behind}, waiting for {self.head}"
            return self._unavailable(SCHEMA_BEHIND, detail)
        return JSONResponse({"status": "ok"})

    @staticmethod
    def _unavailable(reason: str, detail: str) -> Response:
        logger.warning("not ready: {reason}: {detail}", reason=reason, detail=detail)
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)

    def dispose(self) -> None:
        self.engine.dispose()
