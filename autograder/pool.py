"""The sandboxes of one run of a hidden suite: one live sandbox at a time, reset between tests.

A run starts with a preflight: the cells are loaded once to learn each one's fate (ok, error,
endless, crashed). A cell that never ends or ends its process is dropped, and the rest are
loaded again in a new sandbox, until every remaining cell has run: such a cell then costs its
time once rather than once per test, and cannot take the cells after it down with it.

The sandbox the preflight leaves behind holds exactly the cells every test needs, freshly
run, so the first test gets it as it is. Each later test gets it reset (the cells run again in
a new namespace, in the same process: far cheaper than a new process). When a sandbox crashes
or runs out of time, the next test gets a new one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .jail import Jail
from .submission import Submission
from .types import Cell, CellReport, Limits, Probes

FATAL = ("timeout", "crashed")


class Sandboxes:
    def __init__(self, cells: list[Cell], limits: Limits, jail: Jail, probes: Probes | None = None) -> None:
        self.cells = list(cells)
        self.limits = limits
        self.jail = jail
        self.probes = probes  # the lesson's, handed to every sandbox started
        self.current: Submission | None = None
        self.untouched = False  # the current sandbox has just loaded the cells: no reset needed
        self.started = 0

    async def preflight(self) -> list[CellReport]:
        """Each cell's fate, in order; afterwards ``cells`` holds the ones safe to run."""
        fates: dict[str, CellReport] = {}
        remaining = list(self.cells)
        while True:
            await self.retire()
            reports = await self._start(remaining)
            fates.update({report.id: report for report in reports})
            fatal = {report.id for report in reports if report.status in FATAL}
            if not fatal:
                break
            remaining = [cell for cell in remaining if cell.id not in fatal]
        fates_in_order = [fates[cell.id] for cell in self.cells]
        self.cells = remaining
        return fates_in_order

    async def fresh(self) -> Submission:
        """A sandbox in which the cells have just run, in a namespace no test has touched."""
        if self.current is not None and self.current.reusable:
            if self.untouched:
                self.untouched = False
                return self.current
            await self.current.reset(self.cells)
            if self.current.reusable:
                return self.current
        await self.retire()
        await self._start(self.cells)
        self.untouched = False
        assert self.current is not None  # narrows the type for the checker  # noqa: S101
        return self.current

    async def _start(self, cells: list[Cell]) -> list[CellReport]:
        self.started += 1
        self.current = await Submission.start(self.limits, self.jail, self.probes)
        reports = await self.current.load(cells)
        self.untouched = self.current.reusable
        return reports

    @asynccontextmanager
    async def separate(self) -> AsyncIterator[Submission]:
        """A sandbox of its own (a new process, scratch folder and namespaces) with the cells
        freshly run, closed afterwards: for runs that must share no state with any other
        (``autograder.learner_tests``). The run's own sandbox is left as it is."""
        submission = await Submission.start(self.limits, self.jail, self.probes)
        try:
            await submission.load(self.cells)
            yield submission
        finally:
            await submission.close()

    async def retire(self) -> None:
        if self.current is not None:
            await self.current.close()
            self.current = None
        self.untouched = False
