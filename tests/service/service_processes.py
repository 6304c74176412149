"""Reading the service's database from a test, as the test's own witness (not through the app)."""

from __future__ import annotations

import contextlib
import sqlite3

import httpx
from asgi_lifespan import LifespanManager

from autograder.service.settings import Settings
from coursekit.processes import free_port

from . import postgres


def with_port(settings: Settings) -> Settings:
    return settings.with_changes(port=free_port())


def query(settings: Settings, sql: str) -> list[tuple]:
    """Rows of ``sql`` (no parameters: the two drivers spell them differently)."""
    if settings.database.startswith("postgresql"):
        return postgres.query(settings.database, sql)
    with contextlib.closing(sqlite3.connect(settings.folder / "service.db", timeout=30)) as connection:
        return connection.execute(sql).fetchall()


@contextlib.asynccontextmanager
async def in_process(app, headers: dict[str, str] | None = None):
    """A client of ``app`` in this process (ASGI transport), its lifespan run around it."""
    async with LifespanManager(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service", headers=headers or {}
        ) as client:
            yield client
