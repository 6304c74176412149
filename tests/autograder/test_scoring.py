"""Scoring (autograder.suite.scored), shared by `autograder grade` and the nbgrader path."""

from autograder.suite import HiddenTest, scored

EXPECTED = [
    HiddenTest("test_echoes", "echo_app", 2.0),
    HiddenTest("test_disconnect", "echo_app", 1.0, negative=True),
    HiddenTest("test_index", "router_app", 1.0),
]


def test_a_negative_test_alone_earns_nothing_and_says_why():
    results = scored(EXPECTED, {"test_echoes": (False, "Send back the bytes."), "test_disconnect": (True, "")})
    negative = results[1]
    assert (negative.passed, negative.points, negative.max_points) == (False, 0.0, 1.0)
    assert "echo_app" in negative.feedback and "does nothing" in negative.feedback


def test_a_negative_test_counts_beside_a_passed_positive_one():
    results = scored(EXPECTED, {"test_echoes": (True, ""), "test_disconnect": (True, "")})
    assert [result.points for result in results] == [2.0, 1.0, 0.0]
    assert results[2].feedback == "This check did not run."
