"""Reading the service's database from a test, as the test's own witness (not through the app)."""

from __future__ import annotations

import contextlib
import sqlite3

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
