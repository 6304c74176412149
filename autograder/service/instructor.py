"""The class as an instructor sees it, from the stored results: each learner's latest score
per lesson, a lesson's statistics (``statistics``), one learner's feedback and history, the
queue, ``grades.csv`` and Gradescope's format. The same writers as ``autograder grade``
(``autograder.report``), so a class graded by the service exports exactly as a folder graded
by hand does. Each view is the JSON an ``/api/instructor/...`` route answers and the page draws."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from .. import report
from ..types import SubmissionResult
from . import statistics
from .store import FINISHED, Submission, Timing


def results(latest: list[Submission], names: dict[int, str]) -> list[SubmissionResult]:
    """The stored results, each named for its learner (the name the exports show)."""
    found = []
    for submission in latest:
        result = SubmissionResult.from_json(json.loads(submission.result or "{}") | {"path": ""})
        result.submission = names.get(submission.learner_id, str(submission.learner_id))
        found.append(result)
    return found


def grader_errors(failed: list[Submission], names: dict[int, str]) -> list[dict[str, Any]]:
    """The submissions the grader failed on (not graded, no score), with why: for the
    instructor alone, who can have them graded again (``POST /api/instructor/retry``)."""
    return [
        {
            "learner": names.get(each.learner_id, str(each.learner_id)),
            "lesson": each.lesson,
            "submission": each.id,
            "at": each.graded_at,
            "reason": json.loads(each.result or "{}").get("grader_error", ""),
        }
        for each in failed
    ]


def class_view(
    latest: list[Submission],
    names: dict[int, str],
    counts: dict[str, int],
    failed: Sequence[Submission] = (),
    lessons: Sequence[str] = (),
) -> dict[str, Any]:
    graded = results(latest, names)
    return {
        "lessons": list(lessons),
        "grader_errors": grader_errors(list(failed), names),
        "rows": [
            {
                "learner": result.submission,
                "learner_id": submission.learner_id,
                "lesson": result.lesson,
                "score": result.score,
                "max_score": result.max_score,
                "submission": submission.id,
                "graded_at": submission.graded_at,
                "exercises": {
                    name: {"score": got, "max_score": total} for name, (got, total) in result.exercise_scores().items()
                },
            }
            for submission, result in zip(latest, graded, strict=True)
        ],
        "pass_rates": [
            {"exercise": exercise, "test": test, "passed": passed, "graded": total, "rate": passed / total}
            for exercise, test, passed, total in report.pass_rates(graded)
        ],
        "counts": counts,
    }


def lesson_view(lesson: str, latest: list[Submission], names: dict[int, str]) -> dict[str, Any]:
    """One lesson's statistics over each learner's latest graded submission of it."""
    graded = results(latest, names)
    top = max((result.max_score for result in graded), default=0.0)
    scores = [result.score or 0.0 for result in graded]
    return {
        "lesson": lesson,
        "learners": len(graded),
        "max_score": top,
        **statistics.summary(scores),
        "histogram": statistics.histogram(scores, top),
        "exercises": statistics.per_exercise(graded),
        "tests": statistics.per_test(graded),
    }


def learner_view(learner_id: int, name: str, history: list[Submission], lesson: str | None) -> dict[str, Any]:
    """One learner's submissions, newest first, and the feedback of their latest finished one
    (of ``lesson``, if given): the very text they were shown."""
    finished = [each for each in history if each.status in FINISHED and lesson in (None, each.lesson)]
    latest = finished[0] if finished else None
    return {
        "learner": name,
        "learner_id": learner_id,
        "lesson": lesson,
        "feedback": None
        if latest is None
        else {
            "submission": latest.id,
            "lesson": latest.lesson,
            "status": latest.status,
            "score": latest.score,
            "max_score": latest.max_score,
            "graded_at": latest.graded_at,
            "text": latest.feedback or "",
        },
        "history": [
            {
                "submission": each.id,
                "lesson": each.lesson,
                "status": each.status,
                "score": each.score,
                "max_score": each.max_score,
                "created_at": each.created_at,
                "graded_at": each.graded_at,
            }
            for each in history
        ],
    }


def queue_view(
    counts: dict[str, int],
    recent: list[Timing],
    failed: list[Submission],
    names: dict[int, str],
    *,
    now: float,
    hours: int,
) -> dict[str, Any]:
    """The queue over the last ``hours``: uploads per hour, the median time to feedback, and
    what is waiting, grading or failed now; grader errors listed apart, never as scores."""
    return {
        "counts": counts,
        "hours": hours,
        "per_hour": statistics.per_hour((each.created_at for each in recent), now, hours),
        "median_seconds_to_feedback": statistics.median_time_to_feedback(recent),
        "grader_errors": grader_errors(failed, names),
    }


def gradebook_csv(latest: list[Submission], names: dict[int, str]) -> str:
    handle = io.StringIO()
    report.write_gradebook_rows(results(latest, names), handle)
    return handle.getvalue()


def gradescope_zip(latest: list[Submission], names: dict[int, str]) -> bytes:
    """``<learner>-<lesson>/results.json`` per learner and lesson, zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for result in results(latest, names):
            archive.writestr(f"{result.submission}-{result.lesson}/results.json", report.gradescope_text(result))
    return buffer.getvalue()
