"""SQLite connections watched from outside: whether the code that opened one closed it, and
whether it closed it while another thread was still inside one of its calls.

Lesson 8's export opens the database with the lesson's ``open_db`` and reads it in worker
threads. Its self-checks and its hidden tests replace ``open_db`` while they run
(``watching_open_db``) and look at the connections it gave, without running SQL of their own
on them: two threads inside one ``sqlite3`` connection at once is a data race, and the
exercise's worker thread may still be in a query.

Closing a connection under a query that another thread is running is the race the lesson
measures: a cancelled ``await asyncio.to_thread(...)`` leaves its thread running, and CPython
3.11's ``sqlite3`` then crashes the process now and then (SIGSEGV). A ``WatchedConnection``
notes such a close, then waits for the other thread's call to end before it closes, so that
a check reports the mistake instead of dying of it at random.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

BUSY_WAIT_SECONDS = 5.0  # how long a close waits for another thread's call before it closes anyway


class WatchedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that counts the calls each thread is inside.

    ``closed``: its ``close()`` was called. ``closed_during_a_query``: another thread was inside
    one of its calls (or its cursors') then. ``slow`` seconds pass in each batch call (a query,
    ``fetchmany``, ``fetchall``) made in a thread other than ``home_thread``: a slow disk or a
    busy database server, so that a client leaving mid-export finds a fetch in flight."""

    def __init__(self, *args: Any, slow: float = 0.0, home_thread: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        self.closed_during_a_query = False
        self.slow = slow
        self.home_thread = home_thread
        self._inside: dict[int, int] = {}  # thread id -> calls into this connection it is inside
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def call(self, batch: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            self._inside[me] = self._inside.get(me, 0) + 1
        try:
            if batch and self.slow and me != self.home_thread:
                time.sleep(self.slow)
            yield
        finally:
            with self._changed:
                self._inside[me] -= 1
                if not self._inside[me]:
                    del self._inside[me]
                self._changed.notify_all()

    def _others_inside(self) -> bool:
        me = threading.get_ident()
        return any(thread != me for thread in self._inside)

    def cursor(self, factory: Any = None) -> Any:  # (typeshed's overloads name the factory's type)
        return super().cursor(factory or WatchedCursor)

    # Connection.execute makes a plain Cursor in C, whatever ``cursor`` says: these make ours.
    def execute(self, sql: str, parameters: Any = (), /) -> WatchedCursor:
        cursor: WatchedCursor = self.cursor()
        return cursor.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> WatchedCursor:
        cursor: WatchedCursor = self.cursor()
        return cursor.executemany(sql, parameters)

    def close(self) -> None:
        with self._changed:
            self.closed_during_a_query |= self._others_inside()
            self._changed.wait_for(lambda: not self._others_inside(), timeout=BUSY_WAIT_SECONDS)
        super().close()
        self.closed = True


class WatchedCursor(sqlite3.Cursor):
    """A cursor of a ``WatchedConnection``: each of its calls counted as the connection's."""

    connection: WatchedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> WatchedCursor:
        with self.connection.call(batch=True):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> WatchedCursor:
        with self.connection.call(batch=True):
            return super().executemany(sql, parameters)

    def fetchmany(self, *args: Any, **kwargs: Any) -> list[Any]:
        with self.connection.call(batch=True):
            return super().fetchmany(*args, **kwargs)

    def fetchall(self) -> list[Any]:
        with self.connection.call(batch=True):
            return super().fetchall()

    def fetchone(self) -> Any:
        with self.connection.call():
            return super().fetchone()

    def __next__(self) -> Any:
        with self.connection.call():
            return super().__next__()


@contextlib.contextmanager
def watching_open_db(namespace: dict[str, Any], slow: float = 0.0) -> Iterator[list[WatchedConnection]]:
    """Replace ``open_db`` in ``namespace`` (a notebook's globals, a function's ``__globals__``)
    while the block runs by the lesson's own (``sqlite3.connect(path, check_same_thread=False)``)
    giving ``WatchedConnection``s; yields the list of those it gave. The thread that enters the
    block (the event loop's) is never slowed."""
    original = namespace["open_db"]
    opened: list[WatchedConnection] = []
    home_thread = threading.get_ident()

    def open_db(path: Any) -> WatchedConnection:
        db = sqlite3.connect(path, check_same_thread=False, factory=WatchedConnection)
        db.slow, db.home_thread = slow, home_thread
        opened.append(db)
        return db

    namespace["open_db"] = open_db
    try:
        yield opened
    finally:
        namespace["open_db"] = original
