"""The grader works wherever the course lives: lesson 01's reference solution earns full marks
with the checkout, its venv, the interpreter and the submissions all in one of the places an
instructor may put them, in every mode this machine can play (``grading_modes.MODES``).

Each location is a folder holding, made cheaply:

    course/      a copy of what grading needs (autograder, coursekit, datasets, course.toml,
                 notebooks, solutions), as a clone would have it; a symlink to it, or mounted
                 read-only, where the location says so
    python/      the machine's interpreter (its whole prefix), bound there
    packages/    the course's installed packages, bound there
    venv/        a venv on python/, as ``python -m venv --symlinks`` makes one, seeing course/
                 and packages/ through a .pth file
    class/       the submissions; tmp/ the grader's TMPDIR (the sandboxes' scratch folders)

The binds are made in each command's own mount namespace (``grading_modes.command``'s
prelude): nothing on the machine changes, and nothing is copied but the course's own files.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.lessons import ROOT, find_lesson
from tests.autograder.grading_modes import MODES, Mode, command, give_to, unavailable

pytestmark = pytest.mark.slow

LESSON = find_lesson("01")
# What a clone holds that grading reads (tests, scripts and .git it does not).
COURSE = ("autograder", "coursekit", "datasets", "course.toml", "notebooks", "solutions")
PLAYED = [mode for mode in MODES if mode.interpreter == "project"]  # every venv here is made the plain way


@dataclass(frozen=True)
class Location:
    name: str
    parent: str  # where its folder is made; "~" is the home directory of whoever runs the tests
    prefix: str = "course-"
    checkout: str = "plain"  # or "symlinked" (course/ is a symlink) or "read-only" (a read-only mount)


LOCATIONS = [
    Location("tmp", "/tmp"),
    Location("var-tmp", "/var/tmp"),
    Location("dev-shm", "/dev/shm"),
    Location("home", "~"),
    Location("spaces-and-non-ascii", "/var/tmp", prefix="cours d'été für "),
    Location("symlinked-checkout", "/var/tmp", checkout="symlinked"),
    Location("read-only-checkout", "/var/tmp", checkout="read-only"),
]


def _ignored(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("__pycache__", ".ipynb_checkpoints")]


def made(location: Location) -> Path:
    """The location's folder, filled as the module's docstring says (the binds excepted)."""
    base = Path(tempfile.mkdtemp(prefix=location.prefix, dir=Path(location.parent).expanduser()))
    os.chmod(base, 0o755)
    course = base / ("real-course" if location.checkout == "symlinked" else "course")
    course.mkdir()
    for name in COURSE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, course / name, ignore=_ignored)
        else:
            shutil.copy2(ROOT / name, course / name)
    if location.checkout == "symlinked":
        (base / "course").symlink_to(course)
    for name in (
        "python",
        "packages",
        "class",
        "venv/bin",
        f"venv/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages",
    ):
        (base / name).mkdir(parents=True)
    (base / "tmp").mkdir(mode=0o1777)
    os.chmod(base / "tmp", 0o1777)
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    (base / "venv" / "bin" / "python").symlink_to(base / "python" / executable.relative_to(sys.base_prefix))
    (base / "venv" / "pyvenv.cfg").write_text(
        f"home = {base / 'python' / executable.parent.relative_to(sys.base_prefix)}\n"
        f"include-system-site-packages = false\nversion = {'.'.join(map(str, sys.version_info[:3]))}\n"
    )
    [site_packages] = (base / "venv" / "lib").glob("python3*/site-packages")
    (site_packages / "course.pth").write_text(
        f"{base / 'course'}\nimport site; site.addsitedir({str(base / 'packages')!r})\n", encoding="utf-8"
    )
    shutil.copy(LESSON.solution, base / "class" / "reference.ipynb")
    return base


def prelude(location: Location, base: Path) -> str:
    """The mounts that put the interpreter and the packages in the location (and make the
    checkout read-only where it says so), in the command's own mount namespace."""
    packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    steps = [
        f"mount --bind {shlex.quote(sys.base_prefix)} {shlex.quote(str(base / 'python'))}",
        f"mount --bind {shlex.quote(str(packages))} {shlex.quote(str(base / 'packages'))}",
    ]
    if location.checkout == "read-only":
        course = shlex.quote(str(base / "course"))
        steps += [f"mount --bind {course} {course}", f"mount -o remount,bind,ro {course}"]
    return "".join(step + "; " for step in steps)


def grade_from(location: Location, base: Path, mode: Mode, graded: Path | None = None, tmp: Path | None = None) -> dict:
    """Grade ``graded`` (default: the class in ``base``) with the location's own venv, as
    ``mode`` says, with ``tmp`` as TMPDIR (default: the location's): what it printed, how long
    it took, and the reference's result if written."""
    out = base / f"grades-{mode.name}"
    argv = ["-m", "autograder", "grade", str(graded or base / "class"), "--out", str(out)]
    if not mode.protective:
        argv.append("--accept-risk")
    with tempfile.TemporaryDirectory(prefix="opened-paths-") as stash:
        line, env = command(
            mode,
            argv,
            str(base / "venv" / "bin" / "python"),
            base,
            Path(stash),
            prelude=prelude(location, base),
            needed=[base, Path(sys.base_prefix)],
        )
        env["TMPDIR"] = str(tmp or base / "tmp")
        started = time.monotonic()
        completed = subprocess.run(line, capture_output=True, text=True, env=env, cwd=base, timeout=600)
    found = out / "reference.json"
    return {
        "completed": completed,
        "seconds": time.monotonic() - started,
        "out": out,
        "result": json.loads(found.read_text()) if found.exists() else None,
    }


@pytest.fixture(scope="module")
def graded():
    """(location name, mode name) -> what grading the reference there gave, for every mode this
    machine can play; two gradings at a time (the machine's cores, each busy with one)."""
    if os.geteuid() != 0:
        pytest.skip("putting the interpreter elsewhere (a bind mount) and playing other users need root")
    played = [mode for mode in PLAYED if not unavailable(mode)]
    bases = {location: made(location) for location in LOCATIONS}
    try:
        for base in bases.values():
            if any(mode.user == "nobody" for mode in played):
                give_to(base, next(mode for mode in played if mode.user == "nobody"))
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                (location.name, mode.name): pool.submit(grade_from, location, base, mode)
                for location, base in bases.items()
                for mode in played
            }
            found = {key: future.result() for key, future in futures.items()}
        print(f"\nthe location matrix: {len(found)} gradings in {time.monotonic() - started:.0f} s")
        for (location, mode), graded_there in found.items():
            result, completed = graded_there["result"], graded_there["completed"]
            shown = f"{result['score']:g}/{result['max_score']:g}" if result else "no result"
            print(
                f"[{location} x {mode}] {shown} in {graded_there['seconds']:.1f} s; "
                f"{completed.stdout.splitlines()[0] if completed.stdout else completed.stderr[-300:]}"
            )
        yield found
    finally:
        for base in bases.values():
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", PLAYED, ids=[mode.name for mode in PLAYED])
@pytest.mark.parametrize("location", LOCATIONS, ids=[location.name for location in LOCATIONS])
def test_the_reference_earns_full_marks_wherever_the_course_lives(location: Location, mode: Mode, graded):
    why = unavailable(mode)
    if why:
        pytest.skip(why)
    there = graded[(location.name, mode.name)]
    completed, result = there["completed"], there["result"]
    assert completed.returncode == 0, completed.stderr[-2000:]
    first, full = completed.stdout.splitlines()[0], f"{result['max_score']:g}"
    assert f"canary (the reference, graded first like a submission): 01_asgi_by_hand {full}/{full} in" in first, first
    failed = [(test["name"], test["feedback"]) for test in result["tests"] if not test["passed"]]
    assert result["score"] == result["max_score"] > 0, (result["problems"], failed[:3])
