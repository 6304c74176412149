"""Tests of coursekit.checks.

PYTEST_DONT_REWRITE: the checks below use plain ``assert`` as a notebook would, and the
messages must be the plain ones, without the explanation pytest's rewriting adds.
"""

import asyncio

import pytest

from coursekit import report, self_check
from coursekit.checks import CheckResult, reset

PASS_LINE = "✅ {}: the visible checks pass. The grader's hidden tests check more."
TODO_LINE = "⏳ {}: not solved yet (the exercise still raises NotImplementedError)."


@pytest.fixture(autouse=True)
def empty_registry():
    reset()
    yield
    reset()


def stub():
    raise NotImplementedError()


def output_lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_passing_check(capsys):
    @self_check("json_app")
    def check():
        assert 1 + 1 == 2

    assert check == CheckResult("json_app", "pass", "the visible checks pass.")
    assert output_lines(capsys) == [PASS_LINE.format("json_app")]


def test_an_unsolved_exercise(capsys):
    @self_check("json_app")
    def check():
        assert stub() == 2

    assert check.status == "todo"
    assert output_lines(capsys) == [TODO_LINE.format("json_app")]


def test_not_implemented_error_is_found_inside_other_exceptions(capsys):
    @self_check("wrapped")
    def check():
        try:
            stub()
        except NotImplementedError as exc:
            raise RuntimeError("the framework wrapped it") from exc

    @self_check("grouped")
    def check_group():
        raise ExceptionGroup("task group", [ValueError("x"), NotImplementedError()])

    assert check.status == check_group.status == "todo"


def test_a_failed_assertion_shows_its_message(capsys):
    @self_check("json_app")
    def check():
        status = 404
        assert status == 200, f"expected status 200, got {status}"

    assert check.status == "fail"
    assert output_lines(capsys) == ["❌ json_app: expected status 200, got 404"]


def test_a_bare_assertion_gets_a_generic_message(capsys):
    @self_check("json_app")
    def check():
        assert False

    assert output_lines(capsys) == ["❌ json_app: a visible check failed"]


def test_other_exceptions_are_reported_not_raised(capsys):
    @self_check("json_app")
    def check():
        return {}["status"]

    assert check.status == "fail"
    assert output_lines(capsys) == ["❌ json_app: your code raised KeyError: 'status'"]


def test_async_checks_run_without_a_loop(capsys):
    @self_check("async_pass")
    async def check():
        await asyncio.sleep(0)

    @self_check("async_todo")
    async def check_todo():
        await asyncio.sleep(0)
        stub()

    assert (check.status, check_todo.status) == ("pass", "todo")


@pytest.mark.anyio
async def test_async_checks_run_inside_a_running_loop(capsys):
    # As in a Jupyter cell, where the kernel's loop runs in this thread.
    ran_in = []

    @self_check("async_pass")
    async def check():
        ran_in.append(asyncio.get_running_loop())
        await asyncio.sleep(0)

    @self_check("async_fail")
    async def check_fail():
        assert 1 == 2, "one is not two"

    assert check.status == "pass"
    assert ran_in[0] is not asyncio.get_running_loop()
    assert check_fail == CheckResult("async_fail", "fail", "one is not two")


def test_a_slow_async_check_times_out_as_a_failure(capsys):
    @self_check("slow", timeout=0.1)
    async def check():
        await asyncio.sleep(30)

    assert check.status == "fail"
    assert "did not finish within 0.1 s" in check.message


def test_a_timeout_error_from_the_code_is_not_the_checks_timeout(capsys):
    @self_check("db")
    async def check():
        raise TimeoutError("the database was slow")

    assert check.message == "your code raised TimeoutError: the database was slow"


def test_report_reruns_checks_in_registration_order(capsys):
    calls = []

    @self_check("first")
    def check_first():
        calls.append("first")

    @self_check("second")
    def check_second():
        calls.append("second")
        stub()

    @self_check("third")
    def check_third():
        calls.append("third")
        assert False, "third is wrong"

    capsys.readouterr()
    calls.clear()
    results = report()
    assert calls == ["first", "second", "third"]
    assert [(r.exercise, r.status) for r in results] == [("first", "pass"), ("second", "todo"), ("third", "fail")]
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["exercise", "status", "message"]
    assert lines[1].startswith("first") and "✅" in lines[1]
    assert lines[2].startswith("second") and "⏳" in lines[2]
    assert lines[3].startswith("third") and "❌" in lines[3] and "third is wrong" in lines[3]
    assert lines[-1] == "1 of 3 exercises pass their visible checks. The grader's hidden tests check more."


def test_rerunning_a_check_cell_replaces_it_in_place(capsys):
    @self_check("first")
    def check_first():
        stub()

    @self_check("second")
    def check_second():
        pass

    @self_check("first")  # the learner solved it and re-ran the cell
    def check_first_again():
        pass

    results = report()
    assert [(r.exercise, r.status) for r in results] == [("first", "pass"), ("second", "pass")]
    assert capsys.readouterr().out.splitlines()[-1].startswith("2 of 2 exercises pass")


def test_report_with_nothing_registered(capsys):
    assert report() == []
    assert "No self-checks have run yet" in capsys.readouterr().out


def test_if_solved_reports_an_unsolved_exercise_calmly_and_lets_other_errors_through(capsys):
    from coursekit import if_solved

    ran = []
    with if_solved("lag"):
        ran.append("before")
        try:
            raise NotImplementedError()
        except NotImplementedError as exc:
            raise RuntimeError("wrapped") from exc
    assert ran == ["before"]
    assert "lag is not solved yet" in capsys.readouterr().out
    with pytest.raises(KeyError), if_solved("lag"):
        raise KeyError("a real bug")
    with if_solved("lag"):
        ran.append("solved")
    assert ran == ["before", "solved"] and capsys.readouterr().out == ""
