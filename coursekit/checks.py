"""Visible self-checks for exercises: one line of feedback, right under the exercise.

    @self_check("json_app")
    async def _():
        trace = await drive(json_app, http_scope())
        assert trace.status == 200, f"expected status 200, got {trace.status}"

Applying the decorator runs the check at once and prints one line: ✅ pass, ⏳ not solved
yet, ❌ failed and why. It never raises, so "Run All" reaches the end of the notebook
even with unsolved exercises. ``report()`` re-runs every check seen so far and sums up.

These checks are the *visible* half of grading: the grader's hidden tests check more.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from coursekit.serve import run_blocking

__all__ = ["CheckResult", "Report", "if_solved", "report", "reset", "self_check"]

Status = Literal["pass", "todo", "fail"]
SYMBOLS: dict[str, str] = {"pass": "✅", "todo": "⏳", "fail": "❌"}
HIDDEN_TESTS_NOTE = "The grader's hidden tests check more."
PASS_MESSAGE = "the visible checks pass."
TODO_MESSAGE = "not solved yet (the exercise still raises NotImplementedError)."


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
        text = f"{self.symbol} {self.exercise}: {self.message}"
        return f"{text} {HIDDEN_TESTS_NOTE}" if self.status == "pass" else text


# exercise id -> (check function, timeout). A dict keeps registration order, and
# re-running a check cell replaces its entry in place.
_registry: dict[str, tuple[Callable[[], Any], float]] = {}


def self_check(exercise: str, *, timeout: float = 20.0) -> Callable[[Callable[[], Any]], CheckResult]:
    """Register a check function (sync or async, no arguments) and run it now.

    The decorated name ends up bound to the ``CheckResult``. ``timeout`` bounds an async
    check; a sync check that blocks cannot be interrupted.
    """

    def decorator(check: Callable[[], Any]) -> CheckResult:
        _registry[exercise] = (check, timeout)
        result = _run(exercise, check, timeout)
        _display(result.line, f"<div>{html.escape(result.line)}</div>")
        return result

    return decorator


class Report(list[CheckResult]):
    """The results ``report()`` returns: a plain list that Jupyter does not show again.

    ``report()`` has already displayed the table; when it is the last line of a cell,
    Jupyter would also display the returned value. ``_ipython_display_`` doing nothing
    prevents that second, noisier copy. Everywhere else it is an ordinary list.
    """

    def _ipython_display_(self) -> None:
        pass


def report() -> Report:
    """Re-run every registered check, in order, and show a summary table."""
    if not _registry:
        _display("No self-checks have run yet: run the exercise cells and their checks first.")
        return Report()
    results = Report(_run(exercise, check, timeout) for exercise, (check, timeout) in _registry.items())
    passed = sum(result.status == "pass" for result in results)
    summary = f"{passed} of {len(results)} exercises pass their visible checks. {HIDDEN_TESTS_NOTE}"
    _display(_text_table(results, summary), _html_table(results, summary))
    return results


def reset() -> None:
    """Forget every registered check (for tests)."""
    _registry.clear()


@contextlib.contextmanager
def if_solved(exercise: str) -> Iterator[None]:
    """Run a demo that uses an exercise; if the exercise is not solved yet, say so calmly.

        with if_solved("LagMonitor"):
            monitor = LagMonitor()
            ...

    The rest of the block is skipped when the exercise (or anything it led to) raised
    NotImplementedError, so "Run All" goes on to the next cell; any other error propagates.
    """
    try:
        yield
    except Exception as exc:
        if not _mentions_not_implemented(exc):
            raise
        line = f"{SYMBOLS['todo']} {exercise} is not solved yet, so this demo stops here: solve it, then run this cell again."
        _display(line, f"<div>{html.escape(line)}</div>")


# --- running one check ----------------------------------------------------------------------


def _run(exercise: str, check: Callable[[], Any], timeout: float) -> CheckResult:
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
    run_blocking(lambda: asyncio.run(within_timeout()), timeout=timeout + 1.0)


class _CheckTimeout(TimeoutError):
    """An async check ran out of time (as opposed to a TimeoutError from the code)."""


def _mentions_not_implemented(exc: BaseException, seen: set[int] | None = None) -> bool:
    """True if NotImplementedError is anywhere in ``exc``: itself, what it wraps, its groups."""
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return False
    seen.add(id(exc))
    if isinstance(exc, NotImplementedError):
        return True
    inner: list[BaseException] = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []
    inner += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    return any(_mentions_not_implemented(e, seen) for e in inner)


def _classify(exercise: str, exc: Exception) -> CheckResult:
    if _mentions_not_implemented(exc):
        return CheckResult(exercise, "todo", TODO_MESSAGE)
    if isinstance(exc, _CheckTimeout):
        return CheckResult(exercise, "fail", f"{exc} (is something waiting forever?)")
    if isinstance(exc, AssertionError):
        return CheckResult(exercise, "fail", str(exc) or "a visible check failed")
    return CheckResult(exercise, "fail", f"your code raised {type(exc).__name__}: {exc}")


# --- showing results ------------------------------------------------------------------------


def _display(text: str, html_text: str | None = None) -> None:
    """Show rich output in a notebook, plain text anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    bundle = {"text/plain": text}
    if html_text is not None:
        bundle["text/html"] = html_text
    display(bundle, raw=True)


def _text_table(results: list[CheckResult], summary: str) -> str:
    width = max(len("exercise"), *(len(result.exercise) for result in results))
    lines = [f"{'exercise'.ljust(width)}  status  message"]
    lines += [f"{r.exercise.ljust(width)}  {r.symbol}      {r.message}" for r in results]
    return "\n".join([*lines, summary])


def _html_table(results: list[CheckResult], summary: str) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(r.exercise)}</code></td><td>{r.symbol}</td>"
        f'<td style="text-align:left">{html.escape(r.message)}</td></tr>'
        for r in results
    )
    return (
        "<table><thead><tr><th>exercise</th><th>status</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>{html.escape(summary)}</p>"
    )
