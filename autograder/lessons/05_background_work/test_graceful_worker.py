"""Hidden tests for `run_worker`: a worker loop that stops cleanly on SIGTERM.

A probe forks a child that runs the learner's loop on in-memory jobs (each takes 0.4 s) and
logs what starts and ends; the test sends SIGTERM at a chosen moment through the probe.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "graceful_worker"


async def scenario(submission, **spec):
    await require(submission, "run_worker", kind="function")
    report = await submission.probe("lesson05.worker_scenario", defined("run_worker"), spec)
    raised = (report["outcome"] or {}).get("raised", "")
    if raised.startswith("NotImplementedError"):
        expect(False, "Your `run_worker` raised NotImplementedError. The exercise is not solved yet.")
    return report


@graded(NAME, points=2, promises=["sigterm-finish", "returns-count"], unhappy=True)
async def test_sigterm_during_a_job(submission):
    """SIGTERM while a job runs: the job ends, no new job starts, run_worker returns 1."""
    report = await scenario(submission, jobs=3, sigterm="during_job")
    outcome = report["outcome"] or {}
    killed = report["exitcode"] is not None and report["exitcode"] < 0
    expect(
        not killed,
        "SIGTERM killed the worker in the middle of its job: catch the signal (signal.signal) and "
        "only note that a stop was asked, so the job in hand can finish.",
        promises=["sigterm-finish"],
    )
    raised = (outcome.get("raised") or "").split(":", 1)[0]
    expect(
        "end 0" in report["log"],
        "SIGTERM stopped the job in hand: your SIGTERM handler ends the worker where it stands"
        + (f" (run_worker raised {raised} out of the job)" if raised else "")
        + ". A handler runs in between two steps of whatever is running, here the job: let it only note that a "
        "stop was asked, and look at that note between jobs.",
        promises=["sigterm-finish"],
    )
    expect(
        report["log"] == ["start 0", "end 0"],
        "After SIGTERM the worker should finish the job in hand and take no new one (check for the stop before "
        "each take).",
        promises=["sigterm-finish"],
    )
    expect(
        outcome.get("taken") == [0],
        f"After SIGTERM your worker called take() again and got a job it never handled (jobs taken: "
        f"{outcome.get('taken')}, handled: [0]): a job taken is claimed, and dropping it leaves it waiting for its "
        "lease to run out. Check for the stop before each take(), not after.",
        promises=["sigterm-finish"],
    )
    expect(
        outcome.get("returned") == 1 and not outcome.get("raised"),
        f"After SIGTERM `run_worker` should return the number of jobs it handled (1 here), not raise "
        f"({outcome.get('raised') or outcome.get('returned')}).",
        promises=["returns-count"],
    )


@graded(NAME, points=1, promises=["sigterm-idle", "loop"], unhappy=True)
async def test_sigterm_while_idle(submission):
    """SIGTERM while waiting for work: run_worker returns 0 promptly."""
    report = await scenario(submission, idle=True, poll=0.05, sigterm="idle")
    outcome = report["outcome"] or {}
    expect(
        not report["still_running"] and report["stopped_after"] is not None and report["stopped_after"] < 1.0,
        "An idle worker (take() answers None) should stop within a poll interval after SIGTERM.",
        promises=["sigterm-idle"],
    )
    expect(
        outcome.get("returned") == 0 and not outcome.get("raised"),
        "An idle worker stopped by SIGTERM should return 0 (no job handled), not raise.",
        promises=["sigterm-idle"],
    )
    # About 0.3 s / 0.05 s = 6 empty takes; a loop that never waits makes thousands. 200 leaves
    # room for a slow machine on the one side and can only be missed by a loop that waits.
    expect(
        outcome.get("idle_takes", 0) <= 200,
        f"While idle, your worker called take() {outcome.get('idle_takes')} times in about 0.3 s: after take() "
        "answers None, wait `poll` seconds before asking again (in a way SIGTERM cuts short).",
        promises=["loop"],
    )


@graded(NAME, points=0.5, promises=["until-empty", "loop", "returns-count"])
async def test_until_empty_drains_the_queue(submission):
    """until_empty=True: handles every job, then returns their number."""
    report = await scenario(submission, jobs=3, job_seconds=0.05, until_empty=True)
    outcome = report["outcome"] or {}
    expect(
        not report["still_running"],
        "With until_empty=True, `run_worker` should return the first time take() answers None; yours was still "
        "running seconds after the last job, waiting for more.",
    )
    expect(
        outcome.get("returned") == 3 and report["log"] == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"],
        "With until_empty=True, `run_worker` should handle jobs until take() answers None, then return how many "
        "it handled.",
    )


@graded(
    NAME, points=0.5, negative=True, promises=["restores-handler"], unhappy=True
)  # a loop that does nothing leaves the handler as it was
async def test_restores_the_previous_handler(submission):
    """After returning, and after handle() raised, the SIGTERM handler in place before is back."""
    report = await scenario(submission, jobs=1, job_seconds=0.05, until_empty=True)
    expect(
        (report["outcome"] or {}).get("handler_restored") is True,
        "`run_worker` should put back the SIGTERM handler that was there before it started (signal.signal "
        "returns it), even when it returns early.",
    )
    broken = await scenario(submission, jobs=2, job_seconds=0.05, until_empty=True, raises_at=0)
    expect(
        (broken["outcome"] or {}).get("handler_restored") is True,
        "When handle() raises, `run_worker` should still put back the SIGTERM handler that was there before: "
        '"whatever happens" includes an exception (which statement runs on every way out of a block?).',
    )
    raised = ((broken["outcome"] or {}).get("raised") or "").split(":", 1)[0]
    expect(
        raised in ("", "RuntimeError"),
        f"When handle() raises, its exception should go on to run_worker's caller as it is (it got {raised}).",
    )


@graded(NAME, points=1, promises=["every-call", "returns-count"], unhappy=True)
async def test_a_second_loop_in_the_same_process(submission):
    """A loop stopped by SIGTERM, then a second call in the same process: the second handles its jobs and counts from
    0."""
    report = await scenario(submission, jobs=2, job_seconds=0.2, sigterm="during_job", again=2)
    outcome = report["outcome"] or {}
    expect(
        outcome.get("returned") == 1 and not outcome.get("raised"),
        "After SIGTERM `run_worker` should return the number of jobs it handled (1 here), not raise "
        f"({outcome.get('raised') or outcome.get('returned')}).",
        promises=["returns-count"],
    )
    again = outcome.get("again") or {}
    expect(
        not again.get("raised"),
        f"A second call of `run_worker` in the same process raised {again.get('raised')}.",
        promises=["every-call"],
    )
    expect(
        again.get("returned") != 0 or report["log"][2:] != [],
        "A second call of `run_worker` in the same process, after a SIGTERM stopped the first, handled no job: "
        "the stop of an earlier call must not stop a later one. Make the loop's state (the stop flag, the count) "
        "afresh in each call, not once for the module.",
        promises=["every-call"],
    )
    expect(
        again.get("returned") == 3
        and report["log"][2:] == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"],
        f"A second call of `run_worker` in the same process should handle the 3 jobs left and return 3, the jobs "
        f"of this call (it returned {again.get('returned')!r}): count afresh in each call.",
        promises=["every-call"],
    )


# Job sets of 0 to 4 jobs of 10 ms each, and a SIGTERM only where its moment is certain: as a
# job that is not the last starts (that job lasts 0.4 s, so the signal lands in it), or once the
# last job has ended and the worker has waited a while (idle); none when until_empty=True drains
# the queue.
def worker_case(jobs: int, until_empty: bool, at: int | None) -> dict:
    case = {"jobs": jobs, "durations": [0.01] * jobs, "until_empty": until_empty, "poll": 0.02}
    if at is not None:
        case["durations"][at] = 0.4
        case.update(sigterm="at_job", at=at)
    elif not until_empty:
        case["sigterm"] = "after_all"  # without until_empty, only SIGTERM ends the loop
    return case


DURING = st.integers(2, 4).flatmap(
    lambda jobs: st.builds(worker_case, st.just(jobs), st.booleans(), st.integers(0, jobs - 2))
)
CASES = st.one_of(DURING, st.builds(worker_case, st.integers(0, 3), st.booleans(), st.none()), DURING)


def shown_case(case: dict) -> str:
    when = {
        "at_job": f"as job {case.get('at')} (of 0.4 s) starts",
        "after_all": "once every job has ended and the worker is waiting for more",
    }.get(case.get("sigterm"), "never")
    return (
        f"run_worker(take, handle, poll=0.02, until_empty={case['until_empty']}) with {case['jobs']} jobs to take; "
        f"SIGTERM: {when}"
    )


def promised(report: dict) -> dict:
    outcome = report["outcome"] or {}
    return {
        "jobs started and ended": report["log"],
        "jobs taken": outcome.get("taken"),
        "returned": outcome.get("returned"),
        "raised": (outcome.get("raised") or "").split(":", 1)[0] or None,
        "handler put back": outcome.get("handler_restored"),
        "was still running for its SIGTERM": report["signalled"],
        "ended by itself": report["outcome"] is not None and not report["still_running"],
    }


@graded(
    NAME,
    points=1,
    promises=["loop", "until-empty", "returns-count", "sigterm-finish", "sigterm-idle", "restores-handler"],
    unhappy=True,
)
async def test_generated_job_sets_and_signals_as_the_task_says(submission, reference):
    """On generated job sets, with SIGTERM during a job, while idle, or never (until_empty), the jobs handled and the
    return are as the task says."""
    await require(submission, "run_worker", kind="function")

    async def batch(side, cases):
        return [
            promised(report) for report in await side.probe("lesson05.worker_scenarios", defined("run_worker"), cases)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        CASES,
        batch=batch,
        examples=6,
        show=shown_case,
        promise={
            "jobs started and ended": ["loop", "until-empty", "sigterm-finish"],
            "jobs taken": ["loop", "sigterm-finish"],
            "returned": ["returns-count"],
            "raised": ["loop", "sigterm-finish"],
            "handler put back": ["restores-handler"],
            "was still running for its SIGTERM": ["until-empty", "sigterm-finish", "sigterm-idle"],
            "ended by itself": ["until-empty", "sigterm-finish", "sigterm-idle"],
        },
    )
