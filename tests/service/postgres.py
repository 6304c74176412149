"""A real PostgreSQL for the service's tests: pgserver's binaries (from its wheel, as lesson 07
starts it), on a Unix socket in a folder of its own, no TCP at all; a fresh database per test.

Where the server cannot start here (no wheel for the platform, a sandbox that forbids it),
the tests that need it are skipped with the reason; everywhere else they run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# A test marked so runs twice: on SQLite and on PostgreSQL (the ``database`` fixture).
on_both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the socket folder of a running PostgreSQL; raise ``RuntimeError`` saying why not."""
    try:
        with warnings.catch_warnings():  # it warns, on import, about a folder it does not need here
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        raise RuntimeError(f"pgserver is not installed ({exc})") from None
    # Not under pytest's folder (its owner's alone): as root, pgserver runs postgres as a
    # user of its own (`useradd pgserver` the first time), which must reach this folder.
    folder = Path(tempfile.mkdtemp(prefix="service-pg-"))
    folder.chmod(0o755)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"the server did not start ({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        # A test server: what it writes need not survive a crash, and fsyncing each test's new
        # database made its shutdown take seconds on a busy disk.
        run(_execute(str(folder), "postgres", "ALTER SYSTEM SET fsync = off"))
        run(_execute(str(folder), "postgres", "SELECT pg_reload_conf()"))
        yield str(folder)
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def url(socket_folder: str, database: str = "postgres") -> str:
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_folder}"


def run(coroutine):
    """Run ``coroutine`` to its end from anywhere, an async test's own event loop included."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _execute(socket_folder: str, database: str, sql: str) -> list[tuple]:
    import asyncpg

    connection = await asyncpg.connect(host=socket_folder, user="postgres", database=database)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def new_database(socket_folder: str) -> str:
    """A fresh, empty database on the server; its asyncpg URL."""
    name = f"service_{uuid.uuid4().hex[:12]}"
    run(_execute(socket_folder, "postgres", f"CREATE DATABASE {name}"))
    return url(socket_folder, name)


def query(database_url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the database of ``database_url``, through a connection of the test's own."""
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    return run(_execute(parsed.query["host"], parsed.database, sql))
