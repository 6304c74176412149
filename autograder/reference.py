"""The reference solution behind the ``submission`` API: what differential tests compare with.

A hidden test that asks for the ``reference`` fixture gets the lesson's solution notebook run
(its exercise cells, after the released setup cells, exactly as a submission is assembled by
``notebook.program``) and served with the very API ``submission`` has: ``describe``, ``call``,
``make``, ``probe``, ``asgi``. A test can therefore run one scenario against both and compare
what comes back (``autograder.suitekit.same_as_reference``).

Where it runs: in the trusted process, as an ``InProcessSubmission`` (``autograder.inprocess``),
never in the learner's sandbox, and not in a second sandbox process either:

- the reference is our own code, so it needs no confinement, and the sandbox must never see
  the solutions (the jail hides them);
- a second process per submission would double the sandboxes a class starts, where the cells
  run here in milliseconds (their imports are the worker's already after the first);
- it still speaks the sandbox's protocol through ``_Loopback``: every value, message and error
  of the reference is encoded and decoded exactly as the learner's are, so the two sides are
  compared as the same plain data (tuples as lists, exceptions as type names), never as live
  objects;
- the same code serves nbgrader's kernel (``autograder.nbgrader_bridge``), where the learner's
  code is in-process anyway.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from coursekit.types import ASGIApp, Receive, Scope, Send

from . import notebook, suite
from .errors import GraderFault
from .inprocess import InProcessSubmission
from .lessons import Lesson
from .sandbox.protocol import Document
from .types import Cell, Limits, Probes


class ReferenceBroken(GraderFault):
    def __init__(self, lesson: str, failed: list[str]) -> None:
        super().__init__(
            f"the reference solution of {lesson} does not run (cells {', '.join(failed)}); "
            "differential tests cannot compare with it. Run the solution notebook to see why."
        )


def lesson_of(request: pytest.FixtureRequest) -> Lesson:
    """The lesson of the hidden test asking: its suite's folder is named after the lesson."""
    return Lesson(request.node.path.parent.name)


# The reference as a grading run read it before its first submission ran (``fix``): a worker
# compares with that, whatever happens to the solution notebook and the lesson's probes on
# disk meanwhile.
_fixed: dict[str, tuple[Cell, ...]] = {}
_fixed_probes: dict[str, Probes | None] = {}


def fix(slug: str, fixed: tuple[Cell, ...], probes: Probes | None = None) -> None:
    _fixed[slug] = fixed
    _fixed_probes[slug] = probes


def cells(lesson: Lesson) -> tuple[Cell, ...]:
    """The solution's exercise cells with the release's setup cells, in notebook order."""
    return _fixed[lesson.slug] if lesson.slug in _fixed else _read(lesson)


def probes(lesson: Lesson) -> Probes | None:
    """The lesson's sandbox probes, which the reference is served with as a submission is."""
    return _fixed_probes[lesson.slug] if lesson.slug in _fixed_probes else suite.probes(lesson)


@cache
def _read(lesson: Lesson) -> tuple[Cell, ...]:
    program, missing = notebook.program(notebook.read(lesson.release), notebook.read(lesson.solution))
    if missing:
        raise ReferenceBroken(lesson.slug, missing)
    return tuple(program)


async def start(lesson: Lesson, limits: Limits) -> InProcessSubmission:
    """The reference solution of ``lesson``, freshly run in a namespace of its own."""
    served, reports = await InProcessSubmission.running(list(cells(lesson)), limits, probes(lesson))
    failed = [report.id for report in reports if report.status != "ok"]
    if failed:
        await served.close()
        raise ReferenceBroken(lesson.slug, failed)
    return served


class Lazy:
    """The reference of ``lesson``, started on its first use: a differential test whose
    reference answers are known already (``autograder.answers``) never runs the solution's
    cells. Same API as ``submission``."""

    def __init__(self, lesson: Lesson, limits: Limits) -> None:
        self.lesson = lesson
        self.limits = limits
        self.served: InProcessSubmission | None = None

    async def started(self) -> InProcessSubmission:
        if self.served is None:
            self.served = await start(self.lesson, self.limits)
        return self.served

    async def describe(self, name: str) -> Document:
        return await (await self.started()).describe(name)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await (await self.started()).call(name, *args, **kwargs)

    async def probe(self, reference: str, *args: Any, **kwargs: Any) -> Any:
        return await (await self.started()).probe(reference, *args, **kwargs)

    async def make(self, factory: str, *args: Any, **kwargs: Any) -> str:
        return await (await self.started()).make(factory, *args, **kwargs)

    def asgi(self, name: str, label: str | None = None) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await (await self.started()).asgi(name, label)(scope, receive, send)

        return app

    async def close(self) -> None:
        if self.served is not None:
            await self.served.close()
