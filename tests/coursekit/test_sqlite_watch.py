"""Watched SQLite connections (``coursekit.sqlite_watch``): closed or not, and closed under
another thread's query, learned without running SQL on them."""

from __future__ import annotations

import sqlite3
import threading
import time

from coursekit.sqlite_watch import WatchedConnection, watching_open_db


def open_db(path):  # the lesson's, replaced while a block watches
    return sqlite3.connect(path, check_same_thread=False)


def slow_query_in_a_thread(db: WatchedConnection, seconds: float) -> tuple[threading.Thread, list]:
    """A thread inside ``SELECT pause()`` for ``seconds``; returns it once it is in the query."""
    inside = threading.Event()

    def pause() -> int:
        inside.set()
        time.sleep(seconds)
        return 1

    db.create_function("pause", 0, pause)
    got: list = []
    thread = threading.Thread(target=lambda: got.append(db.execute("SELECT pause()").fetchall()))
    thread.start()
    assert inside.wait(5)
    return thread, got


def test_a_close_under_another_threads_query_is_noted_and_waits_for_it(tmp_path):
    """Closing under a running query crashes CPython's sqlite3 now and then (SIGSEGV): the
    watcher notes it, and waits for the query to end before it closes, so that a check reports
    the mistake instead of dying of it."""
    namespace = {"open_db": open_db}
    with watching_open_db(namespace) as opened:
        db = namespace["open_db"](tmp_path / "invoices.db")
        thread, got = slow_query_in_a_thread(db, 0.3)
        assert not db.closed
        started = time.perf_counter()
        db.close()
        waited = time.perf_counter() - started
        thread.join(5)
    assert namespace["open_db"] is open_db and opened == [db]
    assert got == [[(1,)]] and db.closed and db.closed_during_a_query and waited > 0.1


def test_a_close_after_the_query_ended_is_a_plain_close(tmp_path):
    namespace = {"open_db": open_db}
    with watching_open_db(namespace):
        db = namespace["open_db"](tmp_path / "invoices.db")
        thread, got = slow_query_in_a_thread(db, 0.05)
        thread.join(5)
        db.execute("SELECT 1").fetchall()  # this thread's own calls are never "another thread's"
        db.close()
    assert got == [[(1,)]] and db.closed and not db.closed_during_a_query


def test_batch_calls_in_other_threads_are_slowed_and_the_watching_thread_is_not(tmp_path):
    namespace = {"open_db": open_db}
    with watching_open_db(namespace, slow=0.2):
        db = namespace["open_db"](tmp_path / "invoices.db")
        db.execute("CREATE TABLE t (x)")
        started = time.perf_counter()
        cursor = db.execute("SELECT * FROM t")
        cursor.fetchall()
        here = time.perf_counter() - started
        took: list[float] = []

        def fetch_in_a_thread() -> None:
            started = time.perf_counter()
            cursor.execute("SELECT * FROM t").fetchmany(10)
            took.append(time.perf_counter() - started)

        thread = threading.Thread(target=fetch_in_a_thread)
        thread.start()
        thread.join(5)
        db.close()
    assert here < 0.2 <= took[0]
