"""Hidden tests for `make_cpu_app`: CPU-bound work in a process pool owned by the lifespan.

A probe runs the app's lifespan in the sandbox and reports the pool it finds on app.state
before and after a request, and whether the pool still accepts work after shutdown. The
responsiveness check drives the app from here, through its lifespan, and times GET /ping
while a long GET /primes runs. Expected counts come from a sieve computed here.
"""

import time

import pytest
from asgi_lifespan import LifespanManager
from hypothesis import strategies as st

from autograder.errors import GraderFault
from autograder.expect import Mistake, expect, graded
from autograder.submission import defined
from autograder.suitekit import client, make, probe, require, responsiveness, same_as_reference
from coursekit.work import count_primes

pytestmark = pytest.mark.anyio
NAME = "make_cpu_app"
LONG_SECONDS = 0.6  # how long the slow request should compute, at this moment's speed


def long_below() -> int:
    """An N for which count_primes(N) takes about LONG_SECONDS on this machine now.

    Measured here, just before it is used: on a busy machine count_primes is slower here and
    in the learner's pool alike, so N shrinks and the slow request stays well within the
    grader's time per request, while staying long enough to tell a held loop from a free one.
    """
    below = 20_000
    while True:
        started = time.perf_counter()
        count_primes(below)
        elapsed = time.perf_counter() - started
        if elapsed >= LONG_SECONDS / 4 or below >= 1_000_000:
            # trial division up to the square root: the work grows about as N ** 1.5
            return int(below * (LONG_SECONDS / elapsed) ** (2 / 3))
        below *= 2


def primes_below(n: int) -> int:
    sieve = bytearray([1]) * max(n, 2)
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve[:n])


DEADLINE = 8.0  # seconds a scenario may take (well under 1 s on a quiet machine, a few on a busy one)
TRIES = 2  # a scenario past its deadline is played again before anyone is blamed
BASELINE_SHARE = 4  # a plain pool must do the scenario's work in a quarter of the deadline


class MachineTooBusy(GraderFault):
    """A plain process pool took the sandbox much of the time a scenario is allowed: whether the
    learner's app or the machine was slow cannot be told, so the answer is not graded."""

    def __init__(self, baseline: float | None) -> None:
        took = f"did not finish within {DEADLINE:g} s" if baseline is None else f"took {baseline:.2f} s"
        super().__init__(
            f"the machine is too busy to grade {NAME}: a plain ProcessPoolExecutor's start, work and "
            f"shutdown {took} in the sandbox, against {DEADLINE:g} s allowed for the scenario"
        )


async def played(side, started: str, *args) -> dict:
    """Start the probe ``started`` (it runs in a thread of the sandbox's: a pool's fork and join
    never hold the sandbox's loop), then ask how it is going until it ends or ``DEADLINE`` passes:
    its report, or ``{"unfinished": where it was}``. Each question is answered within a second,
    far under the sandbox's time per call, however long the scenario takes."""
    key = await probe(side, NAME, started, *args)
    ends = time.monotonic() + DEADLINE
    while True:
        answer = await probe(side, NAME, "lesson04.scenario_result", key, min(1.0, side.limits.call_seconds / 3))
        if answer["done"]:
            return answer["report"]
        if time.monotonic() > ends:
            return {"unfinished": answer["phase"]}


async def lifespan_report(side, workers: int, paths: list[str], lives: int = 1) -> dict:
    """The report of the app made by ``make_cpu_app(workers)``, run ``lives`` times.

    Forking a pool's workers is slow on a busy machine, for any answer: a scenario that did not
    end by its deadline is played again (``TRIES``); if it never ends, a baseline measured now in
    the same sandbox (a plain pool doing the same work) decides: the learner's app is blamed
    only when the baseline needed a small share of the deadline, and otherwise the answer is not
    graded (``MachineTooBusy``): the grader's time-out is never the learner's.
    """
    await require(side, NAME, kind="function")
    for _ in range(TRIES):
        report = await played(side, "lesson04.cpu_lifespan_report", defined(NAME), workers, paths, lives)
        if "unfinished" not in report:
            return report
    baseline = await played(side, "lesson04.pool_baseline", workers, len(paths) * lives)
    if "unfinished" in baseline or baseline["elapsed"] * BASELINE_SHARE > DEADLINE:
        raise MachineTooBusy(baseline.get("elapsed"))
    raise Mistake(
        f"Your app's {report['unfinished']} did not finish within {DEADLINE:g} s ({TRIES} tries), while "
        f"a plain ProcessPoolExecutor({workers}) started, counted primes and shut down in "
        f"{baseline['elapsed']:.2f} s here. Does the lifespan or the endpoint wait for something that never "
        "comes?",
        out_of_time=True,
    )


@graded(NAME, points=1.5, promises=["pool-in-lifespan", "primes"])
async def test_make_cpu_app_owns_a_process_pool_in_its_lifespan(submission):
    """The lifespan puts a ProcessPoolExecutor with `workers` workers on app.state.pool, uses it, and shuts it down."""
    report = await lifespan_report(submission, 3, ["/primes?below=1000"])
    life = report["lives"][0]
    started = life["started"]
    expect(
        started["type"] == "ProcessPoolExecutor",
        "When the app has started, app.state.pool should be a concurrent.futures.ProcessPoolExecutor "
        f"(found {started['type'] or 'nothing'}). Create it in the lifespan, before its yield.",
        promises=["pool-in-lifespan"],
    )
    expect(
        started["max_workers"] == 3,
        "make_cpu_app(workers) should make a pool of `workers` processes (max_workers).",
        promises=["pool-in-lifespan"],
    )
    pids = life["after_request"].get("worker_pids", [])
    expect(
        pids and report["own_pid"] not in pids,
        "After a GET /primes, the pool had no worker process: run count_primes in app.state.pool "
        "(loop.run_in_executor(pool, count_primes, below)).",
        promises=["primes"],
    )
    expect(
        life["accepts_work_after_shutdown"] is False,
        "After the app shut down, its pool still accepted work: shut the pool down in the lifespan, after its yield.",
        promises=["pool-in-lifespan"],
    )


@graded(NAME, points=1.5, promises=["primes", "ping"])
async def test_make_cpu_app_counts_primes_and_answers_ping(submission):
    """GET /primes?below=N answers {"below": N, "count": <primes below N>}; GET /ping answers {"pong": true}."""
    belows = [2, 100, 7919, 30_000]
    report = await lifespan_report(submission, 1, ["/ping"] + [f"/primes?below={below}" for below in belows])
    answers = report["lives"][0]["answers"]
    ping = answers[0]
    expect(
        ping["status"] == 200 and ping["json"] == {"pong": True},
        f'GET /ping should answer 200 {{"pong": true}}; yours answered {ping["status"]} {ping["json"]}.',
    )
    for below, answer in zip(belows, answers[1:], strict=True):
        expect(
            answer["status"] == 200 and answer["json"] == {"below": below, "count": primes_below(below)},
            f'GET /primes?below={below} should answer {{"below": {below}, "count": count_primes({below})}}; '
            f"yours answered {answer['status']} {answer['json']}.",
        )


# Requests the statement fixes the answer of: GET /ping, and GET /primes with an integer N.
TARGETS = st.just("/ping") | st.integers(-3, 5000).map(lambda below: f"/primes?below={below}")


@graded(NAME, points=1, promises=["primes", "ping"])
async def test_make_cpu_app_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated requests (GET /ping, GET /primes with small, large and negative N), the answers are as the task
    says."""
    await require(submission, NAME, kind="function")

    async def batch(side, requests):  # one app, one lifespan, for all of them: the answers keep no state
        report = await lifespan_report(side, 1, [path for paths in requests for path in paths])
        answers = iter(report["lives"][0]["answers"])
        return [[next(answers) for _ in paths] for paths in requests]

    await same_as_reference(
        submission,
        reference,
        NAME,
        st.lists(TARGETS, min_size=1, max_size=5),
        batch=batch,
        examples=10,
        promise=["primes", "ping"],
    )


@graded(NAME, points=1.5, promises=["primes", "ping"])
async def test_make_cpu_app_keeps_ping_fast_while_computing(submission):
    """While a long GET /primes is computed, GET /ping still answers about as fast as when idle."""
    await require(submission, NAME, kind="function")
    app = submission.asgi(await make(submission, NAME, NAME, 2), label=f"{NAME}(2)")
    async with LifespanManager(app, startup_timeout=5, shutdown_timeout=5), client(app) as http:
        http.timeout = 10
        below = long_below()
        result = await responsiveness(http, f"/primes?below={below}")
    expect(result.slow_status == 200, f"GET /primes?below={below} answered {result.slow_status}, not 200.")
    expect(
        result.responsive,
        f"Counting primes still holds the event loop: {result.describe()}. Await the pool's result instead "
        "of computing on the loop.",
    )


@graded(NAME, points=1, promises=["pool-in-lifespan"], unhappy=True)
async def test_make_cpu_app_makes_a_new_pool_at_each_startup(submission):
    """One app started, shut down and started again: the second life has a pool of its own, and its GET /primes
    answers."""
    report = await lifespan_report(submission, 1, ["/primes?below=100"], lives=2)
    first, second = report["lives"]
    expect(
        second["started"]["type"] == "ProcessPoolExecutor"
        and second["accepts_work_after_shutdown"] is False
        and first["accepts_work_after_shutdown"] is False,
        "Started a second time, the same app should create a new pool in its lifespan and shut that one down "
        "too: make the pool in the lifespan, not once in make_cpu_app.",
    )
    answer = second["answers"][0]
    expect(
        answer["status"] == 200 and answer["json"] == {"below": 100, "count": 25},
        f"Started a second time (after a shutdown), the app answered GET /primes?below=100 with {answer['status']} "
        f"{answer['json']}: its pool should be a new one, made by the lifespan at each startup.",
    )
