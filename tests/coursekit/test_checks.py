"""Tests of coursekit.checks.

PYTEST_DONT_REWRITE: the checks below use plain ``assert`` as a notebook would, and the
messages must be the plain ones, without the explanation pytest's rewriting adds.
"""

import asyncio

import httpx
import pytest

from coursekit import Tracer, drive, http_scope, report, self_check, serve, uses_exercises
from coursekit.checks import PASS_MESSAGE, SYMBOLS, TODO_MESSAGE, WORDS, CheckResult, reset

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
    assert output_lines(capsys) == ["❌ json_app: fails: expected status 200, got 404"]


def test_a_bare_assertion_gets_a_generic_message(capsys):
    @self_check("json_app")
    def check():
        raise AssertionError

    assert output_lines(capsys) == ["❌ json_app: fails: a visible check failed"]


def test_other_exceptions_are_reported_not_raised(capsys):
    @self_check("json_app")
    def check():
        return {}["status"]

    assert check.status == "fail"
    assert output_lines(capsys) == ["❌ json_app: fails: your code raised KeyError: 'status'"]


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
        raise AssertionError("third is wrong")

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
    for line, status in zip(lines[1:4], ["pass", "todo", "fail"], strict=True):  # the words, not the symbols, carry it
        assert f"{SYMBOLS[status]} {WORDS[status]}" in line
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


# --- uses_exercises: demo cells that call an exercise ---------------------------------------

DEMO_LINE = "⏳ This demo stopped here: `{}` is not solved yet. Solve it, then run this cell again."


async def echo_app(scope, receive, send):
    raise NotImplementedError()


async def router_app(scope, receive, send):
    # a solved exercise that calls an unsolved one
    await echo_app(scope, receive, send)


def test_a_demo_with_an_unsolved_exercise_stops_calmly(capsys):
    reached = []
    with uses_exercises("echo_app"):
        reached.append("before")
        asyncio.run(drive(echo_app, http_scope()))
        reached.append("after")
    assert reached == ["before"]
    assert output_lines(capsys) == [DEMO_LINE.format("echo_app")]


def test_a_demo_names_the_unsolved_exercise_not_the_one_that_called_it(capsys):
    with uses_exercises("router_app", "echo_app"):
        asyncio.run(drive(router_app, http_scope()))
    assert output_lines(capsys) == [DEMO_LINE.format("echo_app")]


def test_a_demo_finds_the_exercise_inside_a_class_and_a_group(capsys):
    class Request:
        def body(self):
            raise NotImplementedError()

    with uses_exercises("Request"):
        try:
            Request().body()
        except NotImplementedError as exc:
            raise ExceptionGroup("a task group", [exc]) from exc
    assert output_lines(capsys) == [DEMO_LINE.format("Request")]


def test_a_demo_lets_other_errors_through(capsys):
    with pytest.raises(ZeroDivisionError):
        with uses_exercises("json_app"):
            1 / 0  # noqa: B018
    assert output_lines(capsys) == []


def test_a_demo_that_runs_through_says_nothing(capsys):
    with uses_exercises("json_app"):
        pass
    assert output_lines(capsys) == []


def test_a_demo_under_a_real_server_holds_back_the_servers_traceback(capsys):
    with uses_exercises("echo_app"):
        with serve(Tracer(echo_app), lifespan="off") as running:
            status = httpx.get(running.url).status_code
        raise NotImplementedError() if status == 500 else AssertionError(status)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [DEMO_LINE.format("echo_app")]
    assert "Traceback" not in captured.err


def test_a_check_of_an_exercise_that_calls_an_unsolved_one_names_that_one(capsys):
    @self_check("echo_app")
    def check_echo():
        asyncio.run(drive(echo_app, http_scope()))

    capsys.readouterr()

    @self_check("router_app")
    def check():
        asyncio.run(drive(router_app, http_scope()))

    assert check.status == "todo"
    assert output_lines(capsys) == [
        "⏳ router_app: not checked yet: it calls `echo_app`, which still raises NotImplementedError: solve that first."
    ]


def test_a_method_of_the_exercise_itself_is_the_exercise_unsolved(capsys):
    class Request:
        def body(self):
            raise NotImplementedError()

    @self_check("Request")
    def check():
        Request().body()

    assert output_lines(capsys) == [TODO_LINE.format("Request")]


def test_every_line_a_check_prints_says_in_words_how_it_went():
    """Without an emoji font the symbols are empty boxes: the line must still say it."""
    for status, message in [("pass", PASS_MESSAGE), ("todo", TODO_MESSAGE), ("fail", "expected 200, got 404")]:
        line = CheckResult("json_app", status, message).line
        assert line.startswith(f"{SYMBOLS[status]} json_app: ")
        words = line.removeprefix(f"{SYMBOLS[status]} json_app: ")
        assert words.startswith(
            {"pass": "the visible checks pass", "todo": "not solved yet", "fail": f"{WORDS['fail']}: "}[status]
        ), line


def test_a_database_connection_a_check_drops_unclosed_prints_nothing_when_it_is_freed_later(capsys, monkeypatch):
    # A check that stops at an unsolved exercise can drop an aiosqlite connection unclosed (an
    # engine it never disposed). The garbage collector frees it whenever it runs, often during
    # a later check, and its __del__ asks aiosqlite's thread to stop with a future of the loop
    # running at that moment. Here that thread is still busy (a slow query) when the check ends:
    # if the check's loop were closed by then, the thread's answer would raise "Event loop is
    # closed" and print a traceback into the learner's cell.
    import gc
    import threading
    import time

    import aiosqlite

    raised = []
    monkeypatch.setattr(threading, "excepthook", raised.append)
    dropped = []

    @self_check("drops_a_connection")
    async def check():
        connection = await aiosqlite.connect(":memory:")
        await connection.create_function("nap", 0, lambda: time.sleep(0.5))
        dropped.append(asyncio.ensure_future(connection.execute("SELECT nap()")))  # not awaited
        stub()

    @self_check("frees_it")
    async def check_later():
        dropped.clear()
        gc.collect()  # the connection's __del__ runs here, inside this check's loop

    time.sleep(1.0)  # the thread ends its slow query, then answers the stop
    assert (check.status, check_later.status) == ("todo", "pass")
    assert raised == []
