import fcntl
import inspect
import json
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The notebooks run on asyncio (Jupyter's loop, uvicorn's loop): test on it alone.
    return "asyncio"


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """lesson -> its notebooks run top to bottom, once per session (``tests/notebook_runs.py``)."""
    from tests.notebook_runs import NotebookRuns

    with NotebookRuns(tmp_path_factory) as runs:
        yield runs


# A process that spins until its parent is gone, so even a killed test run leaves no burner behind.
BUSY_CORE = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"


def run_async(coroutine):
    """``asyncio.run(coroutine)`` in a thread of its own: a worker process of the test run may
    hold the learner's Lab in Playwright, whose event loop runs in the main thread."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def busy_core():
    """A process that keeps one core busy for the length of the test."""
    burner = subprocess.Popen([sys.executable, "-c", BUSY_CORE])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()


# -- sharing the machine between pytest-xdist's workers ----------------------------------------
#
# `python3 course.py test` runs the suite in one worker process per core (pytest-xdist). A test
# marked `whole_machine` (a timing check under a CPU burner of its own) must not share the
# cores with another heavy test: while it runs, no `slow` test does. Each slow test holds a
# lock on a file of this session's for its whole protocol (set-up, call, tear-down, so wider
# fixtures set up or torn down with it are covered), shared; a `whole_machine` test holds it
# exclusive. A gate in front keeps slow tests, which follow each other without a pause, from
# taking the lock for ever while an exclusive one waits for it. The quick tests (not `slow`)
# take no lock: they run beside a whole-machine test, as they would beside any busy machine.

WHOLE_MACHINE = "whole_machine"


@contextmanager
def _locked(path: Path, how: int):
    with path.open("a") as file:
        fcntl.flock(file, how)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextmanager
def machine_share(folder: Path, exclusive: bool):
    gate, share = folder / "gate", folder / "share"
    if exclusive:
        with _locked(gate, fcntl.LOCK_EX), _locked(share, fcntl.LOCK_EX):
            yield
    else:
        with _locked(gate, fcntl.LOCK_EX):
            share_file = share.open("a")
            fcntl.flock(share_file, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(share_file, fcntl.LOCK_UN)
            share_file.close()


def _run_folder(config) -> Path:
    """(The controlling process) A folder of this run's, shared with its workers: the locks,
    and the groups the workers give the tests."""
    if not hasattr(config, "run_folder"):
        config.run_folder = tempfile.TemporaryDirectory(prefix="course-tests-")
        config.add_cleanup(config.run_folder.cleanup)
    return Path(config.run_folder.name)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(pytest-xdist, in the controlling process) Tell each worker where this run's folder is."""
    node.workerinput["run_folder"] = str(_run_folder(node.config))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    folder = getattr(item.config, "workerinput", {}).get("run_folder")
    if folder is None:  # one process: nothing to share
        yield
        return
    if item.get_closest_marker(WHOLE_MACHINE):
        with machine_share(Path(folder), exclusive=True):
            yield
    elif item.get_closest_marker("slow"):
        with machine_share(Path(folder), exclusive=False):
            yield
    else:
        yield


# -- what runs together, and in which order ----------------------------------------------------
#
# pytest-xdist (`--dist loadgroup`) hands each worker whole groups of tests (xdist_group). A
# result several tests share (a session or module fixture: a lesson's graded class or notebook
# runs, a class graded in one confinement mode, a Lab) is made once per worker that asks for it,
# so the tests sharing it form one group:
# - every test that reads a lesson's shared results (LESSON_FIXTURES), whatever its module: the
#   lesson's group; the browser tests that use the learner's Lab without a lesson join the last
#   lesson's group (the start page shows the progress of the lessons run in that Lab before it);
# - a test that uses a wider-scoped fixture of the project's: its module's group, one per value
#   of its wider-scoped parameters (the adversarial suite: one group per confinement mode);
# - any other test is handed out on its own.
# (pytest-xdist's own `--dist loadgroup` reads the groups from node ids, which pytest 9 no longer
# lets it change: pytest-xdist#1386. So each worker writes the groups it gave the tests to the
# run's folder, and `GroupScheduling`, xdist's scheduler by scopes, reads them there.)
# Groups are handed out in the order of the collection, which this puts so that the slowest
# work starts first and the whole-machine tests cost little: the first whole-machine test
# (while it runs, the other workers run the quick tests, which take no lock), then the quick
# tests, then the other whole-machine tests, then the lessons (class grading and notebook
# runs, the heaviest), then the other slow groups and tests.

LESSON_FIXTURES = {"graded_classes", "notebook_runs", "executed_solutions", "lab"}
TESTS = Path(__file__).resolve().parent


def _lesson_of(item) -> str | None:
    from autograder.lessons import Lesson

    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        if isinstance(value, Lesson):
            return value.slug
        if isinstance(getattr(value, "lesson", None), str):  # a lesson's mistake
            return value.lesson
    return None


def _ours(fixture) -> bool:
    try:
        return TESTS in Path(inspect.getsourcefile(fixture.func)).resolve().parents
    except TypeError:  # no source file (a parameter of pytest.mark.parametrize)
        return False


def _group(item) -> str | None:
    from autograder.lessons import all_lessons

    if item.get_closest_marker(WHOLE_MACHINE):
        return None
    if set(item.fixturenames) & LESSON_FIXTURES:
        return f"lesson-{_lesson_of(item) or all_lessons()[-1].slug}"
    callspec = getattr(item, "callspec", None)
    wider = [
        (name, fixtures[-1])
        for name, fixtures in item._fixtureinfo.name2fixturedefs.items()
        if fixtures[-1].scope != "function" and _ours(fixtures[-1])
    ]
    if not wider:
        return None
    params = [f"{name}={callspec.params[name]!r}" for name, _ in wider if callspec and name in callspec.params]
    return "|".join([item.nodeid.split("::")[0], *params])


def _rank(items) -> int:
    """0: the first whole-machine test, 1: quick tests, 2: other whole-machine tests, 3: the
    lessons, 4: other slow tests."""
    if any(item.get_closest_marker(WHOLE_MACHINE) for item in items):
        return 2
    if not any(item.get_closest_marker("slow") for item in items):
        return 1
    return 3 if (_group(items[0]) or "").startswith("lesson-") else 4


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "busy_core" in item.fixturenames:  # it brings its own load: it runs alone
            item.add_marker(getattr(pytest.mark, WHOLE_MACHINE))
        if set(item.fixturenames) & LESSON_FIXTURES:  # it needs a class graded or a notebook run
            item.add_marker(pytest.mark.slow)
    units: dict[str, list] = {}  # each group, or each test on its own, in the collection's order
    for item in items:
        group = _group(item)
        units.setdefault(group or item.nodeid, []).append(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # for GroupScheduling, in the controlling process
        groups = {item.nodeid: group for group, unit in units.items() for item in unit if _group(item)}
        (Path(worker["run_folder"]) / f"groups-{worker['workerid']}.json").write_text(json.dumps(groups))
    ranked = sorted(units.values(), key=_rank)  # stable: within a rank, the collection's order
    # the longest (a slow one) first, so the quick tests have time to run beside it
    whole_machine = sorted(
        (unit for unit in ranked if _rank(unit) == 2),
        key=lambda unit: not any(item.get_closest_marker("slow") for item in unit),
    )
    first_whole_machine = whole_machine[0] if whole_machine else None
    if first_whole_machine is not None:
        ranked.remove(first_whole_machine)
        ranked.insert(0, first_whole_machine)
    items[:] = [item for unit in ranked for item in unit]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """(pytest-xdist, in the controlling process) `--dist loadgroup`, by the groups above."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class GroupScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first asked once every worker has collected
                written = sorted(_run_folder(config).glob("groups-*.json"))
                self.groups = json.loads(written[0].read_text()) if written else {}
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return GroupScheduling(config, log)
