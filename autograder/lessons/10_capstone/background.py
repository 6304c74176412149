"""Lesson 10's scenarios, run in the background of the sandbox.

A step's scenario (a service started on a fresh database, a dozen requests, what another
connection saw) takes a fraction of a second on a quiet machine, but more than one call to the
sandbox may take (``Limits.call_seconds``) on one busy grading a whole class. So the tests start
it with the probe ``lesson10.begin`` and ask for its outcome until it ends
(``autograder.suitekit.probe_in_background``), within ``SECONDS``. What the learner's code raised
comes back as it would from any probe: ``SubmissionRaised``, naming the exercise.
"""

from autograder.submission import SubmissionRaised
from autograder.suitekit import probe_in_background

SECONDS = 40.0  # for one scenario, on a machine busy with a whole class


async def scenario(side, exercise: str, name: str, *args, seconds: float = SECONDS):
    """What the probe ``name`` answers, run with ``args`` in ``side``'s sandbox (or in the reference)."""
    answer = await probe_in_background(
        side, exercise, "lesson10.begin", name, *args, outcome="lesson10.outcome", seconds=seconds
    )
    if isinstance(answer, dict) and set(answer) == {"raised"}:
        raise SubmissionRaised(exercise, answer["raised"])
    return answer
