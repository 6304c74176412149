"""The class as an instructor sees it, from the stored results: each learner's latest score
per lesson, each hidden test's pass rate, ``grades.csv`` and Gradescope's format. The same
writers as ``autograder grade`` (``autograder.report``), so a class graded by the service
exports exactly as a folder graded by hand does."""

from __future__ import annotations

import io
import json
import zipfile

from .. import report
from ..types import SubmissionResult
from .store import Submission


def results(latest: list[Submission], names: dict[int, str]) -> list[SubmissionResult]:
    """The stored results, each named for its learner (the name the exports show)."""
    found = []
    for submission in latest:
        result = SubmissionResult.from_json(json.loads(submission.result or "{}") | {"path": ""})
        result.submission = names.get(submission.learner_id, str(submission.learner_id))
        found.append(result)
    return found


def grader_errors(failed: list[Submission], names: dict[int, str]) -> list[dict]:
    """The submissions the grader failed on (not graded, no score), with why: for the
    instructor alone, who can have them graded again (``POST /api/instructor/retry``)."""
    return [{"learner": names.get(each.learner_id, str(each.learner_id)), "lesson": each.lesson, "submission": each.id,
             "at": each.graded_at, "reason": json.loads(each.result or "{}").get("grader_error", "")} for each in failed]


def class_view(latest: list[Submission], names: dict[int, str], counts: dict[str, int],
               failed: list[Submission] = ()) -> dict:
    graded = results(latest, names)
    return {
        "grader_errors": grader_errors(list(failed), names),
        "rows": [
            {"learner": result.submission, "lesson": result.lesson, "score": result.score,
             "max_score": result.max_score, "submission": submission.id, "graded_at": submission.graded_at,
             "exercises": {name: {"score": got, "max_score": total}
                           for name, (got, total) in result.exercise_scores().items()}}
            for submission, result in zip(latest, graded)
        ],
        "pass_rates": [
            {"exercise": exercise, "test": test, "passed": passed, "graded": total, "rate": passed / total}
            for exercise, test, passed, total in report.pass_rates(graded)
        ],
        "counts": counts,
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
