"""The canary exercise: a tiny exercise shipped with the grader, with its known answer.

Before a run scores anyone, it grades a notebook whose score is known, through the very path
the submissions take (``grade.run_canary``): a lesson's reference solution, which must earn
full marks. Where the reference is not at hand (a copy of the course without ``solutions/``),
this exercise stands in for it: its answer is in its own notebook, and its hidden suite drives
the sandbox the way every suite does (cells loaded, a name described, an ASGI app served
through the pipe), so a sandbox that cannot start, import its code or answer is caught as
surely. Nothing in it is secret: learners' copies ship it.

    canary_exercise/canary.ipynb      the notebook (a setup cell, the exercise with its answer)
    canary_exercise/test_echo_json.py its hidden suite
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .lessons import Lesson

FOLDER = Path(__file__).resolve().parent / "canary_exercise"


@dataclass(frozen=True)
class CanaryExercise(Lesson):
    """The canary exercise as a lesson: its one notebook is both the release and the solution."""

    @property
    def solution(self) -> Path:
        return FOLDER / "canary.ipynb"

    @property
    def release(self) -> Path:
        return self.solution

    @property
    def folder(self) -> Path:
        """Its hidden suite (and no probes: it calls none)."""
        return FOLDER


EXERCISE = CanaryExercise("canary")
