"""Graded results written straight into the store, as a worker writes them (claim, then
finish): the instructor's views need classes of many learners, and grading each notebook
would take minutes where this takes milliseconds. The grading itself is tested elsewhere
(``test_grading``, ``test_processes``), and the browser test grades one real submission too."""

from __future__ import annotations

import json

from sqlalchemy import update

from autograder import report
from autograder.service.store import Learner, Store, Submission
from autograder.types import SubmissionResult

WORKER = "test-worker"


async def store_result(
    store: Store,
    learner: Learner,
    result: SubmissionResult,
    *,
    status: str = "done",
    at: float | None = None,
    seconds: float = 2.0,
) -> str:
    """Store ``result`` as ``learner``'s graded submission; ``at`` backdates its upload (its
    feedback came ``seconds`` later). Returns the submission's id."""
    accepted = await store.accept(learner, result.lesson, b"{}", None, per_minute=1_000_000)
    submission = accepted.submission.id
    await store.claim(submission, WORKER, 60)
    await store.finish(
        submission,
        WORKER,
        status=status,
        score=result.score,
        max_score=result.max_score,
        result=json.dumps(result.to_json()),
        feedback=report.feedback_text(result),
    )
    if at is not None:
        await backdate(store, submission, at, at + seconds)
    return submission


async def backdate(store: Store, submission: str, created: float, graded: float | None = None) -> None:
    """Move a submission into the past (a deadline rush happened yesterday, say)."""
    async with store.session.begin() as session:
        await session.execute(
            update(Submission)
            .where(Submission.id == submission)
            .values(created_at=created, started_at=created, graded_at=graded)
        )
