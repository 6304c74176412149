"""Hidden tests for `solve`: the graph solver with `use_cache=False` and overrides, as FastAPI does it."""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

from .inputs import solve_cases

pytestmark = pytest.mark.anyio
NAME = "solve"

# counter is asked for fresh, cached, through stamp (fresh), fresh, and cached again at the end.
FRESH = {
    "nodes": [
        {"name": "counter", "kind": "sync"},
        {"name": "stamp", "kind": "async", "deps": [{"on": "counter", "use_cache": False}]},
    ],
    "endpoint": {
        "deps": [
            {"on": "counter", "use_cache": False},
            {"on": "counter"},
            {"on": "stamp"},
            {"on": "counter", "use_cache": False},
            {"on": "counter"},
        ]
    },
    "requests": 2,
}

# audit (cached) is used twice; its own dependency clock opts out of the cache.
ORDER = {
    "nodes": [
        {"name": "clock", "kind": "sync"},
        {"name": "audit", "kind": "async", "deps": [{"on": "clock", "use_cache": False}]},
        {"name": "left", "kind": "async", "deps": [{"on": "audit"}]},
        {"name": "right", "kind": "sync", "deps": [{"on": "audit"}]},
    ],
    "endpoint": {"deps": [{"on": "left"}, {"on": "right"}, {"on": "audit"}]},
}

# db is replaced by fake_db, which has dependencies of its own; fake_db is also asked for directly.
OVERRIDES = {
    "nodes": [
        {"name": "settings", "kind": "sync"},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}]},
        {"name": "fixture", "kind": "sync"},
        {"name": "fake_db", "kind": "async", "deps": [{"on": "fixture"}, {"on": "settings", "annotated": True}]},
        {"name": "user", "kind": "async", "deps": [{"on": "db"}]},
    ],
    "endpoint": {"deps": [{"on": "user"}, {"on": "db"}, {"on": "db", "use_cache": False}, {"on": "fake_db"}]},
    "overrides": {"db": "fake_db"},
    "requests": 2,
}

# Values that are false, cached and fresh; db (which needs settings) may be in the cache already.
FALSY = {
    "nodes": [
        {"name": "settings", "kind": "sync", "returns": 0},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}], "returns": None},
        {
            "name": "user",
            "kind": "async",
            "deps": [{"on": "db"}, {"on": "settings", "use_cache": False}],
            "returns": "",
        },
    ],
    "endpoint": {"deps": [{"on": "user"}, {"on": "db"}, {"on": "user"}, {"on": "settings"}]},
}

# Shared dependencies, declared by default and by Annotated, an Annotated one before the others.
SHARED = {
    "nodes": [
        {"name": "settings", "kind": "sync"},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}]},
        {"name": "user", "kind": "async", "deps": [{"on": "db"}, {"on": "settings", "annotated": True}]},
        {"name": "clock", "kind": "sync"},
    ],
    "endpoint": {"deps": [{"on": "clock", "annotated": True}, {"on": "user"}, {"on": "db"}, {"on": "settings"}]},
    "requests": 2,
}


async def learner_report(submission, spec, **options) -> dict:
    await require(submission, NAME, kind="async function")
    return await submission.probe("lesson03.solve_report", spec, defined(NAME), defined("Dep"), **options)


def expect_no_error(report: dict, hint: str = "") -> None:
    error = report["error"]
    if error is not None:
        expect(False, f"Solving a graph raised {error['type']}: {error['message']}.{hint}")


def same_runs(mine: dict, fastapi: dict, fewer: str, more: str) -> None:
    ran_less = [n for n, c in fastapi["counts"].items() if mine["counts"].get(n, 0) < c]
    ran_more = [n for n, c in mine["counts"].items() if c > fastapi["counts"].get(n, 0)]
    expect(not ran_less, fewer)
    expect(not ran_more, more)


@graded(NAME, points=0.5, promises=["entries"])
async def test_solve_still_solves_plain_graphs(submission, reference):
    """Without overrides, a graph with shared dependencies gives what FastAPI gives."""
    mine = await learner_report(submission, SHARED)
    expect_no_error(mine, " Is `overrides` optional (default None)?")
    fastapi = await reference.probe("lesson03.fastapi_report", SHARED)
    expect(
        mine["counts"] == fastapi["counts"]
        and mine["values"] == fastapi["values"]
        and mine["calls"] == fastapi["calls"],
        "On a plain graph with shared dependencies, solve should do what solve_graph did: the same runs, in "
        "signature order, and values as FastAPI.",
    )


@graded(NAME, points=1.5, promises=["cache-hit", "run-and-store"], unhappy=True)
async def test_solve_use_cache_false_matches_fastapi(submission, reference):
    """Dep(f, use_cache=False) runs f again; the cache keeps the first value, as in FastAPI."""
    mine = await learner_report(submission, FRESH)
    expect_no_error(mine)
    fastapi = await reference.probe("lesson03.fastapi_report", FRESH)
    same_runs(
        mine,
        fastapi,
        "A `Dep(f, use_cache=False)` runs f again even when the cache has a value for f.",
        "A dependency ran more often than in FastAPI: a plain `Dep(f)` reuses the cached value.",
    )
    expect(
        mine["values"] == fastapi["values"],
        "The values differ from FastAPI's: keep the first value stored for a callable; a later "
        "use_cache=False run does not replace it, so a cached `Dep(f)` after it still gets the first one.",
    )
    expect(
        mine["calls"] == fastapi["calls"],
        "The dependencies ran in a different order, or with other arguments, than in FastAPI.",
    )


@graded(NAME, points=1, promises=["always-solve"], unhappy=True)
async def test_solve_follows_fastapis_order(submission, reference):
    """A cached dependency used twice still has its sub-dependencies solved twice, as in FastAPI."""
    mine = await learner_report(submission, ORDER)
    expect_no_error(mine)
    fastapi = await reference.probe("lesson03.fastapi_report", ORDER)
    same_runs(
        mine,
        fastapi,
        "Here FastAPI runs a use_cache=False sub-dependency once more than your solve: it solves a "
        "dependency's own parameters before it looks in the cache (section 3 showed it). Do the same.",
        "A dependency ran more often than in FastAPI.",
    )
    expect(
        mine["calls"] == fastapi["calls"] and mine["values"] == fastapi["values"],
        "The order of runs or the values differ from FastAPI's on a graph where a cached dependency has a "
        "use_cache=False dependency: solve the parameters first, then look in the cache.",
    )


@graded(NAME, points=1, promises=["override", "cache-hit"])
async def test_solve_overrides_match_fastapi(submission, reference):
    """overrides={original: replacement} runs the replacement with its own dependencies, cached under the original."""
    mine = await learner_report(submission, OVERRIDES)
    expect_no_error(
        mine,
        " With an override, solve the replacement's own parameters (its signature, not the "
        "original's) and run the replacement with them.",
    )
    fastapi = await reference.probe("lesson03.fastapi_report", OVERRIDES)
    expect(
        mine["counts"].get("db", 0) == 0, "An overridden dependency must not run at all: run its replacement instead."
    )
    same_runs(
        mine,
        fastapi,
        "The replacement ran fewer times than in FastAPI: keep its value in the cache under the "
        "original callable, so that asking for the replacement directly is a different entry.",
        "The replacement ran more often than in FastAPI: keep its value in the cache under the original "
        "callable and reuse it for every cached `Dep(original)`.",
    )
    expect(
        mine["calls"] == fastapi["calls"] and mine["values"] == fastapi["values"],
        "With overrides, the runs or the values differ from FastAPI's.",
    )


@graded(NAME, points=1, promises=["cache-hit"], unhappy=True)
async def test_solve_takes_what_the_cache_holds(submission, reference):
    """A cached value is taken as it is, a false one too, and one the caller put in the cache."""
    mine, fastapi = await learner_report(submission, FALSY), await reference.probe("lesson03.fastapi_report", FALSY)
    expect_no_error(mine)
    same_runs(
        mine,
        fastapi,
        "A dependency ran fewer times than in FastAPI on a graph whose values are false.",
        'A cached dependency whose value is false (None, 0, "") ran again: it is in `cache` all the same. '
        "Ask whether `dep.dependency` is a key of `cache`, not whether its value is true.",
    )
    expect(mine["values"] == fastapi["values"], "A cached value is the parameter's value as it is, a false one too.")
    mine = await learner_report(submission, FALSY, cached={"db": "given by the caller"})
    expect_no_error(mine)
    expect(
        not mine["counts"].get("db")
        and mine["values"] == {"user_0": "", "db_1": "given by the caller", "user_2": "", "settings_3": 0},
        "A value the caller had already put in `cache` for a dependency is that dependency's value: it must not run.",
    )


@graded(NAME, points=2, promises=["entries", "override", "always-solve", "cache-hit", "run-and-store"])
async def test_solve_solves_generated_graphs_as_the_task_says(submission, reference):
    """On generated graphs with use_cache=False, overrides, false values and values already in the cache, every run,
    argument and value is as the task says."""
    await require(submission, NAME, kind="async function")

    async def run(side, case):
        return await side.probe(
            "lesson03.solve_report",
            case["graph"],
            defined(NAME),
            defined("Dep"),
            shared_cache=case["shared_cache"],
            cached=case["cached"],
        )

    cases = solve_cases(kinds=("sync", "async", "async_callable", "class"), use_cache=True, overrides=True, falsy=True)
    await same_as_reference(
        submission,
        reference,
        NAME,
        cases,
        run,
        promise={
            "values": ["entries", "cache-hit", "run-and-store"],
            "counts": ["override", "always-solve", "cache-hit"],
            "calls": ["override", "always-solve", "run-and-store"],
            "events": ["always-solve", "run-and-store"],
        },
    )
