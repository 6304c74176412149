"""autograder.suite: how a hidden suite is laid out and collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.suite import FrozenSuite, hermetic_pytest_args, materialise

SOURCES = (("test_one.py", "def test_one():\n    pass\n"),)


class VisitedFolders:
    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.passed = 0

    def pytest_collect_directory(self, path: Path, parent) -> None:
        self.folders.append(Path(path))

    def pytest_runtest_logreport(self, report) -> None:
        self.passed += report.when == "call" and report.passed


def test_collection_visits_the_suites_folder_alone(tmp_path):
    """Collection once listed every folder beside and above the suite (all of /tmp, on a busy
    machine thousands of entries and most of a submission's grading time)."""
    for n in range(20):
        (tmp_path / f"neighbour-{n}").mkdir()
    suite = materialise(SOURCES, tmp_path / "lesson")
    visited = VisitedFolders()
    code = pytest.main(hermetic_pytest_args(str(suite)),
                       plugins=[visited, FrozenSuite(SOURCES, suite)])
    assert code == 0 and visited.passed == 1
    assert visited.folders and all(folder == suite or suite in folder.parents for folder in visited.folders), visited.folders[:5]
