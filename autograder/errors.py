"""Errors meant for a person: each says what went wrong and what to do about it."""

from __future__ import annotations


class GraderError(Exception):
    """Base class for problems the grader reports to the person running it."""


class NotANotebook(GraderError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} is not a notebook the grader can read ({reason}). "
            "Submit the .ipynb file saved by Jupyter, not an export or a copy of its text."
        )


class CourseNotFound(GraderError):
    def __init__(self, manifest: str) -> None:
        super().__init__(
            f"The grader cannot find the course it belongs to: {manifest} is missing. It grades "
            "against the checkout it was installed from (course.toml, notebooks/, the suites), so "
            "install it from a checkout in editable mode (`pip install -e .`, which `python3 "
            "course.py` does) and run it from there, rather than `pip install .` or a wheel."
        )


class UnknownLesson(GraderError):
    def __init__(self, path: str, known: list[str]) -> None:
        super().__init__(
            f"Cannot tell which lesson {path} belongs to: none of its exercise cells match a lesson. "
            f"Pass --lesson with one of: {', '.join(known)}."
        )


class NoSuchLesson(GraderError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no lesson {name!r}; known: {', '.join(known)}")


class ReleaseOutOfDate(GraderError):
    def __init__(self, paths: list[str]) -> None:
        super().__init__(
            "These notebooks differ from what a fresh release of the solutions writes: "
            + ", ".join(paths)
            + ". Run `autograder release` and commit the result."
        )


class UnconfinedGrading(GraderError):
    def __init__(self, described: str) -> None:
        super().__init__(
            "Refusing to grade: this machine cannot confine a submission, so each one would run "
            f"with access to the hidden tests, the solutions and the other submissions ({described}). "
            "Grade as root on Linux (a VM, or a container allowed to make namespaces), or as a user "
            "where the kernel allows unprivileged user namespaces (kernel.unprivileged_userns_clone=1, "
            "and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu). To grade here anyway, "
            "knowing that a submission can read and change what you can, pass --accept-risk. "
            "To check your own notebook, use `autograder check NOTEBOOK`."
        )


class RootWithoutConfinement(GraderError):
    def __init__(self, described: str) -> None:
        super().__init__(
            "Refusing to run a notebook as root without a user id of its own for it: this machine "
            f"gives none ({described}). Run the grader as an ordinary user, or install Python "
            "where every user can read it, or let root make namespaces here."
        )


class NoHiddenTests(GraderError):
    def __init__(self, lesson: str) -> None:
        super().__init__(
            f"This copy of the course has no hidden tests for {lesson}: your instructor keeps them. "
            "The self-checks in the notebook are what you can run here; hand your notebook in as "
            "your instructor says to be graded with the hidden tests."
        )


class PromisesInvalid(GraderError):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f'{where}: {problem}. See docs/AUTHORING.md, "Promises", for the format.')


class StatementWithoutPromises(GraderError):
    """The release cannot put an exercise's numbered promises into its statement."""

    def __init__(self, where: str, exercise: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}.")
        self.exercise = exercise


# -- the grader's own failures: a submission they touch is "not graded", never given a score --
class GraderFault(GraderError):
    """The grader could not do its own part (start a sandbox, import its own code, run the
    hidden suite, compare with the reference). A submission it happens to is not graded
    (``types.GRADER_ERROR``): no score, and no feedback that blames the learner."""


class SandboxNotReady(GraderFault):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the sandbox did not become ready ({reason}), before any of the learner's code ran")


class SandboxBroken(GraderFault):
    def __init__(self, mode: str, reason: str) -> None:
        super().__init__(
            f"The grader's sandbox does not work here (in {mode} mode): {reason}. Nothing was "
            "graded. This is the grader's fault, not the submissions': check that the course and its venv "
            "are installed as `python3 course.py` installs them, and report it with this message."
        )


class CanaryFailed(GraderFault):
    def __init__(self, what: str, failures: list[str]) -> None:
        self.failures = failures
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        super().__init__(
            f"the canary ({what}, graded first through the very sandbox, mode and limits the submissions get) "
            f"did not earn full marks, so no score here would be a fact about a learner's code. What failed: "
            f"{shown}. Nothing is graded until it passes, and no score was written: fix the grader or the machine "
            f"(`autograder check` on the solution notebook shows the same), then grade again."
        )
