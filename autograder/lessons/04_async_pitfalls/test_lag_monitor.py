"""Hidden tests for `LagMonitor`: a task that sleeps `interval` and records how late it wakes.

The probe runs the learner's monitor in the sandbox's own event loop, holds that loop with
time.sleep for a known time, and reports the samples; the checks compare them with what the
probe did. Timing checks use wide margins (a busy machine only ever adds lag, so "at least"
bounds are safe; the "at most" bound for a free loop is a large fraction of the interval) and
a run that fails is repeated before the test fails.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference
from coursekit import percentile

pytestmark = pytest.mark.anyio
NAME = "LagMonitor"
INTERVAL, IDLE, BLOCK = 0.05, 0.4, 0.3


async def monitored(submission) -> dict:
    await require(submission, NAME, kind="class")
    return await probe(submission, NAME, "lesson04.lag_report", defined(NAME), INTERVAL, IDLE, BLOCK)


def lags_of(report: dict) -> list[float]:
    return [lag for _, lag in report["samples"]]


def timing_problem(report: dict) -> str | None:
    """What is wrong with one run's samples, or None."""
    samples, lags = report["samples"], lags_of(report)
    block_start, _block_end = report["block"]
    idle_lags = [lag for woke, lag in samples if woke < block_start]
    if not samples:
        return "No samples were recorded: start() should run a task that appends (woke_at, lag) to self.samples."
    if any(lag < 0 for lag in lags):
        return "A lag should never be negative: a wake-up a hair early counts as 0."
    # ~IDLE / INTERVAL wake-ups before the block; a busy machine may lose a few, never most.
    if not 0.4 * IDLE / INTERVAL <= len(idle_lags) <= 1.5 * IDLE / INTERVAL + 2:
        return (
            f"With interval={INTERVAL}, a free loop should give a sample about every {INTERVAL} s; "
            f"in {IDLE} s your monitor gave {len(idle_lags)}. Sleep `interval` each round."
        )
    if percentile(idle_lags, 50) >= 0.75 * INTERVAL:
        return (
            "On a free loop the lags should be close to 0, but your median lag is about the interval itself. "
            "The lag is how late the task woke: the wake-up time minus when the sleep should have ended, "
            "not minus when it started."
        )
    if max(lags) < BLOCK - INTERVAL - 0.05:
        return (
            f"The loop was held for {BLOCK} s with time.sleep, but the largest lag your monitor recorded is "
            f"{max(lags):.3f} s. Record the lag of every wake-up, measured with time.monotonic()."
        )
    return None


@graded(NAME, points=2, promises=["made", "samples"])
async def test_lag_monitor_measures_how_late_it_wakes(submission):
    """On a free loop lags are near 0, one per interval; while the loop is held, a lag about as long as the hold."""
    for _ in range(3):
        report = await monitored(submission)
        problem = timing_problem(report)
        if problem is None:
            break
    expect(problem is None, problem, promises=["samples"])
    expect(report["lags_match"], "Keep the samples in `self.samples` as (woke_at, lag) pairs; `lags` reads them.")
    woke = [woke for woke, _ in report["samples"]]
    expect(
        woke == sorted(woke) and 0 < woke[0] and woke[-1] <= report["stopped"] + 0.01,
        "The first item of each sample is when the task woke (time.monotonic()), in order.",
    )


@graded(NAME, points=1, promises=["never-negative"], unhappy=True)
async def test_lag_monitor_never_records_a_negative_lag(submission):
    """A wake-up that the clock shows a hair early is recorded as a lag of 0, never below."""
    await require(submission, NAME, kind="class")
    lags = (await probe(submission, NAME, "lesson04.lag_on_a_jittery_clock", defined(NAME), 0.01, 0.3))["lags"]
    expect(lags, "No samples were recorded: start() should run a task that appends (woke_at, lag) to self.samples.")
    expect(min(lags) >= 0, "Your monitor recorded a negative lag: a wake-up a hair early (by the clock) counts as 0.")


@graded(NAME, points=1, promises=["start-twice", "stop", "second-stop"], unhappy=True)
async def test_lag_monitor_stops_cleanly(submission):
    """stop() ends the task before returning, returns the lags, and nothing is added afterwards; start twice is an
    error."""
    lifecycle = await probe(submission, NAME, "lesson04.lag_lifecycle", defined(NAME))
    expect(
        lifecycle["second_start"] == "RuntimeError",
        "Calling start() on a monitor that is running should raise RuntimeError "
        "("
        f"{'nothing was raised' if lifecycle['second_start'] is None else lifecycle['second_start'] + ' was raised'}"
        ").",
        promises=["start-twice"],
    )
    expect(
        lifecycle["first_stop_list"],
        "`await monitor.stop()` should return the list of lags (`self.lags`).",
        promises=["stop"],
    )
    expect(
        lifecycle["unfinished_at_stop"] == 0 and lifecycle["added_after_stop"] == 0,
        "After `await monitor.stop()` the background task must have ended (cancel it, then wait until it is done), "
        "so no sample is added any more.",
        promises=["stop"],
    )
    expect(
        lifecycle["first_stop_list"] and lifecycle["second_stop_list"],
        "A second `await stop()` should do nothing but return the lags.",
        promises=["second-stop"],
    )


@graded(NAME, points=1, promises=["percentile"])
async def test_lag_monitor_percentile_is_nearest_rank(submission):
    """percentile(p) is the nearest-rank percentile of the lags, 0.0 without samples."""
    await require(submission, NAME, kind="class")
    cases = [
        ([0.004, 0.001, 0.003, 0.002], [25, 50, 75, 99, 100]),
        ([0.5] + [0.001] * 99, [50, 99, 100]),
        ([0.0, 0.2, 0.1], [1, 33.4, 66.7, 90]),
        ([], [50, 99]),
    ]
    for lags, ps in cases:
        got = await probe(submission, NAME, "lesson04.lag_percentiles", defined(NAME), lags, ps)
        wanted = [percentile(lags, p) for p in ps]
        expect(
            len(got) == len(wanted)
            and all(isinstance(g, (int, float)) and abs(g - w) < 1e-12 for g, w in zip(got, wanted, strict=True)),
            "percentile(p) should be the nearest-rank percentile of `lags`, as coursekit.percentile computes it "
            "(always one of the lags; 0.0 when there are none).",
        )


# A monitor made with the default interval or a short one, then started and left to run a few
# intervals first (a stop before any start is left open by the statement), and driven through
# stops, restarts, second starts and stops, and naps of several intervals; and the percentiles of
# generated lags, p from 0 to 100.
LAG_VALUES = st.sampled_from([0.0, 0.001, 0.002, 0.01, 0.05, 0.3])
SESSIONS = st.fixed_dictionaries(
    {
        "interval": st.sampled_from([None, 0.005]),
        "ops": st.lists(st.sampled_from(["start", "stop", "sleep"]), max_size=5).map(
            lambda ops: ["start", "sleep", *ops]
        ),
        "lags": st.lists(LAG_VALUES, max_size=8),
        "ps": st.lists(st.sampled_from([0.5, 1, 10, 25, 33.4, 50, 66.7, 90, 99, 100]), min_size=1, max_size=3),
    }
)


@graded(NAME, points=1, promises=["made", "samples", "start-twice", "stop", "second-stop", "percentile"], unhappy=True)
async def test_lag_monitor_lives_generated_sessions_as_the_task_says(submission, reference):
    """Over generated sessions (starts, second starts, stops, restarts, naps; percentiles of generated lags), it behaves
    as the task says."""
    await require(submission, NAME, kind="class")

    async def batch(side, sessions):
        return await probe(side, NAME, "lesson04.lag_sessions", defined(NAME), sessions)

    await same_as_reference(
        submission,
        reference,
        NAME,
        SESSIONS,
        batch=batch,
        examples=20,
        promise={
            "made": "made",
            "percentiles": "percentile",
            "steps": ["samples", "never-negative", "start-twice", "stop", "second-stop"],
        },
    )
