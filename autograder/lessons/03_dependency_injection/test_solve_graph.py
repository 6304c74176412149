"""Hidden tests for `solve_graph`: the dependency graph, solved with a per-request cache.

The graphs are JSON descriptions (see the lesson's sandbox_probes.py); the probe builds real
functions from them, runs the learner's solver on them, and the same graph runs through
FastAPI on the reference's side (in this trusted process), so the learner's results are
checked against FastAPI's.
"""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

from .inputs import solve_cases

pytestmark = pytest.mark.anyio
NAME = "solve_graph"

# A shared `settings` used by four others, a `user` used by `perms` and the endpoint.
SHARED = {
    "nodes": [
        {"name": "settings", "kind": "sync"},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}]},
        {"name": "cache", "kind": "sync", "deps": [{"on": "settings"}]},
        {"name": "user", "kind": "async", "deps": [{"on": "db"}, {"on": "settings"}]},
        {"name": "perms", "kind": "async", "deps": [{"on": "user"}, {"on": "cache"}]},
    ],
    "endpoint": {"deps": [{"on": "perms"}, {"on": "user"}, {"on": "db"}, {"on": "settings"}]},
    "requests": 2,
}

# Dependencies declared only as Annotated[..., Dep(...)] (the Dep alone, or after a note), as
# well as with defaults.
ANNOTATED = {
    "nodes": [
        {"name": "token", "kind": "sync"},
        {"name": "db", "kind": "async"},
        {
            "name": "user",
            "kind": "async",
            "deps": [{"on": "token", "annotated": True}, {"on": "db", "annotated": "noted"}],
        },
        {"name": "audit", "kind": "sync", "deps": [{"on": "user"}, {"on": "db", "annotated": True}]},
        {"name": "clock", "kind": "sync"},
    ],
    "endpoint": {
        "deps": [
            {"on": "clock", "annotated": True},
            {"on": "audit", "annotated": "noted"},
            {"on": "user"},
            {"on": "token", "annotated": True},
        ]
    },
}

# Values that are false, each asked for several times: a cache holding one holds a value.
FALSY = {
    "nodes": [
        {"name": "settings", "kind": "sync", "returns": None},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}], "returns": 0},
        {"name": "user", "kind": "async", "deps": [{"on": "db"}, {"on": "settings"}], "returns": ""},
    ],
    "endpoint": {"deps": [{"on": "user"}, {"on": "db"}, {"on": "settings"}, {"on": "user"}]},
}

# db (which needs settings) is in the cache before solving, put there by the caller.
PRESET = {
    "nodes": [
        {"name": "settings", "kind": "sync"},
        {"name": "db", "kind": "async", "deps": [{"on": "settings"}]},
        {"name": "user", "kind": "async", "deps": [{"on": "db"}]},
    ],
    "endpoint": {"deps": [{"on": "user"}, {"on": "db"}]},
}


async def learner_report(submission, spec, **options) -> dict:
    await require(submission, NAME, kind="async function")
    return await submission.probe("lesson03.solve_report", spec, defined(NAME), defined("Dep"), **options)


def expect_no_error(report: dict) -> None:
    error = report["error"]
    if error is None:
        return
    hint = ""
    if error["type"] == "TypeError" and "missing" in error["message"]:
        hint = (
            " A dependency was called without some of its arguments: solve each dependency's own "
            "parameters first (recursively), then run it with their values."
        )
    elif error["type"] == "TimeoutError":
        hint = " It did not finish within 5 s: is the recursion endless?"
    expect(False, f"Solving a graph raised {error['type']}: {error['message']}.{hint}")


def expect_no_markers_passed(report: dict) -> None:
    markers = [call["node"] for call in report["calls"] if "<Dep>" in call["args"].values()]
    expect(
        not markers and "<Dep>" not in (report["values"] or {}).values(),
        "A dependency was called with a Dep marker as an argument (the parameter's default): solve each "
        "dependency's own parameters first (recursively), then run it with their values.",
    )


def compare(mine: dict, fastapi: dict) -> None:
    expect_no_error(mine)
    expect_no_markers_passed(mine)
    ran_more = [name for name, count in mine["counts"].items() if count > fastapi["counts"].get(name, 0)]
    ran_less = [name for name, count in fastapi["counts"].items() if mine["counts"].get(name, 0) < count]
    expect(
        not ran_more,
        "A dependency ran more often than in FastAPI: keep each dependency's value in `cache`, keyed by "
        "the dependency callable, and reuse it when another parameter asks for the same callable.",
        promises=["cache-hit", "solve-then-run"],
    )
    expect(
        not ran_less,
        "A dependency ran less often than in FastAPI over several requests: the cache lives for one "
        "request only, so use the `cache` dict you are given, not one of your own.",
        promises=["request-cache"],
    )
    expect(
        [call["node"] for call in mine["calls"]] == [call["node"] for call in fastapi["calls"]],
        "Dependencies ran in a different order than in FastAPI: go through the parameters in signature "
        "order, and solve a dependency's own parameters before running it.",
        promises=["signature-order"],
    )
    expect(
        mine["calls"] == fastapi["calls"],
        "A dependency received different arguments than in FastAPI: call it with the values of its own "
        "dependencies, by parameter name.",
        promises=["solve-then-run"],
    )
    expect(
        mine["values"] == fastapi["values"],
        "solve_graph should return {parameter name: value} for every parameter of `call` that declares "
        "a dependency, and nothing else.",
        promises=["entries"],
    )


@graded(NAME, points=2, promises=["entries", "cache-hit", "solve-then-run", "signature-order"])
async def test_solve_graph_matches_fastapi_on_a_shared_graph(submission, reference):
    """A graph with shared dependencies, over two requests, gives what FastAPI gives."""
    mine = await learner_report(submission, SHARED)
    compare(mine, await reference.probe("lesson03.fastapi_report", SHARED))


@graded(NAME, points=1, promises=["declared", "signature-order"])
async def test_solve_graph_reads_annotated_parameters(submission, reference):
    """Parameters declared as Annotated[..., Dep(f)] are dependencies too, the Dep first or after other metadata."""
    mine = await learner_report(submission, ANNOTATED)
    fastapi = await reference.probe("lesson03.fastapi_report", ANNOTATED)
    annotated_hint = (
        "A parameter declared as `name: Annotated[SomeType, Dep(f)]` (no default) is a dependency "
        "too, and so is one whose Dep comes after other metadata: look for a Dep among all of the "
        "annotation's metadata (typing.get_origin, __metadata__)."
    )
    error = mine["error"]
    expect(
        not (error and error["type"] == "TypeError" and "missing" in error["message"]),
        f"{annotated_hint} Here a function was called without such an argument ({error and error['message']}).",
        promises=["declared"],
    )
    expect_no_error(mine)
    expect(
        mine["values"] == fastapi["values"] and mine["counts"] == fastapi["counts"],
        annotated_hint,
        promises=["declared"],
    )
    compare(mine, fastapi)


@graded(NAME, points=1, promises=["request-cache"], unhappy=True)
async def test_solve_graph_reuses_what_the_request_cache_holds(submission, reference):
    """Two solves sharing one cache dict (one request) run each dependency once."""
    spec = {**SHARED, "requests": 2}
    mine = await learner_report(submission, spec, shared_cache=True)
    expect_no_error(mine)
    once = (await reference.probe("lesson03.fastapi_report", {**SHARED, "requests": 1}))["counts"]
    expect(
        mine["counts"] == once,
        "With the same `cache` dict passed twice (two solves in one request), every dependency should "
        "run only once: look in the `cache` you are given before running anything.",
    )


@graded(NAME, points=1, promises=["cache-hit"], unhappy=True)
async def test_solve_graph_takes_what_the_cache_holds(submission, reference):
    """A value already in the cache is taken as it is, a false one too, and neither its dependency nor the dependency's
    own run."""
    mine = await learner_report(submission, FALSY)
    expect_no_error(mine)
    fastapi = await reference.probe("lesson03.fastapi_report", FALSY)
    expect(
        mine["counts"] == fastapi["counts"] and mine["values"] == fastapi["values"],
        'A dependency whose value is false (None, 0, "") ran again when it was asked for a second time: '
        "it is in `cache` all the same. Ask whether `f` is a key of `cache`, not whether its value is true.",
    )
    for given in ("given by the caller", None):
        mine = await learner_report(submission, PRESET, cached={"db": given})
        expect_no_error(mine)
        ran = sorted(name for name in ("settings", "db") if mine["counts"].get(name))
        expect(
            not ran,
            f"A dependency the caller had already put in `cache` (value {given!r}) was solved again: "
            f"{' and '.join(ran)} "
            "ran. When `f` is a key of `cache`, take `cache[f]` and run nothing, neither `f` nor its own "
            "dependencies: look in the cache (its keys are the dependency callables themselves) before solving `f`'s "
            "parameters.",
        )
        expect(
            mine["values"] == {"user_0": "user1", "db_1": given},
            "The value of a dependency the caller had put in `cache` is `cache[f]`, as it is.",
        )


@graded(
    NAME, points=2, promises=["entries", "declared", "signature-order", "cache-hit", "solve-then-run", "request-cache"]
)
async def test_solve_graph_solves_generated_graphs_as_the_task_says(submission, reference):
    """On generated graphs (shared, repeated and Annotated dependencies, false values, values already in the cache, one
    or two requests), every run and value is as the task says."""
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

    cases = solve_cases(kinds=("sync", "async", "async_callable", "class"), falsy=True)
    await same_as_reference(
        submission,
        reference,
        NAME,
        cases,
        run,
        promise={
            "values": ["entries", "declared", "cache-hit"],
            "counts": ["cache-hit", "solve-then-run", "request-cache"],
            "calls": ["signature-order", "solve-then-run"],
            "events": ["signature-order", "solve-then-run"],
        },
    )
