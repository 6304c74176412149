"""A lesson's probes (``autograder.sandbox.probes``): handed to sandboxes as source, and the
trust boundary around them: the trusted side never imports a probes file, and probes import
nothing from the trusted side."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from autograder.inprocess import InProcessSubmission
from autograder.lessons import FOLDER, PACKAGE, ROOT
from autograder.sandbox import probes
from autograder.submission import Submission, SubmissionRaised, defined
from autograder.types import Cell, Limits, Probes

DOUBLE = '''
"""Probes for a test: a module of their own, made from this source."""
import json

from autograder.sandbox.plain import plain


def double(function, value):
    return plain({"got": function(value), "module": __name__, "dumped": json.dumps(value)})
'''


def test_a_source_becomes_a_module_once_per_version():
    first = probes.install("test_once", DOUBLE)
    assert probes.find("test_once") is first and probes.install("test_once", DOUBLE) is first
    assert first.__name__ == "autograder.sandbox.probes.test_once" and sys.modules[first.__name__] is first
    changed = probes.install("test_once", DOUBLE + "\nEXTRA = 1\n")
    assert changed is not first and probes.find("test_once").EXTRA == 1
    assert probes.find("test_never_installed") is None


def test_a_broken_source_is_reported_where_a_probe_is_asked_for_and_not_before():
    assert probes.install("test_broken", "def nope(:\n") is None
    with pytest.raises(probes.ProbesNotLoaded, match="test_broken did not load: SyntaxError"):
        probes.find("test_broken")


@pytest.mark.anyio
async def test_a_sandbox_runs_the_probes_it_was_handed():
    sub = await Submission.start(Limits(), probes=Probes("lessonzz", DOUBLE))
    try:
        await sub.load([Cell("c1", "def absolute(value):\n    return abs(value)\n", "exercise")])
        answer = await sub.probe("lessonzz.double", defined("absolute"), -21)
        assert answer == {"got": 21, "module": "autograder.sandbox.probes.lessonzz", "dumped": "-21"}
        with pytest.raises(SubmissionRaised, match="ModuleNotFoundError"):
            await sub.probe("lessonyy.double", defined("absolute"), 1)  # no such probes were handed over
    finally:
        await sub.close()


@pytest.mark.anyio
async def test_an_in_process_submission_gets_them_the_same_way():
    sub = await InProcessSubmission.over({"negate": lambda value: -value}, Limits(), Probes("lessonxx", DOUBLE))
    try:
        assert (await sub.probe("lessonxx.double", defined("negate"), 2))["got"] == -2
    finally:
        await sub.close()


# -- the trust boundary ---------------------------------------------------------------------------

PROBES_FILES = sorted(FOLDER.glob("*/sandbox_probes.py"))


def imported(path: Path) -> list[tuple[int, str]]:
    """(level, module) for every import in ``path``, at the top or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_lessons_have_probes_files():
    assert len(PROBES_FILES) >= 5


def test_the_trusted_side_never_imports_a_probes_file():
    """The grader's own code and the hidden suites name a probe only as "lessonNN.function"
    and hand the source over (``autograder.suite.probes``); none imports a probes module."""
    trusted = [path for path in PACKAGE.rglob("*.py") if path.name != "sandbox_probes.py"]
    for path in trusted:
        for level, module in imported(path):
            parts = module.split(".")
            assert "sandbox_probes" not in parts, f"{path.relative_to(ROOT)} imports {module}"
            assert not module.startswith("autograder.sandbox.probes."), f"{path.relative_to(ROOT)} imports {module}"
            assert not module.startswith("autograder.lessons."), f"{path.relative_to(ROOT)} imports a lesson's folder"
            assert not (level and "sandbox_probes" in parts), path
    # Nor does anything here load one by path: every module of this process came from elsewhere
    # (the probes the tests above used were made from source, under their own name).
    for module in [*trusted_modules(), *sys.modules.values()]:
        assert not str(getattr(module, "__file__", "") or "").endswith("sandbox_probes.py"), module


def trusted_modules() -> list:
    """Every module of the grader, imported (but the lessons' folders, which pytest or the
    worker loads)."""
    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.parent.parent != FOLDER and path.name != "__main__.py"
    ]
    return [importlib.import_module(name.removesuffix(".__init__")) for name in names]


def third_party(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and "site-packages" in str(spec.origin or (spec.submodule_search_locations or [""])[0])


@pytest.mark.parametrize("path", PROBES_FILES, ids=lambda path: path.parent.name)
def test_probes_import_nothing_from_the_trusted_side(path):
    """Probes run in the sandbox: the standard library, the libraries the lesson teaches,
    ``coursekit`` and the sandbox's core, and nothing else of ``autograder``."""
    for level, module in imported(path):
        assert level == 0, f"a relative import ({module}): the probes are made a module of no package"
        top = module.split(".")[0]
        if top == "autograder":
            assert module.startswith("autograder.sandbox.") and module != "autograder.sandbox.probes", module
            assert (PACKAGE / "sandbox" / f"{module.split('.')[2]}.py").exists(), module
        else:
            assert top in sys.stdlib_module_names or top in ("__future__", "coursekit") or third_party(top), module
