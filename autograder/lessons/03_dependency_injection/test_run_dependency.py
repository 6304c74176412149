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
]
ENDPOINT = {"deps": [{"on": "user"}, {"on": "lock"}, {"on": "audit"}]}
KINDS = {node["name"]: node["kind"] for node in NODES}


async def reports(submission, reference, spec) -> tuple[dict, dict]:
    await require(submission, NAME, kind="async function")
    mine = await submission.probe("lesson03.run_report", spec, defined(NAME))
    return mine, await reference.probe("lesson03.fastapi_report", spec)


def expect_values_and_threads(mine: dict, fastapi: dict) -> None:
    odd = [v for call in mine["calls"] for v in call["args"].values() if isinstance(v, str) and v.startswith("<")]
    expect(not odd and (mine["values"] or {}) == fastapi["values"],
           "A dependency's value is what it returns; for async def, await it; for a generator dependency, it is "
           "the value it yields (not the generator object).")
    for call in fastapi["calls"]:
        value, kind = call["value"], KINDS[call["node"]]
        theirs, ours = fastapi["threads"][value], mine["threads"].get(value, {})
        if kind == "sync":
            expect(ours.get("setup") == "worker",
                   "Run a plain `def` dependency in a worker thread (for example with asyncio.to_thread): it may "
                   "block, and the event loop must not wait for it.")
        elif kind == "sync_gen":
            expect(ours == theirs,
                   "Run both halves of a sync generator dependency (up to yield, and after it) in a worker "
                   "thread, as FastAPI does.")
        else:
            expect(ours == theirs, "Run async dependencies on the event loop itself.")


def expect_teardowns(mine: dict, fastapi: dict) -> None:
    events = mine["events"]
    if "endpoint" in events:
        early = [e for e in events[: events.index("endpoint")] if e.startswith("teardown")]
        expect(not early,
               "Leave a generator dependency open until the stack closes: its code after yield must run after "
               "the endpoint, not right after set-up.")
    missing = [e for e in fastapi["events"] if e.startswith("teardown") and e not in events]
    expect(not missing, "Every generator dependency needs its teardown (the code after yield) when the stack closes.")
    expect(events == fastapi["events"],
           "Tear down in the reverse order of set-up: register each teardown on the stack you are given.")


def expect_ran(mine: dict) -> None:
    """Fail with the learner's own error when running the dependencies raised."""
    error = mine["error"]
    expect(not error, f"Running the dependencies raised {error['type']}: {error['message']}." if error else "")


@graded(NAME, points=1.5)
async def test_run_dependency_runs_each_kind_like_fastapi(submission, reference):
    """sync, async, sync generator and async generator dependencies give FastAPI's values, in FastAPI's threads."""
    mine, fastapi = await reports(submission, reference, {"nodes": NODES, "endpoint": ENDPOINT})
    expect_ran(mine)
    expect_values_and_threads(mine, fastapi)


@graded(NAME, points=2)
async def test_run_dependency_tears_down_in_reverse_after_the_endpoint(submission, reference):
    """Generators are torn down after the endpoint, in reverse order, seeing no exception."""
    mine, fastapi = await reports(submission, reference, {"nodes": NODES, "endpoint": ENDPOINT})
    expect_ran(mine)
    expect_teardowns(mine, fastapi)
    expect(all(seen is None for seen in mine["teardown_saw"].values()),
           "When the endpoint succeeded, the code after yield must see no exception: let the stack resume the "
           "generator (as contextlib's context managers do) rather than close() it, which throws GeneratorExit in.")


@graded(NAME, points=1.5)
async def test_run_dependency_delivers_the_exception_to_teardowns(submission, reference):
    """Each teardown sees the exception on its way out, as in FastAPI, and it keeps propagating."""
    nodes = [dict(node, teardown_raises="RuntimeError") if node["name"] == "tx" else node for node in NODES]
    spec = {"nodes": nodes, "endpoint": dict(ENDPOINT, raises="ValueError")}
    mine, fastapi = await reports(submission, reference, spec)
    expect_teardowns(mine, fastapi)
    expect(mine["teardown_saw"] == fastapi["teardown_saw"],
           "Each teardown must see the exception on its way out: the endpoint's, or the one an inner teardown "
           "raised instead. Register each generator so that closing the stack throws the exception into it.")
    expect(mine["error"] is not None and mine["error"]["type"] == "RuntimeError",
           "After the teardowns the exception must keep propagating (here, the one the inner teardown raised): "
           "don't swallow it.")
    # A failure while setting up: the dependencies already set up are torn down, seeing it.
    nodes = [dict(node, raises="KeyError") if node["name"] == "lock" else node for node in NODES]
    spec = {"nodes": nodes, "endpoint": ENDPOINT}
    mine, fastapi = await reports(submission, reference, spec)
    expect(mine["teardown_saw"] == fastapi["teardown_saw"] and mine["events"] == fastapi["events"],
           "When a dependency fails while setting up, the generators already entered must be torn down, "
           "seeing that exception.")


@graded(NAME, points=2)
async def test_run_dependency_runs_generated_graphs_as_the_task_says(submission, reference):
    """On generated sets of dependencies of every kind, failing or not, values, threads, set-ups, teardowns and errors are as the task says."""
    await require(submission, NAME, kind="async function")

    async def run(side, graph):
        return await side.probe("lesson03.run_report", graph, defined(NAME))

    graphs = dependency_graphs(kinds=("sync", "async", "sync_gen", "async_gen", "async_callable"), failures=True)
    await same_as_reference(submission, reference, NAME, graphs, run,
                            promise="async functions are awaited on the loop, generators run to their yield and are "
                                    "torn down when the stack closes (in reverse, seeing the exception on its way "
                                    "out; a teardown's own exception replaces it), sync generators and plain "
                                    "functions in a worker thread; a set-up's exception propagates.")
