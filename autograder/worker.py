"""Grade one submission: ``python -m autograder.worker PROGRAM SUITE RESULT``.

Run by ``autograder.grade`` in a process of its own per submission, so that each run of the
hidden suite starts from a clean interpreter and runs in parallel with the others. Two steps:

1. a preflight: load the cells in a sandbox to learn each cell's fate (ok, error, endless,
   crashed). A cell that never ends or ends the process is dropped and the rest are loaded
   again, until every remaining cell has run: such a cell then costs its time once, not once
   per test, and cannot take the cells after it down with it;
2. the hidden suite, through pytest and ``autograder.plugin``.

PROGRAM is JSON {"cells": [...], "limits": {...}}; RESULT gets {"cells": [...], "tests": [...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest

from .jail import Jail
from .submission import Submission
from .suite import pytest_args
from .types import Cell, CellReport, Limits


FATAL = ("timeout", "crashed")


async def load_once(cells: list[Cell], limits: Limits, jail: Jail) -> list[CellReport]:
    sub = await Submission.start(limits, jail)
    try:
        return await sub.load(cells)
    finally:
        await sub.close()


async def preflight(cells: list[Cell], limits: Limits, jail: Jail) -> tuple[list[Cell], list[CellReport]]:
    """The cells safe to load in every test, and the fate of each cell."""
    fates: dict[str, CellReport] = {}
    remaining = list(cells)
    while remaining:
        reports = await load_once(remaining, limits, jail)
        fatal = {report.id for report in reports if report.status in FATAL}
        fates.update({report.id: report for report in reports})
        if not fatal:
            break
        remaining = [cell for cell in remaining if cell.id not in fatal]
    return remaining, [fates[cell.id] for cell in cells]


def main(program_path: str, suite: str, result_path: str) -> int:
    program = json.loads(Path(program_path).read_text())
    limits = Limits(**program["limits"])
    cells = [Cell(**cell) for cell in program["cells"]]
    safe, reports = asyncio.run(preflight(cells, limits, Jail(tuple(program.get("hidden", ())), program.get("ledger"))))
    program["cells"] = [asdict(cell) for cell in safe]
    with tempfile.TemporaryDirectory(prefix="worker-") as work:
        kept_program = Path(work) / "program.json"
        kept_program.write_text(json.dumps(program))
        tests_path = Path(work) / "tests.json"
        pytest.main([*pytest_args(suite), "-p", "no:anyio", "-p", "autograder.plugin",
                     f"--program={kept_program}", f"--results={tests_path}"])
        tests = json.loads(tests_path.read_text()) if tests_path.exists() else []
    Path(result_path).write_text(json.dumps({"cells": [asdict(report) for report in reports], "tests": tests}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
