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


class UnknownLesson(GraderError):
    def __init__(self, path: str, known: list[str]) -> None:
        super().__init__(
            f"Cannot tell which lesson {path} belongs to: none of its exercise cells match a lesson. "
            f"Pass --lesson with one of: {', '.join(known)}."
        )


class ReleaseOutOfDate(GraderError):
    def __init__(self, paths: list[str]) -> None:
        super().__init__(
            "These learner notebooks differ from a fresh release of their solutions: "
            + ", ".join(paths) + ". Run `autograder release` and commit the result."
        )
