"""Hidden tests for `capacity_plan`: from a measured latency curve to workers, pods and an HPA target.

A probe calls the learner's function on curves given as JSON and reports each plan (or the
type of the exception raised); the expected numbers are computed here from the statement.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "capacity_plan"
CURVE = [
    {"rps": 300, "p99_ms": 30, "cpu": 0.61},
    {"rps": 100, "p99_ms": 10, "cpu": 0.2},
    {"rps": 400, "p99_ms": 90, "cpu": 0.8},
    {"rps": 500, "p99_ms": 40, "cpu": 0.95},
    {"rps": 200, "p99_ms": 15, "cpu": 0.4},
]


def case(curve=CURVE, target=50, per_day=86_400_000, peak=3, cores=4, **extra):
    return {
        "curve": curve,
        "p99_target_ms": target,
        "requests_per_day": per_day,
        "peak_factor": peak,
        "cores_per_pod": cores,
        **extra,
    }


async def plans(submission, cases):
    await require(submission, NAME, kind="function")
    return await probe(submission, NAME, "lesson09.capacity_plans", defined(NAME), cases)


def value(answer, key):
    return answer.get("value", {}).get(key) if isinstance(answer.get("value"), dict) else None


@graded(NAME, points=0.5, promises=["peak-rps"])
async def test_capacity_plan_peak_rps(submission):
    """peak_rps is requests_per_day / 86400 * peak_factor."""
    answers = await plans(submission, [case(), case(per_day=50_000_000, peak=2.5)])
    expect(
        value(answers[0], "peak_rps") == pytest.approx(3000),
        "86.4 million requests a day at a peak factor of 3 is 3000 requests/s at the peak (requests_per_day / "
        "86400 * peak_factor).",
    )
    expect(value(answers[1], "peak_rps") == pytest.approx(50_000_000 / 86400 * 2.5), "peak_rps must use peak_factor.")


@graded(NAME, points=1, promises=["worker-rps"])
async def test_capacity_plan_worker_rps_stops_at_the_knee(submission):
    """worker_rps: the last rps before the first point over the target, in rps order."""
    answers = await plans(submission, [case(), case(target=35), case(target=100), case(target=12), case(target=30)])
    expect(
        [value(answer, "worker_rps") for answer in answers[:4]] == [300, 300, 500, 100],
        "worker_rps should be the rps of the last point, in order of rps, before the first point whose p99_ms "
        "exceeds the target; a point after that one never counts (sort the curve first).",
    )
    expect(
        value(answers[4], "worker_rps") == 300,
        "a point whose p99_ms equals the target meets it (only one that exceeds it misses): with a 30 ms target "
        f"and 300/s measured at 30 ms, worker_rps is 300, not {value(answers[4], 'worker_rps')}.",
    )


@graded(NAME, points=1, promises=["workers-per-pod", "pods"])
async def test_capacity_plan_pods(submission):
    """pods: ceil(peak / (worker_rps * cores)), at least min_pods; workers_per_pod = cores_per_pod."""
    answers = await plans(
        submission,
        [case(), case(per_day=1000), case(per_day=1000, min_pods=3), case(per_day=86_400_000, peak=3.6, cores=2)],
    )
    expect(
        value(answers[0], "workers_per_pod") == 4 and value(answers[3], "workers_per_pod") == 2,
        "workers_per_pod should be cores_per_pod: one worker per core.",
        promises=["workers-per-pod"],
    )
    expect(
        value(answers[0], "pods") == 3,
        "3000/s over pods of 4 workers at 300/s needs ceil(2.5) = 3 pods.",
        promises=["pods"],
    )
    expect(
        value(answers[1], "pods") == 2 and value(answers[2], "pods") == 3,
        "a small load still gets min_pods pods (2 unless given).",
        promises=["pods"],
    )
    expect(
        value(answers[3], "pods") == 6,
        "pods must be rounded up: 3600/s over pods of 2 x 300/s is 6 pods.",
        promises=["pods"],
    )


@graded(NAME, points=0.5, promises=["hpa-target"])
async def test_capacity_plan_hpa_target(submission):
    """hpa_cpu_percent: the cpu of the chosen point, as a whole percentage rounded down."""
    answers = await plans(submission, [case(), case(target=12), case(curve=[{"rps": 100, "p99_ms": 10, "cpu": 0.675}])])
    expect(
        [value(answer, "hpa_cpu_percent") for answer in answers] == [61, 20, 67],
        "hpa_cpu_percent should be the cpu of the point worker_rps comes from, times 100, rounded down "
        "(0.61 -> 61, 0.675 -> 67).",
    )


@graded(NAME, points=1, promises=["no-point"], unhappy=True)
async def test_capacity_plan_raises_when_nothing_meets_the_target(submission):
    """No point (or no curve) meets the target: ValueError."""
    answers = await plans(submission, [case(target=5), case(curve=[])])
    expect(
        all(answer.get("raised") == "ValueError" for answer in answers),
        f"when no measured point meets the target (or the curve is empty), raise ValueError; got {answers}.",
    )


# A cpu a quarter or three quarters of a percent past a whole one: rounded down it is that
# percent whatever the float's last digit (0.29 * 100 is 28.999999999999996), and rounded to
# the nearest it is not, for the three quarters.
POINT = st.fixed_dictionaries(
    {
        "rps": st.integers(1, 2000),
        "p99_ms": st.integers(1, 500),
        "cpu": st.tuples(st.integers(0, 99), st.sampled_from([0.25, 0.75])).map(lambda c: (c[0] + c[1]) / 100),
    }
)
CASES = st.fixed_dictionaries(
    {
        "curve": st.lists(POINT, min_size=0, max_size=6, unique_by=lambda p: p["rps"]),
        "p99_target_ms": st.integers(1, 400),
        "requests_per_day": st.integers(0, 500_000_000),
        "peak_factor": st.integers(1, 6),
        "cores_per_pod": st.integers(1, 16),
        "min_pods": st.integers(1, 4),
    }
)


@graded(NAME, points=1, promises=["peak-rps", "worker-rps", "workers-per-pod", "pods", "hpa-target", "no-point"])
async def test_capacity_plan_on_generated_curves(submission, reference):
    """On generated curves and loads, the plan is as the statement says."""
    await require(submission, NAME, kind="function")

    async def batch(side, cases):
        answers = await side.probe("lesson09.capacity_plans", defined(NAME), cases)
        return [
            {key: (round(v, 6) if isinstance(v, float) else v) for key, v in a["value"].items()}
            if "value" in a and isinstance(a["value"], dict)
            else a
            for a in answers
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        CASES,
        batch=batch,
        promise={
            "peak_rps": "peak-rps",
            "worker_rps": "worker-rps",
            "workers_per_pod": "workers-per-pod",
            "pods": "pods",
            "hpa_cpu_percent": "hpa-target",
            "raised": "no-point",
        },
    )
