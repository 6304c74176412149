"""Parsing in the grader's threads: many parses at once, none fails for a reason not in the source
(CPython 3.11's shared AST recursion counter, python/cpython#106905; see autograder/syntax.py)."""

from __future__ import annotations

import ast
import gc
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from autograder import syntax

SOURCE = "\n".join(f"def f{i}(a, b=[1, 2, {{'k': (3, 4)}}]):\n    return [x * {i} for x in a if x]" for i in range(100))


class Finalized:
    def __del__(self):
        sum(range(200))  # Python code the collector runs, in the middle of a parse: a thread switch


def parses_at_once(parse) -> int:
    """Parse from 8 threads at once, with garbage whose finalizers let threads switch while a
    parse builds its tree; how many parses failed with SystemError."""

    def one(_):
        for _ in range(20):
            garbage = Finalized()
            garbage.cycle = garbage  # freed by the collector only
        return parse(SOURCE)

    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(20)
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(one, index) for index in range(80)]
            failed = 0
            for future in futures:
                try:
                    assert len(future.result().body) == 100
                except SystemError:
                    failed += 1
            return failed
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


def test_the_grader_parses_from_many_threads_at_once_without_failing():
    assert parses_at_once(syntax.parse) == 0


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the race is CPython 3.11's")
def test_the_race_is_real_with_plain_ast_parse():
    # Without the lock, the same load breaks some parses (so the test above can fail).
    assert any(parses_at_once(ast.parse) for _ in range(5))


def test_a_syntax_error_is_still_the_learners():
    with pytest.raises(SyntaxError):
        syntax.parse("def broken(:\n")
