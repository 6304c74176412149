"""One run's sandboxes: the preflight drops fatal cells, and its sandbox serves the first test."""

import pytest

from autograder.jail import Jail
from autograder.pool import Sandboxes
from autograder.submission import SubmissionTimedOut
from autograder.types import Cell, Limits

pytestmark = pytest.mark.anyio
FAST = Limits(cell_seconds=2, call_seconds=2)
COUNTER = (
    "import itertools, os\ncounter = itertools.count()\ndef tick(): return next(counter)\ndef pid(): return os.getpid()"
)


def cells(*sources: str) -> list[Cell]:
    return [Cell(f"c{i}", source, "exercise") for i, source in enumerate(sources)]


@pytest.fixture
async def pool():
    made = []

    def make(*sources: str) -> Sandboxes:
        made.append(Sandboxes(cells(*sources), FAST, Jail()))
        return made[-1]

    yield make
    for each in made:
        await each.retire()


async def test_preflight_drops_endless_and_crashing_cells_and_reports_each(pool):
    sandboxes = pool("a = 1", "while True: pass", "import os\nos._exit(1)", "raise ValueError('x')", "b = a + 1")
    reports = await sandboxes.preflight()
    assert [report.status for report in reports] == ["ok", "timeout", "crashed", "error", "ok"]
    assert [cell.id for cell in sandboxes.cells] == ["c0", "c3", "c4"]
    assert sandboxes.started == 3  # one load per fatal cell found, then the one that ran through
    sub = await sandboxes.fresh()
    assert (await sub.describe("b"))["kind"] == "int"  # the cells after the fatal ones ran


async def test_the_first_test_gets_the_preflight_sandbox_untouched_then_resets(pool):
    sandboxes = pool(COUNTER)
    await sandboxes.preflight()
    first = await sandboxes.fresh()
    assert sandboxes.started == 1
    assert await first.call("tick") == 0
    assert await first.call("tick") == 1
    second = await sandboxes.fresh()  # a new namespace, same process
    assert second is first and sandboxes.started == 1
    assert await second.call("tick") == 0


async def test_a_sandbox_that_ran_out_of_time_is_replaced(pool):
    sandboxes = pool(COUNTER + "\ndef spin():\n    while True: pass")
    await sandboxes.preflight()
    sub = await sandboxes.fresh()
    with pytest.raises(SubmissionTimedOut):
        await sub.call("spin")
    assert not sub.reusable
    replacement = await sandboxes.fresh()
    assert sandboxes.started == 2
    assert replacement.process.pid != sub.process.pid
    assert await replacement.call("tick") == 0
