"""Parsing Python source in the grader's own process, which grades several submissions at once
in threads.

CPython 3.11 keeps the AST constructor's recursion counter in state shared by every thread of
the interpreter (python/cpython#106905): two ``ast.parse`` calls that overlap in two threads
(one thread's parse can let another run, when it triggers the garbage collector) can fail with
``SystemError: AST constructor recursion depth mismatch``, and the grader then failed a whole
submission. Every parse the grader makes goes through here, one at a time; a parse elsewhere
in the process (``traceback`` parses source lines too) can still overlap with one of ours, so
that error, which says nothing about the source, is retried.
"""

from __future__ import annotations

import ast
import threading

_ONE_AT_A_TIME = threading.Lock()
_TRIES = 3


def parse(source: str) -> ast.Module:
    """``ast.parse(source)``, safe to call from several threads (raises SyntaxError as it does)."""
    for attempt in range(_TRIES):
        try:
            with _ONE_AT_A_TIME:
                return ast.parse(source)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error) or attempt == _TRIES - 1:
                raise
    raise AssertionError("unreachable")
