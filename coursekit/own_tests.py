"""Tests a learner writes in an exercise cell, run against an app, as the cell's self-check does.

    tests, elsewhere = cell_tests(globals(), "new_invoice")  # the cell that defines new_invoice
    verdicts = await run_tests(tests, make_service)           # {"test_x": "passed", "test_y": "failed: ..."}

Why it is built this way:

- **Only the exercise cell's tests count.** The grader runs that cell alone, so a test written
  in another cell, or left in the kernel by an earlier version of the cell (a test since
  renamed), would count for the learner and not for the grader. A cell's functions share the
  code's file name (``__code__.co_filename``), so the exercise cell's tests are those beside a
  helper the cell defines (``anchor``); the others are named, not run.
- **A fresh app per test, its lifespan run**, served in-process through
  ``httpx.ASGITransport``; an exception in the app answers 500, as a server would. A test sees
  the app's HTTP behaviour and nothing else, as the grader's runs do.
- **Plain verdicts.** "passed", or "failed: " and the error; a test that raises
  ``NotImplementedError`` (an unsolved exercise, the learner's or one the app uses) makes the
  whole run raise it, so that the self-check says "not solved yet" calmly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

__all__ = ["cell_tests", "run_tests"]

BASE_URL = "http://test"


def cell_tests(namespace: Mapping[str, Any], anchor: str) -> tuple[dict[str, Callable[..., Any]], list[str]]:
    """(``{name: test}`` of the cell that defined the function ``anchor``, [names of the other
    ``test_*`` functions in ``namespace``]). Without ``anchor`` (the learner removed it), the
    cell that defines the most tests stands in."""
    tests: dict[str, Callable[..., Any]] = {
        name: value for name, value in namespace.items() if name.startswith("test_") and inspect.isfunction(value)
    }
    helper = namespace.get(anchor)
    cell: str | None
    if inspect.isfunction(helper):
        cell = helper.__code__.co_filename
    else:
        files = [test.__code__.co_filename for test in tests.values()]
        cell = max(set(files), key=files.count) if files else None
    mine = {name: test for name, test in tests.items() if test.__code__.co_filename == cell}
    return mine, [name for name in tests if name not in mine]


async def run_tests(tests: Mapping[str, Callable[..., Any]], make_app: Callable[[], Any]) -> dict[str, str]:
    """Run each test (``test(client)``, async or not) against a fresh ``make_app()`` whose
    lifespan runs; return ``{name: "passed" | "failed: <error>"}``."""
    verdicts = {}
    for name, test in tests.items():
        async with LifespanManager(make_app()) as manager:
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                try:
                    outcome = test(client)
                    if inspect.isawaitable(outcome):
                        await outcome
                    verdicts[name] = "passed"
                except NotImplementedError:
                    raise
                except Exception as error:
                    verdicts[name] = f"failed: {type(error).__name__} {error}".strip()
    return verdicts
