"""Visible self-checks for exercises: one line of feedback, right under the exercise.

    @self_check("json_app")
    async def _():
        trace = await drive(json_app, http_scope())
        assert trace.status == 200, f"expected status 200, got {trace.status}"

Applying the decorator runs the check at once and prints one line: ✅ pass, ⏳ not solved
yet, ❌ failed and why. It never raises, so "Run All" reaches the end of the notebook
even with unsolved exercises. ``report()`` re-runs every check seen so far and sums up.

These checks are the *visible* half of grading: the grader's hidden tests check more.

Demo cells that call an exercise go inside ``with uses_exercises("json_app"):``. While the
exercise is unsolved, the block stops at the first call and says so in one calm line
instead of a traceback, so "Run All" still reaches the end of the notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from coursekit.asgi import not_implemented_in
from coursekit.display import SYMBOLS, WORDS, Shown, display
from coursekit.progress import record
from coursekit.serve import run_blocking

__all__ = [
    "CheckResult",
    "Report",
    "SelfCheckNotPassing",
    "report",
    "reset",
    "self_check",
    "self_check_for_nbgrader",
    "uses_exercises",
]

Status = Literal["pass", "todo", "fail"]
HIDDEN_TESTS_NOTE = "The grader's hidden tests check more."
PASS_MESSAGE = "the visible checks pass."
TODO_MESSAGE = "not solved yet (the exercise still raises NotImplementedError)."
# When the NotImplementedError comes from another exercise this one calls (router_app calling
# an unsolved echo_app), the learner should be sent to that one.
CALLS_TODO_MESSAGE = "not checked yet: it calls `{name}`, which still raises NotImplementedError: solve that first."


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    status: Status
    message: str

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def line(self) -> str:
        """The one line a learner reads under the check."""
        if self.status == "fail":  # the other two messages say in words how the check went
            return f"{self.symbol} {self.exercise}: {WORDS['fail']}: {self.message}"
        text = f"{self.symbol} {self.exercise}: {self.message}"
        return f"{text} {HIDDEN_TESTS_NOTE}" if self.status == "pass" else text

    @property
    def status_text(self) -> str:
        return f"{self.symbol} {WORDS[self.status]}"


# exercise id -> (check function, timeout). A dict keeps registration order, and
# re-running a check cell replaces its entry in place.
_registry: dict[str, tuple[Callable[[], Any], float]] = {}
_latest: dict[str, CheckResult] = {}  # exercise id -> what its check said last


def self_check(exercise: str, *, timeout: float = 20.0) -> Callable[[Callable[[], Any]], CheckResult]:
    """Register a check function (sync or async, no arguments) and run it now.

    The decorated name ends up bound to the ``CheckResult``. ``timeout`` bounds an async
    check; a sync check that blocks cannot be interrupted.
    """

    def decorator(check: Callable[[], Any]) -> CheckResult:
        _registry[exercise] = (check, timeout)
        result = _run(exercise, check, timeout)
        display(result.line, f"<div>{html.escape(result.line)}</div>")
        return result

    return decorator


class Report(Shown, list[CheckResult]):
    """The results ``report()`` returns (it has shown them as a table)."""


def report() -> Report:
    """Re-run every registered check, in order, and show a summary table."""
    if not _registry:
        display("No self-checks have run yet: run the exercise cells and their checks first.")
        return Report()
    results = Report(_run(exercise, check, timeout) for exercise, (check, timeout) in _registry.items())
    passed = sum(result.status == "pass" for result in results)
    summary = f"{passed} of {len(results)} exercises pass their visible checks. {HIDDEN_TESTS_NOTE}"
    display(_text_table(results, summary), _html_table(results, summary))
    return results


def reset() -> None:
    """Forget every registered check (for tests)."""
    _registry.clear()
    _latest.clear()


# --- an exercise's autograder-test cell, as nbgrader runs it ------------------------------------

HIDDEN_TESTS_CELL_NOTE = (
    "The grader's hidden tests of `{exercise}` run in this cell only when your notebook is graded; "
    "running it yourself tests nothing. START.ipynb (notebooks folder) says how to be graded."
)


class SelfCheckNotPassing(Exception):
    """What nbgrader's Validate reports for an exercise whose visible self-check does not pass."""


def self_check_for_nbgrader(exercise: str) -> None:
    """The visible part of an exercise's autograder-test cell (``autograder.nbgrader_bridge``).

    nbgrader sets ``NBGRADER_EXECUTION`` in the kernel's environment: ``validate`` for a
    learner's Validate (on a JupyterHub with nbgrader, the usual deployment), ``autograde``
    when it grades. Validate scores this cell as it stands in the learner's copy, where the
    hidden tests are not: it runs the exercise's self-check, and fails the cell (an error)
    unless it passes, so that Validate fails an untouched lesson and passes a solved one.
    Under ``autograde`` the hidden tests put back below this line give the points, and this
    does nothing. Anywhere else (the learner running the cell) it says what the cell is for.
    """
    mode = os.environ.get("NBGRADER_EXECUTION")
    if mode == "autograde":
        return
    if mode != "validate":
        print(HIDDEN_TESTS_CELL_NOTE.format(exercise=exercise))
        return
    result = _latest.get(exercise)
    if result is None and exercise in _registry:
        check, timeout = _registry[exercise]
        result = _run(exercise, check, timeout)
    if result is None:
        raise SelfCheckNotPassing(f"{exercise}: its self-check has not run (run the notebook from the top).")
    if result.status != "pass":
        raise SelfCheckNotPassing(result.line)
    print(result.line)


# --- running one check ----------------------------------------------------------------------


def _run(exercise: str, check: Callable[[], Any], timeout: float) -> CheckResult:
    result = _outcome(exercise, check, timeout)
    record(exercise, result.status)  # for the start page's table
    _latest[exercise] = result
    return result


def _outcome(exercise: str, check: Callable[[], Any], timeout: float) -> CheckResult:
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            _await(outcome, timeout)
    except Exception as exc:
        return _classify(exercise, exc)
    return CheckResult(exercise, "pass", PASS_MESSAGE)


def _await(awaitable: Any, timeout: float) -> None:
    async def within_timeout() -> None:
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                await awaitable
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # a TimeoutError of the code under test, not ours
            raise _CheckTimeout(f"the check did not finish within {timeout:g} s") from exc

    # In a notebook cell a loop is already running here; run_blocking then uses a thread.
    # The extra second lets the timeout above report first, with the better message.
    run_blocking(lambda: _run_leaving_the_loop_open(within_timeout()), timeout=timeout + 1.0)


def _run_leaving_the_loop_open(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)``, except that the loop is not closed at the end: it is closed when
    it is freed, once nothing refers to it any more.

    Why: aiosqlite answers from a thread of its own, and a connection that is dropped unclosed
    (an engine a check never disposed because the exercise it used raised NotImplementedError,
    or the learner's own code) is stopped by the garbage collector whenever that runs, often
    inside a later check, with a future of the loop running then. When that loop is closed
    before the thread answers, the thread raises "Event loop is closed" and prints a traceback
    into the learner's cell. A loop left open takes the late answer and drops it.
    """
    loop = _LoopClosedWhenFreed()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:  # what asyncio.run does before closing its loop
            leftover = asyncio.all_tasks(loop)
            for task in leftover:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)


class _LoopClosedWhenFreed(asyncio.SelectorEventLoop):
    """An event loop that, freed unclosed, closes itself without asyncio's "unclosed event
    loop" ResourceWarning: here that is intended (``_run_leaving_the_loop_open``)."""

    def __del__(self) -> None:
        if not self.is_closed():
            self.close()


class _CheckTimeout(TimeoutError):
    """An async check ran out of time (as opposed to a TimeoutError from the code)."""


def _mentions_not_implemented(exc: BaseException) -> bool:
    """True if NotImplementedError is anywhere in ``exc``: itself, what it wraps, its groups."""
    return not_implemented_in(exc) is not None


def _classify(exercise: str, exc: Exception) -> CheckResult:
    unsolved = not_implemented_in(exc)
    if unsolved is not None:
        # Raised by another exercise of the notebook (one with a check of its own)?
        other = (_raised_in(unsolved) or "").split(".")[0]
        if other != exercise and other in _registry:
            return CheckResult(exercise, "todo", CALLS_TODO_MESSAGE.format(name=other))
        return CheckResult(exercise, "todo", TODO_MESSAGE)
    if isinstance(exc, _CheckTimeout):
        return CheckResult(exercise, "fail", f"{exc} (is something waiting forever?)")
    if isinstance(exc, AssertionError):
        return CheckResult(exercise, "fail", str(exc) or "a visible check failed")
    return CheckResult(exercise, "fail", f"your code raised {type(exc).__name__}: {exc}")


# --- demos that call an exercise ------------------------------------------------------------

# Servers log an exception their app raised, traceback and all; while a demo waits for an
# unsolved exercise that log would be a traceback after all, so it is held back.
SERVER_LOGGERS = ("uvicorn.error", "hypercorn.error")


class _DropNotImplemented(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not _mentions_not_implemented(exc)


def _qualnames(exc: BaseException) -> list[str]:
    """The qualified names of the functions ``exc`` passed through, outermost first."""
    names = []
    traceback = exc.__traceback__
    while traceback is not None:
        names.append(traceback.tb_frame.f_code.co_qualname)
        traceback = traceback.tb_next
    return names


def _raised_in(exc: BaseException) -> str | None:
    """The function ``exc`` was raised in (``Request.body``), or None."""
    names = _qualnames(exc)
    return names[-1] if names else None


def _unsolved_name(exc: NotImplementedError, exercises: tuple[str, ...]) -> str | None:
    """Which of ``exercises`` raised ``exc``: the innermost frame whose function (or class)
    has one of their names. A router that calls an unsolved echo_app names echo_app."""
    for qualname in reversed(_qualnames(exc)):
        for part in qualname.split("."):
            if part in exercises:
                return part
    # One exercise named, and its cell defines helpers with other names (make_app's get_db).
    return exercises[0] if len(exercises) == 1 else None


@contextlib.contextmanager
def uses_exercises(*exercises: str) -> Iterator[None]:
    """Run a demo cell's code that calls the named exercises.

    While one of them is unsolved (it raises NotImplementedError, directly, wrapped in an
    exception group, or from inside a server), the block stops there and one line says which
    exercise to solve; every other exception propagates as usual, since it is worth reading.
    """
    held_back = _DropNotImplemented()
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    for logger in loggers:
        logger.addFilter(held_back)
    try:
        yield
    except Exception as exc:
        unsolved = not_implemented_in(exc)
        if unsolved is None:
            raise
        name = _unsolved_name(unsolved, exercises)
        listed = ", ".join(f"`{exercise}`" for exercise in exercises)
        what = f"`{name}` is not solved yet" if name else f"an exercise it uses ({listed}) is not solved yet"
        line = f"{SYMBOLS['todo']} This demo stopped here: {what}. Solve it, then run this cell again."
        display(line, f"<div>{html.escape(line)}</div>")
    finally:
        for logger in loggers:
            logger.removeFilter(held_back)


# --- showing results ------------------------------------------------------------------------


def _text_table(results: list[CheckResult], summary: str) -> str:
    width = max(len("exercise"), *(len(result.exercise) for result in results))
    status_width = max(len(r.status_text) for r in results)
    lines = [f"{'exercise'.ljust(width)}  {'status'.ljust(status_width)}  message"]
    lines += [f"{r.exercise.ljust(width)}  {r.status_text.ljust(status_width)}  {r.message}" for r in results]
    return "\n".join([*lines, summary])


def _html_table(results: list[CheckResult], summary: str) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(r.exercise)}</code></td><td>{html.escape(r.status_text)}</td>"
        f'<td style="text-align:left">{html.escape(r.message)}</td></tr>'
        for r in results
    )
    return (
        "<table><thead><tr><th>exercise</th><th>status</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>{html.escape(summary)}</p>"
    )
