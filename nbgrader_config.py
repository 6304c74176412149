"""This repository as an nbgrader course (read by every ``nbgrader`` command run from here).

nbgrader's own steps map onto the course's folders:

    source     solutions/<lesson>/<lesson>.ipynb    the single source of a lesson
    release    notebooks/<lesson>/<lesson>.ipynb    the learner's copy
    the rest   nbgrader/                            submissions, results, gradebook, exchange

so ``nbgrader generate_assignment 01_asgi_by_hand --force`` writes the same learner notebook as
``autograder release 01`` (tests/autograder/test_nbgrader.py compares them), and
``nbgrader autograde`` scores each exercise with the same hidden suite ``autograder grade``
uses (the lesson's autograder test cells call ``autograder.nbgrader_bridge``). Everything
under ``nbgrader/`` is a class's data, not the course's, and is kept out of git.

Paths are taken from this file's folder, so a copy of the course elsewhere (a test's
temporary folder) is a course of its own.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "nbgrader")
# nbgrader creates the folders it writes to, but neither the gradebook's nor the exchange: the
# instructor's Lab lists assignments and courses from the exchange, and fails without it.
os.makedirs(os.path.join(DATA, "exchange"), exist_ok=True)

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "fastapi-deep-dive"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("nbgrader", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("nbgrader", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("nbgrader", "feedback")
c.CourseDirectory.solution_directory = os.path.join("nbgrader", "solution")
c.CourseDirectory.source_with_tests_directory = os.path.join("nbgrader", "source_with_tests")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(DATA, "gradebook.db")
c.Exchange.root = os.path.join(DATA, "exchange")

# The learner's copy must be what `autograder release` makes (autograder/release.py, which
# uses these preprocessors with their defaults): nbgrader's own stub, stated here so that a
# change to it shows up as a difference in that test rather than going unnoticed.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# nbgrader's own list, with the steps the course adds at the end (see autograder/release.py).
from nbgrader.converters import GenerateAssignment  # noqa: E402

from autograder.release import AppendSubmitCell, KeepReleasedSource, WriteKernelMetadata  # noqa: E402

c.GenerateAssignment.preprocessors = [
    *GenerateAssignment.class_traits()["preprocessors"].default(),
    KeepReleasedSource,
    AppendSubmitCell,
    WriteKernelMetadata,
]

# Seconds per cell (nbgrader's default, stated): it ends a learner's endless loop, and leaves
# room for a hidden-test cell whose first check waits out the grader's 5 s per call (Limits.call_seconds).
c.Execute.timeout = 30
