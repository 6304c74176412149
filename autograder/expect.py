"""What hidden suites import: ``graded`` to give a test its points, ``expect`` to check.

    @graded("json_app", points=2, promises=["status-200"])
    async def test_status(submission):
        "A request gets status 200."
        ...
        expect(response.status_code == 200, "Answer with status 200 ...")

The message given to ``expect`` is the feedback the learner reads when the check fails, so it
says what to change. Plain ``assert`` also works, but its message is never shown (pytest's
assertion rewriting would print the test's own values); the test's docstring is shown instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest


class Mistake(AssertionError):
    """A failed check whose message is written for the learner.

    ``out_of_time`` marks a check that failed because the learner's code never answered:
    the grader then spares the exercise's remaining checks the same wait. ``promises`` names
    the promises (ids) found broken, when they are fewer than the test's own: the feedback
    names those (``autograder.plugin.feedback_for``).
    """

    def __init__(self, feedback: str, *, out_of_time: bool = False, promises: Sequence[str] = ()) -> None:
        super().__init__(feedback)
        self.out_of_time = out_of_time
        self.promises = tuple(promises)


def expect(condition: object, feedback: str, *, promises: Sequence[str] = ()) -> None:
    # Values checked here were decoded from JSON in this process: plain objects whose
    # truth cannot be faked by the submission.
    if not condition:
        raise Mistake(feedback, promises=promises)


def graded(
    exercise: str,
    points: float = 1,
    *,
    negative: bool = False,
    promises: list[str] | None = None,
    unhappy: bool = False,
) -> pytest.MarkDecorator:
    """Mark a hidden test: which exercise it grades and what it is worth.

    ``negative=True`` marks a test that an answer doing nothing would pass (it checks what the
    code must not do: send nothing after a disconnect, leave a dict unchanged, ...). Its points
    count only when a positive test of the same exercise passed (``autograder.suite.scored``).
    ``promises`` names the promises of the exercise's statement the test checks (their ids in
    the lesson's ``promises.toml``), and ``unhappy=True`` says it checks them off the happy path
    (errors, limits, a client leaving, a second call...). A failed test's feedback names its
    promises first, by number and in the statement's words (``autograder.promises``).
    """
    return pytest.mark.graded(
        exercise=exercise, points=points, negative=negative, promises=list(promises or []), unhappy=unhappy
    )
