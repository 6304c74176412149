"""Hidden tests for `run_dependency`: each kind of dependency run the way FastAPI runs it.

The probe sets up a graph's nodes with the learner's run_dependency inside one
AsyncExitStack, in the order FastAPI would, runs the endpoint, closes the stack, and reports
what ran, in which thread, in which order, and what each teardown saw.
"""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

from .inputs import dependency_graphs

pytestmark = pytest.mark.anyio
NAME = "run_dependency"

NODES = [
    {"name": "config", "kind": "sync"},
    {"name": "pool", "kind": "async_gen", "deps": [{"on": "config"}]},
    {"name": "tx", "kind": "sync_gen", "deps": [{"on": "pool"}]},
    {"name": "user", "kind": "async", "deps": [{"on": "tx"}]},
    {"name": "lock", "kind": "sync_gen"},
    {"name": "audit", "kind": "async_gen", "deps": [{"on": "config"}, {"on": "user"}]},
    {"name": "pager", "kind": "class", "deps": [{"on": "config"}]},
]
ENDPOINT = {"deps": [{"on": "user"}, {"on": "lock"}, {"on": "audit"}, {"on": "pager"}]}
KINDS = {node["name"]: node["kind"] for node in NODES}


async def reports(submission, reference, spec) -> tuple[dict, dict]:
    await require(submission, NAME, kind="async function")
    mine = await submission.probe("lesson03.run_report", spec, defined(NAME))
    return mine, await reference.probe("lesson03.fastapi_report", spec)


def expect_values_and_threads(mine: dict, fastapi: dict) -> None:
    odd = [v for call in mine["calls"] for v in call["args"].values() if isinstance(v, str) and v.startswith("<")]
    expect(
        not odd and (mine["values"] or {}) == fastapi["values"],
        "A dependency's value is what it returns; for async def, await it; for a generator dependency, it is "
        "the value it yields (not the generator object).",
        promises=["async", "async-generator", "sync-generator", "worker-thread"],
    )
    for call in fastapi["calls"]:
        value, kind = call["value"], KINDS[call["node"]]
        theirs, ours = fastapi["threads"][value], mine["threads"].get(value, {})
        if kind == "sync":
            expect(
                ours.get("setup") == "worker",
                "Run a plain `def` dependency in a worker thread (for example with asyncio.to_thread): it may "
                "block, and the event loop must not wait for it.",
                promises=["worker-thread"],
            )
        elif kind == "class":
            expect(
                ours.get("setup") == "worker",
                "Call a class in a worker thread too, as FastAPI does: its __init__ (or __new__) is plain code "
                "that may block. Only `async def` functions and async generators run on the loop.",
                promises=["worker-thread"],
            )
        elif kind == "sync_gen":
            expect(
                ours == theirs,
                "Run both halves of a sync generator dependency (up to yield, and after it) in a worker "
                "thread, as FastAPI does.",
                promises=["sync-generator"],
            )
        else:
            expect(
                ours == theirs,
                "Run async dependencies on the event loop itself.",
                promises=["async", "async-generator"],
            )


def expect_teardowns(mine: dict, fastapi: dict) -> None:
    events = mine["events"]
    if "endpoint" in events:
        early = [e for e in events[: events.index("endpoint")] if e.startswith("teardown")]
        expect(
            not early,
            "Leave a generator dependency open until the stack closes: its code after yield must run after "
            "the endpoint, not right after set-up.",
            promises=["async-generator", "sync-generator"],
        )
    missing = [e for e in fastapi["events"] if e.startswith("teardown") and e not in events]
    expect(
        not missing,
        "Every generator dependency needs its teardown (the code after yield) when the stack closes.",
        promises=["async-generator", "sync-generator"],
    )
    expect(
        events == fastapi["events"],
        "Tear down in the reverse order of set-up: register each teardown on the stack you are given.",
        promises=["teardown-sees"],
    )


def expect_ran(mine: dict) -> None:
    """Fail with the learner's own error when running the dependencies raised."""
    error = mine["error"]
    expect(not error, f"Running the dependencies raised {error['type']}: {error['message']}." if error else "")


@graded(NAME, points=1.5, promises=["async", "async-generator", "sync-generator", "worker-thread"])
async def test_run_dependency_runs_each_kind_like_fastapi(submission, reference):
    """sync, async, sync generator, async generator and class dependencies give FastAPI's values, in FastAPI's
    threads."""
    mine, fastapi = await reports(submission, reference, {"nodes": NODES, "endpoint": ENDPOINT})
    expect_ran(mine)
    expect_values_and_threads(mine, fastapi)


@graded(NAME, points=2, promises=["async-generator", "sync-generator", "teardown-sees"])
async def test_run_dependency_tears_down_in_reverse_after_the_endpoint(submission, reference):
    """Generators are torn down after the endpoint, in reverse order, seeing no exception."""
    mine, fastapi = await reports(submission, reference, {"nodes": NODES, "endpoint": ENDPOINT})
    expect_ran(mine)
    expect_teardowns(mine, fastapi)
    expect(
        all(seen is None for seen in mine["teardown_saw"].values()),
        "When the endpoint succeeded, the code after yield must see no exception: let the stack resume the "
        "generator (as contextlib's context managers do) rather than close() it, which throws GeneratorExit in.",
        promises=["teardown-sees"],
    )


@graded(NAME, points=1.5, promises=["teardown-sees", "teardown-raises", "setup-raises"], unhappy=True)
async def test_run_dependency_delivers_the_exception_to_teardowns(submission, reference):
    """Each teardown sees the exception on its way out, as in FastAPI, and it keeps propagating; a teardown's own
    exception replaces it."""
    spec = {"nodes": NODES, "endpoint": dict(ENDPOINT, raises="ValueError")}
    mine, fastapi = await reports(submission, reference, spec)
    expect_teardowns(mine, fastapi)
    expect(
        mine["teardown_saw"] == fastapi["teardown_saw"],
        "Each teardown must see the exception on its way out (here, the endpoint's). Register each generator "
        "so that closing the stack throws the exception into it.",
        promises=["teardown-sees"],
    )
    expect(
        mine["error"] is not None and mine["error"]["type"] == "ValueError",
        "After the teardowns the endpoint's exception must keep propagating: don't swallow it.",
        promises=["teardown-sees"],
    )
    # A teardown that raises: the teardowns after it see its exception, which comes out instead.
    nodes = [dict(node, teardown_raises="RuntimeError") if node["name"] == "tx" else node for node in NODES]
    mine, fastapi = await reports(
        submission, reference, {"nodes": nodes, "endpoint": dict(ENDPOINT, raises="ValueError")}
    )
    expect(
        mine["teardown_saw"] == fastapi["teardown_saw"] and mine["events"] == fastapi["events"],
        "When a teardown raises, the teardowns after it must see that exception instead of the endpoint's: "
        "don't catch what a teardown raises.",
        promises=["teardown-raises"],
    )
    expect(
        mine["error"] is not None and mine["error"]["type"] == "RuntimeError",
        "After the teardowns the exception must keep propagating (here, the one the inner teardown raised): "
        "don't swallow it.",
        promises=["teardown-raises"],
    )
    # A failure while setting up: the dependencies already set up are torn down, seeing it.
    nodes = [dict(node, raises="KeyError") if node["name"] == "lock" else node for node in NODES]
    spec = {"nodes": nodes, "endpoint": ENDPOINT}
    mine, fastapi = await reports(submission, reference, spec)
    expect(
        mine["teardown_saw"] == fastapi["teardown_saw"] and mine["events"] == fastapi["events"],
        "When a dependency fails while setting up, the generators already entered must be torn down, "
        "seeing that exception.",
        promises=["setup-raises"],
    )


@graded(
    NAME,
    points=2,
    promises=[
        "async",
        "async-generator",
        "teardown-sees",
        "teardown-raises",
        "sync-generator",
        "worker-thread",
        "setup-raises",
    ],
    unhappy=True,
)
async def test_run_dependency_runs_generated_graphs_as_the_task_says(submission, reference):
    """On generated sets of dependencies of every kind, failing or not, values, threads, set-ups, teardowns and errors
    are as the task says."""
    await require(submission, NAME, kind="async function")

    async def run(side, graph):
        return await side.probe("lesson03.run_report", graph, defined(NAME))

    graphs = dependency_graphs(kinds=("sync", "async", "sync_gen", "async_gen", "class"), failures=True)
    await same_as_reference(
        submission,
        reference,
        NAME,
        graphs,
        run,
        promise={
            "values": ["async", "async-generator", "sync-generator", "worker-thread"],
            "calls": ["async", "async-generator", "sync-generator", "worker-thread"],
            "threads": ["async", "async-generator", "sync-generator", "worker-thread"],
            "events": ["async-generator", "sync-generator", "teardown-sees"],
            "teardown_saw": ["teardown-sees", "teardown-raises"],
            "error": ["teardown-raises", "setup-raises"],
        },
    )
