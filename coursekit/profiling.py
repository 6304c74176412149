"""Where does the time go? Run code under cProfile and add its time up by groups of functions.

    profile = profile_calls(one_request, seconds=0.3)
    profile.shares({"validation": ["SchemaValidator"], "parsing": ["json/__init__.py:loads"]},
                   within="fastapi/applications.py:__call__")

A group is a list of label fragments. A function's label is ``file:function`` for Python code
(``.../json/__init__.py:loads``) and cProfile's own description for built-ins
(``{method 'validate_python' of 'pydantic_core._pydantic_core.SchemaValidator' objects}``).
A group's time is the **cumulative** time of the functions it matches (their own time plus
everything they called), so name entry points: two matched functions where one calls the
other would be counted twice. What ``within`` matches is the whole (the app's entry point);
the part of it no group claims is reported as ``rest``.

cProfile measures one thread, and its per-call overhead inflates code made of many small
Python calls more than one long call into C: compare its shares with plain timings before
trusting them to the last percent. Its clock is wall time by default; on a busy machine
``timer=time.thread_time`` (CPU time of the profiled thread) keeps other programs' work out.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import inspect
import pstats
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from coursekit.serve import run_blocking

__all__ = ["Profile", "label", "profile_calls"]


def label(key: tuple[str, int, str]) -> str:
    """A pstats key ``(file, line, function)`` as one searchable string."""
    filename, _, function = key
    return function if filename == "~" else f"{filename}:{function}"


# cProfile's table: (file, line, function) -> (primitive calls, calls, own seconds, cumulative
# seconds, callers).
Entries = dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]]


def _entries(stats: pstats.Stats) -> Entries:
    """pstats keeps its table as ``Stats.stats``, which typeshed leaves undeclared."""
    entries: Entries = stats.stats  # type: ignore[attr-defined]
    return entries


@dataclass(frozen=True)
class Profile:
    """What cProfile saw over ``calls`` calls of one function."""

    stats: pstats.Stats
    calls: int

    def cumulative(self, fragments: Iterable[str]) -> float:
        """Seconds per call spent in the functions whose label contains one of ``fragments``
        (cumulative time: what they called is included)."""
        fragments = list(fragments)
        total = sum(
            cumulative
            for key, (_, _, _, cumulative, _) in _entries(self.stats).items()
            if any(fragment in label(key) for fragment in fragments)
        )
        return total / self.calls

    def shares(self, groups: Mapping[str, Iterable[str]], *, within: str, rest: str = "rest") -> dict[str, float]:
        """Seconds per call of each group, and of ``rest``: the time inside ``within`` that no
        group claims. Keys keep the order of ``groups``, ``rest`` last."""
        whole = self.cumulative([within])
        seconds = {name: self.cumulative(fragments) for name, fragments in groups.items()}
        seconds[rest] = max(whole - sum(seconds.values()), 0.0)
        return seconds

    def top(self, count: int = 10) -> list[tuple[str, float, float]]:
        """The ``count`` functions with the most time of their own: (label, own, cumulative)
        seconds per call, largest first."""
        rows = [
            (label(key), own / self.calls, cumulative / self.calls)
            for key, (_, _, own, cumulative, _) in _entries(self.stats).items()
        ]
        return sorted(rows, key=lambda row: row[1], reverse=True)[:count]


def profile_calls(
    fn: Callable[[], Any], *, seconds: float = 0.3, min_calls: int = 3, timer: Callable[[], float] | None = None
) -> Profile:
    """Call ``fn()`` (sync, or an async function of no arguments) under cProfile, again and
    again for about ``seconds`` (of wall time) and at least ``min_calls`` times, after one
    unprofiled warm-up call. Async functions run in an event loop of their own, in the thread
    that is profiled, so everything they await on that loop is seen. ``timer`` is the
    profiler's clock (cProfile's own wall clock when None)."""
    is_async = inspect.iscoroutinefunction(fn)

    def run() -> Profile:
        with asyncio.Runner() if is_async else contextlib.nullcontext() as runner:
            call: Callable[[], object] = fn if runner is None else lambda: runner.run(fn())
            call()
            profiler = cProfile.Profile(timer) if timer is not None else cProfile.Profile()
            calls, started = 0, time.perf_counter()
            profiler.enable()
            try:
                while calls < min_calls or time.perf_counter() - started < seconds:
                    call()
                    calls += 1
            finally:
                profiler.disable()
        return Profile(pstats.Stats(profiler), calls)

    # An event loop cannot run inside a running one (a notebook cell): then use a thread.
    return run_blocking(run) if is_async else run()
