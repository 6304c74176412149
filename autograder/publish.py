"""``autograder publish DIR``: the course as a class's learners get it.

Everything a learner needs to work (the learner notebooks and their start page, ``coursekit``,
the data, the set-up command, the grader's sandbox for ``autograder check``) and nothing that
gives answers away: no solutions, no lessons' folders (hidden suites), no maintainers' tests or
scripts, no git history. In that copy ``autograder check`` says that the hidden tests are kept by the
instructor, and the notebooks say how to hand work in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .lessons import FOLDER, ROOT

WITHHELD = ("solutions", "tests", "scripts", "docs/AUTHORING.md", "nbgrader_config.py")
# And every lesson's folder (its hidden suite, probes, mistakes); the package's own module stays:
# ``autograder check`` reads the lessons with it.
LESSONS = FOLDER.relative_to(ROOT)


def course_files() -> list[Path]:
    """The course's files, as git tracks them (relative to the course's folder)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [Path(name) for name in listed.decode().split("\0") if name]


def withheld(path: Path) -> bool:
    in_a_lesson = LESSONS in path.parents and path.parent != LESSONS
    return in_a_lesson or any(path == Path(each) or Path(each) in path.parents for each in WITHHELD)


def publish(target: Path) -> list[Path]:
    """Copy the learners' part of the course into ``target``; return what was copied."""
    copied = [path for path in course_files() if not withheld(path) and (ROOT / path).is_file()]
    for path in copied:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target / path)
    return copied
