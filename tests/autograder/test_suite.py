"""autograder.suite: how a hidden suite is laid out and collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.suite import FrozenSuite, _imported_beside, hermetic_pytest_args, materialise

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
    code = pytest.main(hermetic_pytest_args(str(suite)), plugins=[visited, FrozenSuite(SOURCES, suite)])
    assert code == 0 and visited.passed == 1
    assert visited.folders and all(folder == suite or suite in folder.parents for folder in visited.folders), (
        visited.folders[:5]
    )


def beside(value: int) -> tuple[tuple[str, str], ...]:
    """A suite whose test imports a module beside it, and a probes file nothing may run here."""
    return (
        ("test_one.py", f"from .inputs import VALUE\n\ndef test_one():\n    assert VALUE == {value}\n"),
        ("inputs.py", f"VALUE = {value}\n"),
        ("sandbox_probes.py", "raise RuntimeError('the trusted side ran the probes')\n"),
    )


def test_a_suites_modules_and_their_neighbours_come_from_its_snapshot(tmp_path):
    """Each suite gets the modules beside it from its own snapshot, never from the files on
    disk nor from a suite run before it in the same process; the probes are not run here."""
    for value in (1, 2):
        sources = beside(value)
        suite = materialise(beside(99), tmp_path / f"lesson-{value}")  # the disk says otherwise
        visited = VisitedFolders()
        code = pytest.main(hermetic_pytest_args(str(suite)), plugins=[visited, FrozenSuite(sources, suite)])
        assert code == 0 and visited.passed == 1


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from .inputs import VALUE\n", ["inputs"]),
        ("def test():\n    from .inputs import (\n        VALUE,\n    )\n", ["inputs"]),
        ("import json; from .cases import CASES\n", ["cases"]),
        ("from . import inputs\nfrom ..other import x\nfrom inputs import y\n", []),
        ("from .inputs_v2 import z\n", ["inputs_v2"]),
    ],
)
def test_the_modules_a_suite_module_imports_from_beside_it(source, found):
    """Read from the text (every worker asks it of every module), as a syntax walk would find
    them: a relative import of a named module, wherever it stands; nothing else."""
    assert _imported_beside(source) == found
