"""Reading the service's database from a test, as the test's own witness (not through the app)."""

from __future__ import annotations

import contextlib
import sqlite3

from autograder.service.settings import Settings
from coursekit.processes import free_port


def with_port(settings: Settings) -> Settings:
    return settings.with_changes(port=free_port())


def query(settings: Settings, sql: str, *args) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.folder / "service.db", timeout=30)) as connection:
        return connection.execute(sql, args).fetchall()
