"""Time small pieces of code, and compare them as ratios.

    compare({"sync def": call_sync, "async def": call_async}).plot()

Absolute numbers depend on the machine, the load and the moment; ratios measured side by
side travel much better. Hence three habits, the same as the standard library's
``timeit``:

- each repeat calls the function ``number`` times, enough to last ~20 ms, so the clock's
  resolution and the timing loop itself are negligible;
- several repeats, summarised by the **median**, which one unlucky repeat cannot move;
- ``compare`` runs the candidates **interleaved** (a repeat of each, then the next round),
  so a burst of background work slows them all alike instead of only one.

Async functions (``async def`` with no arguments) are timed inside one event loop, awaited
back to back: the loop's startup is not part of the measurement.

The clock is wall time (``time.perf_counter``) unless told otherwise. On a machine shared with
other busy programs, wall time includes the moments the operating system ran them instead:
``clock=cpu_time`` counts only the CPU time of this process's threads, which is what a
comparison of two pieces of CPU-bound code needs, and it hardly moves under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from coursekit.serve import run_blocking
from coursekit.types import ASGIApp, Message

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = ["Comparison", "Timing", "compare", "compare_apps", "cpu_time", "format_seconds", "measure", "percentile"]

MIN_REPEAT_SECONDS = 0.02  # auto-picked `number` makes one repeat last at least this


def cpu_time() -> float:
    """Seconds of CPU this process has used so far, all its threads (ended ones included).

    ``time.process_time`` should say the same, but on Linux it only advances at the
    scheduler's tick (every few milliseconds) once the process has a CPU-time limit
    (``RLIMIT_CPU``), as a grader's sandbox does; ``getrusage`` adds up the threads' precise
    clocks instead (to the microsecond). Threads matter: a FastAPI ``def`` endpoint runs in a
    worker thread. Without the ``resource`` module (Windows), this is ``time.process_time()``.
    """
    if resource is None:
        return time.process_time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def format_seconds(seconds: float) -> str:
    """A duration with three significant digits and a readable unit: '412 ns', '3.05 µs'."""
    if seconds >= 999.5:
        return f"{seconds:.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        # 0.9995 rather than 1: 999.7 µs rounds to 3 digits as "1 ms", not "1e+03 µs".
        if seconds >= 0.9995 * scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile of ``values`` by nearest rank: the smallest value with at
    least ``p`` percent of the values at or below it (so p100 is the maximum, and every
    answer is one of the values, never an interpolation). 0.0 for no values."""
    if not 0 < p <= 100:
        raise ValueError(f"p must be in (0, 100], not {p!r}")
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Timing:
    """Seconds per call, one value per repeat."""

    per_call: list[float]
    number: int  # calls per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    @property
    def best(self) -> float:
        return min(self.per_call)

    def __repr__(self) -> str:
        return (
            f"Timing(median {format_seconds(self.median)} per call, best {format_seconds(self.best)}; "
            f"{len(self.per_call)} repeats of {self.number} calls)"
        )


class Row(NamedTuple):
    name: str
    median: float  # seconds per call
    ratio: float  # median / the fastest median


@dataclass(frozen=True)
class Comparison:
    """Timings of several candidates, measured side by side."""

    timings: dict[str, Timing]

    def round_ratios(self, numerator: str, denominator: str) -> list[float]:
        """``numerator``'s time over ``denominator``'s, round by round. The rounds are
        interleaved, so each pair was measured at the same moment, under the same load."""
        return [
            a / b if b > 0 else float("inf")
            for a, b in zip(self.timings[numerator].per_call, self.timings[denominator].per_call, strict=True)
        ]

    def speedup(self, baseline: str, candidate: str) -> float:
        """How many times faster ``candidate`` ran than ``baseline``: the median of the
        round-by-round ratios (above 1: faster; below 1: slower)."""
        return statistics.median(self.round_ratios(baseline, candidate))

    @property
    def fastest(self) -> str:
        """The name with the smallest median."""
        return min(self.timings, key=lambda name: self.timings[name].median)

    def ratio(self, name: str) -> float:
        """How many times slower than the fastest ``name`` is (1.0 for the fastest)."""
        fastest = self.timings[self.fastest].median
        return self.timings[name].median / fastest if fastest > 0 else float("inf")

    def rows(self) -> list[Row]:
        """One row per candidate, fastest first."""
        rows = [Row(name, timing.median, self.ratio(name)) for name, timing in self.timings.items()]
        return sorted(rows, key=lambda row: row.median)

    def __repr__(self) -> str:
        rows = self.rows()
        width = max(len("name"), *(len(row.name) for row in rows))
        lines = [f"{'name'.ljust(width)}  {'median':>10}  {'ratio':>8}"]
        lines += [f"{row.name.ljust(width)}  {format_seconds(row.median):>10}  {row.ratio:>7.2f}x" for row in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><td>{html.escape(row.name)}</td><td>{format_seconds(row.median)}</td><td>{row.ratio:.2f}x</td></tr>"
            for row in self.rows()
        )
        return (
            "<table><thead><tr><th>name</th><th>median per call</th><th>ratio</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )

    def plot(self, ax: Any = None) -> Any:
        """A horizontal bar chart of the ratios, fastest on top; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt  # only here: plotting is optional and slow to import

        rows = self.rows()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1))
        names = [row.name for row in rows]
        ratios = [row.ratio for row in rows]
        bars = ax.barh(names, ratios)
        ax.bar_label(bars, labels=[f"{ratio:.2f}x" for ratio in ratios], padding=3)
        ax.axvline(1.0, color="grey", linewidth=1)
        ax.invert_yaxis()  # fastest on top, as in the table
        ax.set_xlabel("median time per call, relative to the fastest")
        ax.set_xlim(0, max(ratios) * 1.2)
        return ax


# --- measuring ------------------------------------------------------------------------------


Clock = Callable[[], float]


def measure(
    fn: Callable[[], Any],
    *,
    repeat: int = 7,
    number: int | None = None,
    warmup: int = 1,
    clock: Clock = time.perf_counter,
    min_batch: float = MIN_REPEAT_SECONDS,
) -> Timing:
    """Time ``fn()`` (a sync or async function of no arguments).

    ``warmup`` calls run first, untimed (first calls pay for caches, imports, lazy setup).
    With ``number=None``, ``number`` grows until one repeat lasts at least ``min_batch``
    seconds of ``clock`` (~20 ms by default; a precise clock allows shorter batches).
    """
    return _measure_all({"fn": fn}, repeat=repeat, number=number, warmup=warmup, clock=clock, min_batch=min_batch)["fn"]


def compare(
    candidates: Mapping[str, Callable[[], Any]],
    *,
    repeat: int = 7,
    number: int | None = None,
    warmup: int = 1,
    clock: Clock = time.perf_counter,
    min_batch: float = MIN_REPEAT_SECONDS,
) -> Comparison:
    """Time each candidate like ``measure``, interleaved, and compare their medians."""
    if not candidates:
        raise ValueError("compare needs at least one candidate")
    return Comparison(
        _measure_all(dict(candidates), repeat=repeat, number=number, warmup=warmup, clock=clock, min_batch=min_batch)
    )


def compare_apps(
    apps: Mapping[str, ASGIApp],
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    status: int = 200,
    **options: Any,
) -> Comparison:
    """Time one request (``method``, ``path``, ``headers``) to each of several ASGI apps, side
    by side as ``compare`` does (``options`` are its own: ``repeat``, ``clock``, ...).

    Each app runs its lifespan first, in the one event loop that then serves every request,
    and shuts down at the end: an app whose startup makes something bound to its loop (an
    async database engine, whose connections belong to the loop that opened them) cannot be
    served from the fresh loop ``compare`` makes for async candidates. That loop runs in a
    thread of its own when this one has a running loop (a notebook cell, an async test). A
    request answered with another status than ``status`` raises AssertionError: the timing of
    a failing request says nothing.
    """
    from coursekit.asgi import drive, http_scope  # only here: the rest of the module needs no ASGI

    where, _, query = path.partition("?")

    def one_request(runner: asyncio.Runner, app: ASGIApp, name: str) -> Callable[[], None]:
        def call() -> None:
            trace = runner.run(drive(app, http_scope(method, where, query=query, headers=headers or {})))
            if trace.status != status:
                raise AssertionError(
                    f"{name}: {method} {path} answered {trace.status}, not {status} ({trace.exception!r})"
                )

        return call

    def in_one_loop() -> Comparison:
        with asyncio.Runner() as runner:
            lifespans: list[_Lifespan] = []
            try:
                for app in apps.values():
                    lifespans.append(_Lifespan(app))
                    runner.run(lifespans[-1].start())
                return compare({name: one_request(runner, app, name) for name, app in apps.items()}, **options)
            finally:
                for lifespan in reversed(lifespans):
                    runner.run(lifespan.stop())

    return run_blocking(in_one_loop)


class _Lifespan:
    """An app's lifespan, driven in plain asyncio so that one ``Runner.run`` can start it and a
    later one end it (the task group ``asgi_lifespan`` uses must end in the task that began it).
    Between the two, its task waits for the shutdown message in the runner's loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        from coursekit.asgi import lifespan_scope

        self.inbox.put_nowait({"type": "lifespan.startup"})
        self.task = asyncio.ensure_future(self.app(lifespan_scope(), self.inbox.get, self.outbox.put))
        answer = await self._answer()
        if answer is not None and answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's startup failed: {answer.get('message', answer)}")

    async def stop(self) -> None:
        if self.task is None or self.task.done():
            return  # an app without a lifespan returned at once, as servers allow
        self.inbox.put_nowait({"type": "lifespan.shutdown"})
        await self._answer()
        await self.task

    async def _answer(self) -> Message | None:
        """The app's next lifespan message, or None when it returned without one."""
        assert self.task is not None
        getter = asyncio.ensure_future(self.outbox.get())
        await asyncio.wait({getter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        self.task.result()  # the app's own exception, if it raised one
        return None


def _measure_all(
    candidates: dict[str, Callable[[], Any]],
    *,
    repeat: int,
    number: int | None,
    warmup: int,
    clock: Clock,
    min_batch: float,
) -> dict[str, Timing]:
    if repeat < 1:
        raise ValueError("repeat must be at least 1")

    has_async = any(inspect.iscoroutinefunction(fn) for fn in candidates.values())

    def run() -> dict[str, Timing]:
        # One event loop for all async candidates, created only if there is one: entering an
        # asyncio.Runner makes a loop, and closing it runs that loop, which a notebook cell
        # (inside the kernel's running loop) cannot do.
        with asyncio.Runner() if has_async else contextlib.nullcontext() as runner:
            timers = {name: _batch_timer(fn, runner, clock) for name, fn in candidates.items()}
            for timer in timers.values():
                if warmup > 0:
                    timer(warmup)
            numbers = {name: number or _autorange(timer, min_batch) for name, timer in timers.items()}
            per_call: dict[str, list[float]] = {name: [] for name in candidates}
            for _ in range(repeat):  # round-robin: one repeat of each candidate per round
                for name, timer in timers.items():
                    per_call[name].append(timer(numbers[name]) / numbers[name])
            return {name: Timing(per_call[name], numbers[name]) for name in candidates}

    if has_async:
        # An event loop cannot run inside a running one (a notebook cell): use a thread.
        return run_blocking(run)
    return run()


def _batch_timer(fn: Callable[[], Any], runner: asyncio.Runner | None, clock: Clock) -> Callable[[int], float]:
    """A function that calls ``fn`` ``number`` times and returns the seconds it took."""
    if inspect.iscoroutinefunction(fn):
        if runner is None:
            raise ValueError("an async candidate needs the asyncio.Runner its batches run in")
        run = runner.run

        async def batch(number: int) -> float:
            start = clock()
            for _ in range(number):
                await fn()
            return clock() - start

        return lambda number: run(batch(number))

    def timer(number: int) -> float:
        start = clock()
        for _ in range(number):
            fn()
        return clock() - start

    return timer


def _autorange(timer: Callable[[int], float], min_batch: float = MIN_REPEAT_SECONDS) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... calls that lasts ``min_batch`` seconds, twice in
    a row: on a busy machine one batch can be stretched by a preemption, and a count chosen
    from it alone would make every repeat far too short."""
    scale = 1
    while True:
        for multiplier in (1, 2, 5):
            number = scale * multiplier
            if timer(number) >= min_batch and timer(number) >= min_batch:
                return number
        scale *= 10
