"""The numbers on the instructor's page, as assessment platforms show them: a lesson's score
histogram and each exercise's mean (Gradescope's assignment statistics), each hidden test's pass
rate and discrimination (PrairieLearn's question statistics), and the queue's submissions per
hour and time to feedback. Plain functions of lists, each tested alone
(``tests/service/test_statistics.py``); ``instructor`` feeds them the stored results.

``import statistics`` below is the standard library's: this module is
``autograder.service.statistics``, and imports are absolute.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from .. import report
from ..types import SubmissionResult
from .store import FINISHED, Timing

HOUR = 3600.0


def histogram(scores: Sequence[float], max_score: float, bins: int = 10) -> list[dict[str, Any]]:
    """At most ``bins`` equal-width bins from 0 to ``max_score``, each ``[low, high)`` but the
    last, which holds full marks too (a full score is the top bin's, not a bin of its own). A
    whole-number maximum gets whole-number bins (36 points: nine of 4, not ten of 3.6), the last
    one ending at the maximum."""
    if max_score <= 0:
        return [{"low": 0.0, "high": 0.0, "count": len(scores)}]
    width = max_score / bins
    if float(max_score).is_integer() and max_score > bins:
        width = math.ceil(width)
        bins = math.ceil(max_score / width)
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, max(0, math.floor(score / width)))] += 1
    return [
        {"low": round(index * width, 6), "high": round(min((index + 1) * width, max_score), 6), "count": count}
        for index, count in enumerate(counts)
    ]


def summary(scores: Sequence[float]) -> dict[str, Any]:
    """The mean and median score (None for an empty lesson)."""
    if not scores:
        return {"mean": None, "median": None}
    return {"mean": round(statistics.fmean(scores), 3), "median": statistics.median(scores)}


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None where it means nothing: fewer than three pairs, or either side the
    same for everyone (a test all passed says nothing about who is strong)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def per_test(results: Sequence[SubmissionResult]) -> list[dict[str, Any]]:
    """Per hidden test: how many passed, its pass rate and its discrimination, hardest first.

    Discrimination is the correlation between passing the test and the rest of the learner's
    score for the lesson (their score without this test's points: with them, a test worth many
    points would correlate with the total merely by being part of it). Near 1, the learners who
    pass it are the strong ones; near 0 or below, passing it is luck or the test checks
    something the rest of the lesson does not: worth a look."""
    outcomes: dict[tuple[str, str], tuple[list[float], list[float]]] = {}  # (passed, rest of the score) per test
    for result in results:
        for test in result.tests:
            passed, rest = outcomes.setdefault((test.exercise, test.name), ([], []))
            passed.append(float(test.passed))
            rest.append((result.score or 0) - test.points)
    rows = []
    for exercise, name, passes, graded in report.pass_rates(list(results)):  # its order: hardest first
        found = correlation(*outcomes[exercise, name])
        rows.append(
            {
                "exercise": exercise,
                "test": name,
                "passed": passes,
                "graded": graded,
                "rate": passes / graded,
                "discrimination": None if found is None else round(found, 3),
            }
        )
    return rows


def per_exercise(results: Sequence[SubmissionResult]) -> list[dict[str, Any]]:
    """Per exercise, in the notebook's order: the mean score, its share of the exercise's
    points, and the share of learners with full marks on it."""
    scores: dict[str, list[tuple[float, float]]] = {}
    for result in results:
        for exercise, pair in result.exercise_scores().items():
            scores.setdefault(exercise, []).append(pair)
    rows = []
    for exercise, pairs in scores.items():
        top = max(total for _, total in pairs)
        mean = statistics.fmean(got for got, _ in pairs)
        rows.append(
            {
                "exercise": exercise,
                "mean": round(mean, 3),
                "max_score": top,
                "mean_share": mean / top if top else 0.0,
                "full_marks": sum(got >= total for got, total in pairs) / len(pairs),
            }
        )
    return rows


def per_hour(times: Iterable[float], end: float, hours: int) -> list[dict[str, Any]]:
    """Submissions per clock hour over the ``hours`` hours up to the one holding ``end``, empty
    hours included (a rush shows only against the quiet hours around it). Hours start on the
    hour (UTC), which is the hour in every whole-hour time zone."""
    last = math.floor(end / HOUR)
    first = last - hours + 1
    counts = [0] * hours
    for at in times:
        index = math.floor(at / HOUR) - first
        if 0 <= index < hours:
            counts[index] += 1
    return [{"hour": (first + index) * HOUR, "count": count} for index, count in enumerate(counts)]


def median_time_to_feedback(submissions: Iterable[Timing]) -> float | None:
    """The median time in seconds from upload to feedback, over the finished submissions
    graded once; None when there are none. A regraded one is left out: its ``graded_at`` is
    the regrade's, long after its learner read the first feedback."""
    waits = [
        each.graded_at - each.created_at
        for each in submissions
        if each.status in FINISHED and each.gradings == 1 and each.graded_at is not None
    ]
    return statistics.median(waits) if waits else None
