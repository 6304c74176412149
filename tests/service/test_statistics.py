"""The instructor's statistics on small classes whose answers can be worked out by hand."""

from __future__ import annotations

import pytest

from autograder.service import statistics
from autograder.service.store import Timing
from autograder.types import SubmissionResult
from autograder.types import TestResult as Outcome


def learner(name: str, passed: dict[str, bool], points: dict[str, float]) -> SubmissionResult:
    """A result over tests named ``<exercise>.<test>``, each worth its ``points``."""
    tests = [
        Outcome(test, exercise, points[key] if ok else 0, points[key], ok)
        for key, ok in passed.items()
        for exercise, test in [key.split(".")]
    ]
    result = SubmissionResult(submission=name, path="", lesson="01_asgi_by_hand", tests=tests)
    result.score, result.max_score = sum(test.points for test in tests), sum(points.values())
    return result


def test_a_histogram_has_equal_bins_and_full_marks_fall_in_the_top_one():
    bins = statistics.histogram([0, 4.9, 5, 49.9, 50, 50], 50)
    assert [(each["low"], each["high"]) for each in bins][:2] == [(0, 5), (5, 10)] and len(bins) == 10
    assert [each["count"] for each in bins] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert sum(each["count"] for each in statistics.histogram([3, 1, 2], 3, bins=3)) == 3
    assert statistics.histogram([0, 0], 0) == [{"low": 0.0, "high": 0.0, "count": 2}]  # a lesson worth nothing
    # Whole-number bins for a whole-number maximum, the last one ending there.
    nine = [(each["low"], each["high"]) for each in statistics.histogram([], 36)]
    assert nine == [(4 * i, 4 * i + 4) for i in range(9)]
    assert statistics.histogram([61, 55.5], 61)[-2:] == [
        {"low": 49, "high": 56, "count": 1},
        {"low": 56, "high": 61, "count": 1},
    ]
    assert [each["high"] for each in statistics.histogram([2.5], 2.5)][-1] == 2.5  # a fractional maximum: ten of 0.25


def test_discrimination_is_the_correlation_of_passing_with_the_rest_of_the_score():
    points = {"a.easy": 1, "a.hard": 1, "b.luck": 1, "b.other": 7}
    # The strong pass "hard"; "luck" is passed by the weak alone; everyone passes "easy".
    results = [
        learner("strong1", {"a.easy": True, "a.hard": True, "b.luck": False, "b.other": True}, points),
        learner("strong2", {"a.easy": True, "a.hard": True, "b.luck": False, "b.other": True}, points),
        learner("weak1", {"a.easy": True, "a.hard": False, "b.luck": True, "b.other": False}, points),
        learner("weak2", {"a.easy": True, "a.hard": False, "b.luck": False, "b.other": False}, points),
    ]
    rows = {row["test"]: row for row in statistics.per_test(results)}
    # Passing "hard" (1, 1, 0, 0) against the rest of the score (8, 8, 2, 1), its own point left
    # out: deviations (.5, .5, -.5, -.5) and (3.25, 3.25, -2.75, -3.75), so r = 6.5 / sqrt(1 * 42.75).
    assert rows["hard"]["discrimination"] == pytest.approx(6.5 / 42.75**0.5, abs=1e-3)
    assert rows["luck"]["discrimination"] < 0
    assert rows["easy"]["discrimination"] is None  # everyone passed: it separates no one
    assert rows["hard"]["rate"] == 0.5 and rows["hard"]["passed"] == 2 and rows["hard"]["graded"] == 4
    assert statistics.per_test(results)[0]["test"] == "luck"  # hardest first
    # "other" is most of the lesson (7 of 10 points): against the total it would look perfect
    # merely by being most of it; against the rest, the one point of "hard" is what it predicts.
    against_the_rest = statistics.correlation([1, 1, 0, 0], [2, 2, 2, 1])
    assert rows["other"]["discrimination"] == pytest.approx(against_the_rest, abs=1e-3)


def test_correlation_is_none_where_it_means_nothing():
    assert statistics.correlation([1, 0], [3, 1]) is None  # too few
    assert statistics.correlation([1, 1, 1], [3, 1, 2]) is None  # no spread in passing
    assert statistics.correlation([1, 0, 1], [2, 2, 2]) is None  # no spread in the rest
    assert statistics.correlation([0, 1, 1], [1, 2, 3]) == pytest.approx(0.866, abs=1e-3)


def test_per_exercise_gives_the_mean_and_the_share_with_full_marks():
    points = {"a.one": 2, "a.two": 2, "b.three": 4}
    results = [
        learner("x", {"a.one": True, "a.two": True, "b.three": False}, points),
        learner("y", {"a.one": True, "a.two": False, "b.three": True}, points),
        learner("z", {"a.one": False, "a.two": False, "b.three": True}, points),
    ]
    rows = {row["exercise"]: row for row in statistics.per_exercise(results)}
    assert list(rows) == ["a", "b"]
    assert rows["a"]["mean"] == pytest.approx(2) and rows["a"]["max_score"] == 4
    assert rows["a"]["mean_share"] == pytest.approx(0.5) and rows["a"]["full_marks"] == pytest.approx(1 / 3)
    assert rows["b"]["full_marks"] == pytest.approx(2 / 3)
    assert statistics.summary([1, 2, 6]) == {"mean": 3, "median": 2}
    assert statistics.summary([]) == {"mean": None, "median": None}


def test_submissions_per_hour_count_each_clock_hour_the_quiet_ones_too():
    hour = statistics.HOUR
    end = 100 * hour + 10  # ten seconds into hour 100
    times = [100 * hour, 100 * hour + 3599, 99 * hour + 1, 97 * hour, 96 * hour + 5, 101 * hour]
    rows = statistics.per_hour(times, end, 4)
    assert [row["hour"] for row in rows] == [97 * hour, 98 * hour, 99 * hour, 100 * hour]
    assert [row["count"] for row in rows] == [1, 0, 1, 2]  # before the window and after its end: not counted


def submission(created: float, graded: float | None, status: str = "done", gradings: int = 1) -> Timing:
    return Timing(created_at=created, graded_at=graded, status=status, gradings=gradings)


def test_the_median_time_to_feedback_counts_first_gradings_of_finished_submissions():
    found = statistics.median_time_to_feedback(
        [
            submission(0, 2),
            submission(10, 14),
            submission(20, 21, "failed"),
            submission(30, 39, "error"),
            submission(40, None, "queued"),
            submission(50, None, "running"),
            submission(60, 5000, gradings=2),  # regraded: its graded_at is the regrade's
        ]
    )
    assert found == 3  # of 1, 2, 4, 9
    assert statistics.median_time_to_feedback([submission(0, None, "queued")]) is None
