"""Work that holds whatever thread runs it: the culprits of lesson 04, kept importable.

A process pool sends a function to its workers by *name* (pickle stores "module.function"),
so work meant for a pool must live in an importable module, not in a notebook cell (whose
functions belong to ``__main__``, which a worker process may not have).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

__all__ = ["count_json_items", "count_primes", "evil_regex_match", "spin", "sqlite_busy_query"]

# Nested quantifiers: on a string of "a"s that does not match, a backtracking regex engine
# tries every way of splitting the "a"s between the two "+", twice as many per extra "a".
EVIL_PATTERN = re.compile(r"^(a+)+$")


def count_primes(below: int) -> int:
    """How many primes are smaller than ``below``, by trial division: slow on purpose
    (pure Python, CPU-bound, no I/O), and deterministic."""
    count = 0
    for candidate in range(2, below):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count


def count_json_items(body: bytes) -> int:
    """Parse a JSON array and return only how many items it has: run in a process pool, the
    parsing stays in the worker and a small answer comes back, not the parsed document."""
    return len(json.loads(body))


def evil_regex_match(length: int) -> bool:
    """Match the nested-quantifier pattern against ``length`` "a"s and a "b": no match, after
    about 2**length steps of backtracking."""
    return EVIL_PATTERN.match("a" * length + "b") is not None


def sqlite_busy_query(rows: int) -> int:
    """A synchronous database call that takes a while: sum 1..rows with a recursive query on
    an in-memory SQLite database (the sqlite3 module blocks the calling thread, as any sync
    driver does)."""
    with sqlite3.connect(":memory:") as connection:
        query = (
            "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < ?) "
            "SELECT sum(n) FROM numbers"
        )
        (total,) = connection.execute(query, (rows,)).fetchone()
        return int(total)


def spin(seconds: float) -> int:
    """Keep the CPU busy for ``seconds`` of wall-clock time; return how many loops ran."""
    deadline = time.perf_counter() + seconds
    loops = 0
    while time.perf_counter() < deadline:
        loops += 1
    return loops
