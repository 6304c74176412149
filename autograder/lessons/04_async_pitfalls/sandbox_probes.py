"""Probes for lesson 04 (async pitfalls): run the learner's objects on scenarios, report in JSON.

The exercises take or make Python objects (a monitor class, a list of async callables, a pool,
an app with a lifespan), which cannot cross the sandbox boundary. So a hidden test names a
scenario, a probe here runs it next to the learner's code, and answers with what happened:
values, error types, and what the recording fakes of ``coursekit.fakes`` saw. Times are
relative to the probe's start, in seconds.

This module is public: it holds the harness, never an exercise's answer, and no
expectation; the assertions stay in the hidden suite. Only the standard library and
coursekit are imported at the top.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from coursekit.fakes import FakeService, SlowPool

ERRORS = {"KeyError": KeyError, "ValueError": ValueError, "LookupError": LookupError, "RuntimeError": RuntimeError}
SETTLE_SECONDS = 2.0  # the longest a probe waits for a learner's coroutine before reporting


def _error(exc: BaseException) -> dict:
    return {"error": type(exc).__name__, "group": isinstance(exc, BaseExceptionGroup), "message": str(exc)[:200]}


async def _outcome(task: asyncio.Future, seconds: float = SETTLE_SECONDS) -> dict:
    """What a learner's task ended with: {"value": ...} or {"error": type name, ...}."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        return {"error": "did not finish", "group": False, "message": f"still running after {seconds:g} s"}
    if task.cancelled():
        return {"error": "CancelledError", "group": False, "message": ""}
    if task.exception() is not None:
        return _error(task.exception())
    value = task.result()
    return {"value": value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else repr(value)}


# -- LagMonitor --------------------------------------------------------------------------------


async def lag_report(monitor_class: Any, interval: float, idle: float, block: float) -> dict:
    """Run a monitor for ``idle`` seconds, hold the loop ``block`` seconds with time.sleep, idle
    again, stop it; report its samples."""
    monitor = monitor_class(interval)
    origin = time.monotonic()
    monitor.start()
    await asyncio.sleep(idle)
    block_start = time.monotonic() - origin
    time.sleep(block)  # noqa: ASYNC251 (on purpose: the event loop blocked, the lag to measure)
    block_end = time.monotonic() - origin
    await asyncio.sleep(idle / 2)
    await monitor.stop()
    return {
        "samples": [[woke - origin, lag] for woke, lag in monitor.samples],
        "lags_match": monitor.lags == [lag for _, lag in monitor.samples],
        "block": [block_start, block_end],
        "stopped": time.monotonic() - origin,
    }


async def lag_lifecycle(monitor_class: Any) -> dict:
    """Start twice, stop, look whether the task ended and whether samples still come, stop again."""
    before = set(asyncio.all_tasks())
    monitor = monitor_class(0.01)
    monitor.start()
    try:
        monitor.start()
        second_start = None
    except BaseException as exc:
        second_start = type(exc).__name__
    await asyncio.sleep(0.05)
    first = await monitor.stop()  # awaited directly: a wrapper task would give the loop extra turns
    unfinished = [
        task for task in asyncio.all_tasks() - before if task is not asyncio.current_task() and not task.done()
    ]
    count = len(monitor.samples)
    await asyncio.sleep(0.05)
    added = len(monitor.samples) - count
    second = await monitor.stop()
    # A task a stop() left running (a second start()'s sampler) would wake every 10 ms through the
    # later tests of this sandbox, and slow other exercises' timing checks: it ends here.
    for task in asyncio.all_tasks() - before:
        if task is not asyncio.current_task() and not task.done():
            task.cancel()
    return {
        "second_start": second_start,
        "first_stop_list": isinstance(first, list) and first == monitor.lags,
        "second_stop_list": isinstance(second, list) and second == monitor.lags,
        "unfinished_at_stop": len(unfinished),
        "added_after_stop": added,
    }


async def lag_on_a_jittery_clock(monitor_class: Any, interval: float, seconds: float) -> dict:
    """Run a monitor for ``seconds`` while ``time.monotonic`` (and so the loop's clock, which
    reads it) runs up to 8 ms behind at random at each reading: a clock read after the sleep may
    then show a wake-up earlier than it was due, as a coarse clock or timer does; report the
    lags recorded."""
    import random

    jitter = random.Random(4)  # noqa: S311 (a seeded jitter: the same every run)
    real = time.monotonic
    monitor = monitor_class(interval)
    time.monotonic = lambda: real() - jitter.uniform(0, 0.008)
    try:
        monitor.start()
        ends = real() + seconds
        while real() < ends:  # noqa: ASYNC110 (`seconds` of the real clock: the loop's own is the jittery one)
            await asyncio.sleep(interval)
        await monitor.stop()
    finally:
        time.monotonic = real
    return {"lags": list(monitor.lags)}


def lag_percentiles(monitor_class: Any, lags: list[float], ps: list[float]) -> list:
    """A monitor whose samples are ``lags`` (at made-up times): its percentile(p) for each p."""
    monitor = monitor_class(0.01)
    monitor.samples = [(float(index), lag) for index, lag in enumerate(lags)]
    return [monitor.percentile(p) for p in ps]


# -- make_cpu_app ------------------------------------------------------------------------------


def _pool_state(pool: Any) -> dict:
    state: dict[str, Any] = {"type": type(pool).__name__ if pool is not None else None}
    if isinstance(pool, ProcessPoolExecutor):
        state["max_workers"] = pool._max_workers
        state["worker_pids"] = sorted(pool._processes or {})
    return state


def _accepts_work(pool: Any) -> bool:
    try:
        pool.submit(abs, -1).cancel()
    except RuntimeError:  # "cannot schedule new futures after shutdown"
        return False
    return True


async def _answers(client, paths: list[str]) -> list[dict]:
    answers = []
    for path in paths:
        response = await client.get(path)
        try:
            body = response.json()
        except ValueError:  # no body, or a 500's plain text
            body = None
        answers.append({"status": response.status_code, "json": body})
    return answers


# A process pool's start and shutdown are synchronous (fork, join) and, on a busy machine, slow for
# any answer: run on the sandbox's own loop they would hold it past the time the sandbox gives one
# call. So a scenario runs in a thread of its own, on a loop of its own, and the suite asks how it
# is going (``scenario_result``) as often as it likes, each answer prompt, until a deadline of its
# own: a slow machine then costs time, never a wrong verdict.
_SCENARIOS: dict[int, tuple[concurrent.futures.Future, dict]] = {}


def _in_a_thread(scenario: Any, *args: Any) -> int:
    """Start ``scenario(progress, *args)`` (a coroutine function) on a loop of its own, in a
    thread of its own; return the key ``scenario_result`` takes."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    progress = {"phase": "startup"}

    def run() -> None:
        try:
            future.set_result(asyncio.run(scenario(progress, *args)))
        except BaseException as exc:  # the learner's error, raised again by scenario_result
            future.set_exception(exc)

    threading.Thread(target=run, name="lesson04-scenario", daemon=True).start()
    _SCENARIOS[id(future)] = (future, progress)
    return id(future)


async def scenario_result(key: int, wait: float) -> dict:
    """``{"done": True, "report": ...}`` once the scenario ``key`` has ended (its error raised
    here), else, after waiting up to ``wait`` seconds, ``{"done": False, "phase": ...}``: where
    it is (startup, a request, shutdown)."""
    future, progress = _SCENARIOS[key]
    await asyncio.wait({asyncio.wrap_future(future)}, timeout=wait)
    if not future.done():
        return {"done": False, "phase": progress["phase"]}
    del _SCENARIOS[key]
    return {"done": True, "report": future.result()}


async def _cpu_lifespan(progress: dict, factory: Any, workers: int, paths: list[str], lives: int) -> dict:
    import httpx
    from asgi_lifespan import LifespanManager

    app = factory(workers)
    report: dict[str, Any] = {"own_pid": os.getpid(), "lives": []}
    origin = time.monotonic()
    for _ in range(lives):
        life: dict[str, Any] = {}
        report["lives"].append(life)
        progress["phase"] = "startup"
        async with LifespanManager(app, startup_timeout=None, shutdown_timeout=None):
            pool = getattr(app.state, "pool", None)
            life["started"] = _pool_state(pool)
            # an endpoint that raises answers 500, as under a server, rather than ending the probe
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                life["answers"] = []
                for path in paths:
                    progress["phase"] = f"GET {path}"
                    life["answers"].extend(await _answers(client, [path]))
            life["after_request"] = _pool_state(pool)
            progress["phase"] = "shutdown"
        life["accepts_work_after_shutdown"] = _accepts_work(pool) if pool is not None else None
    report["elapsed"] = time.monotonic() - origin
    return report


async def cpu_lifespan_report(factory: Any, workers: int, paths: list[str], lives: int = 1) -> int:
    """Start, in a thread of its own: make one app, run its lifespan ``lives`` times in a row (a
    restart), GET each of ``paths`` in each life. Its report (``scenario_result``): the answers,
    and the pool seen on app.state at startup, after the requests and after each shutdown."""
    return _in_a_thread(_cpu_lifespan, factory, workers, paths, lives)


async def _pool_baseline(progress: dict, workers: int, requests: int) -> dict:
    from coursekit.work import count_primes

    origin = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        loop = asyncio.get_running_loop()
        for _ in range(max(requests, 1)):
            await loop.run_in_executor(pool, count_primes, 1000)
    return {"elapsed": time.monotonic() - origin}


async def pool_baseline(workers: int, requests: int) -> int:
    """Start, in a thread of its own, what any answer pays here, now: a ProcessPoolExecutor of
    ``workers`` started, a small count_primes run in it ``requests`` times, shut down. Its
    report (``scenario_result``): the seconds it took."""
    return _in_a_thread(_pool_baseline, workers, requests)


# -- fetch_all ---------------------------------------------------------------------------------


def _closing(call: Any, seconds: float, closing: list[int]) -> Any:
    """``call`` made to take ``seconds`` to close when cancelled, as a connection being torn
    down does: while it closes it counts in ``closing``."""

    async def outbound() -> Any:
        try:
            return await call()
        except asyncio.CancelledError:
            closing[0] += 1
            try:
                await asyncio.sleep(seconds)
            finally:
                closing[0] -= 1
            raise

    return outbound


async def fetch_report(fetch_all: Any, calls: list[dict], limit: int, timeout: float) -> dict:
    """Run fetch_all on calls described as {"seconds", "value"} or {"seconds", "error"}, each
    with an optional "cleanup" (seconds it takes to close once cancelled)."""
    service = FakeService()
    closing = [0]
    functions = [
        service.call(index, call["seconds"], call.get("value"), ERRORS.get(call.get("error", "")))
        for index, call in enumerate(calls)
    ]
    functions = [
        _closing(function, call["cleanup"], closing) if call.get("cleanup") else function
        for function, call in zip(functions, calls, strict=True)
    ]
    origin = time.monotonic()
    task = asyncio.ensure_future(fetch_all(functions, limit, timeout))
    outcome = await _outcome(task, timeout + SETTLE_SECONDS)
    elapsed = time.monotonic() - origin
    running_at_return = service.running + closing[0]
    events_at_return = len(service.events)
    # Calls left running in the background get the time to end (and show it).
    await asyncio.sleep(max((call["seconds"] + call.get("cleanup", 0) for call in calls), default=0) + 0.05)
    return {
        "outcome": outcome,
        "elapsed": elapsed,
        "peak": service.peak,
        "events": service.events,
        "running_at_return": running_at_return,
        "events_after_return": service.events[events_at_return:],
    }


# -- use_connection ----------------------------------------------------------------------------

# The named scenarios of the hand-written tests, as the probe's descriptions: how long acquire
# and the job take, whether the job raises, and when (seconds after the start, the second one
# after the first) the task is cancelled.
SCENARIOS = {
    "returns": {"acquire_seconds": 0.0, "job_seconds": 0.01, "raises": False, "cancels": []},
    "raises": {"acquire_seconds": 0.0, "job_seconds": 0.01, "raises": True, "cancels": []},
    "cancelled": {"acquire_seconds": 0.0, "job_seconds": 1.0, "raises": False, "cancels": [0.05]},  # during the job
    "cancelled_twice": {"acquire_seconds": 0.0, "job_seconds": 1.0, "raises": False, "cancels": [0.05, 0.04]},
    "cancelled_while_acquiring": {"acquire_seconds": 0.2, "job_seconds": 1.0, "raises": False, "cancels": [0.05]},
}


async def cleanup_report(use_connection: Any, scenario: str | dict) -> dict:
    """Run use_connection on a SlowPool (release: 0.1 s in five awaits) in a scenario (one of
    SCENARIOS, or a description like theirs); report its outcome, the pool's record when it
    ended, and the pool's record once a release left running in the background had the time
    to end."""
    if isinstance(scenario, str):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        scenario = SCENARIOS[scenario]
    pool = SlowPool(acquire_seconds=scenario["acquire_seconds"], release_seconds=0.1)

    async def job(connection: str) -> str:
        await asyncio.sleep(scenario["job_seconds"])
        if scenario["raises"]:
            raise LookupError("the job failed")
        return f"done with {connection}"

    task = asyncio.ensure_future(use_connection(pool, job))
    released_at_return: list[str] = []
    task.add_done_callback(lambda _: released_at_return.extend(pool.released))
    for delay in scenario["cancels"]:
        await asyncio.sleep(delay)
        task.cancel()
    outcome = await _outcome(task)
    # A release left to go on in the background (shielded) ends first: a fixed 0.15 s wait was
    # too short for it on a busy machine, and a correct answer lost its points.
    await pool.settled()
    return {
        "outcome": outcome,
        "given": pool.given,
        "release_calls": pool.release_calls,
        "released": pool.released,
        "released_at_return": released_at_return,
    }


async def cleanup_reports(use_connection: Any, scenarios: list[dict]) -> list[dict]:
    """``cleanup_report`` for every scenario, all at once (each with a pool of its own)."""
    return list(await asyncio.gather(*(cleanup_report(use_connection, scenario) for scenario in scenarios)))


# -- differential tests: many scenarios in one call ----------------------------------------------


LAG_NAP = 0.03  # a "sleep" step of lag_sessions: several intervals, so a running monitor wakes in it
LAG_NAP_AT_MOST = 0.4  # ... and, for a running monitor on a busy machine, longer until it sampled: a
# stalled loop is no answer's fault


async def lag_session(monitor_class: Any, session: dict) -> dict:
    """Play ``session`` on one monitor: ``{"interval": seconds | None (the default), "ops":
    ["start" | "stop" | "sleep", ...], "lags": [...], "ps": [...]}``. For each op: what start
    raised, whether stop returned ``lags`` with its task ended, whether samples grew during a
    sleep and all are (woke_at, lag >= 0) in order; then a monitor whose samples are ``lags``
    answers ``percentile(p)`` for each p. Only what does not depend on the moment is reported."""
    started: set = set()  # the tasks start() made: a plain call, so nothing else ran meanwhile
    monitor = monitor_class() if session["interval"] is None else monitor_class(session["interval"])
    made = {"interval": monitor.interval, "samples": list(monitor.samples)}
    steps = []
    running = False  # as the statement has it: started and not stopped since (a nap waits for its samples)
    try:
        for op in session["ops"]:
            if op == "start":
                before = set(asyncio.all_tasks())
                try:
                    monitor.start()
                    running = True
                    steps.append({"start": None})
                except NotImplementedError:
                    raise
                except Exception as exc:
                    steps.append({"start": type(exc).__name__})
                started |= set(asyncio.all_tasks()) - before
            elif op == "stop":
                running = False
                returned = await monitor.stop()
                steps.append(
                    {
                        "stop returned lags": isinstance(returned, list) and returned == monitor.lags,
                        "tasks left running": sum(not task.done() for task in started),
                    }
                )
            else:
                count = len(monitor.samples)
                # First let a task start() just made take its first step, so that its first
                # wake-up is due before the nap ends: on a starved machine the nap could end
                # before that step ran (a running monitor then "did not grow").
                await asyncio.sleep(0)
                await asyncio.sleep(LAG_NAP)
                napped = time.monotonic() + LAG_NAP_AT_MOST - LAG_NAP
                while running and len(monitor.samples) == count and time.monotonic() < napped:  # noqa: ASYNC110 (polls the learner's object: no event of ours to wait on)
                    await asyncio.sleep(0.01)
                woke = [sample[0] for sample in monitor.samples]
                steps.append(
                    {
                        "samples grew": len(monitor.samples) > count,
                        "samples well formed": all(len(sample) == 2 and sample[1] >= 0 for sample in monitor.samples)
                        and woke == sorted(woke)
                        and monitor.lags == [sample[1] for sample in monitor.samples],
                    }
                )
    finally:
        with contextlib.suppress(Exception):
            await monitor.stop()
        for task in started:  # a sampler a stop() left behind must not run through later tests
            task.cancel()
    return {"made": made, "steps": steps, "percentiles": lag_percentiles(monitor_class, session["lags"], session["ps"])}


async def lag_sessions(monitor_class: Any, sessions: list[dict]) -> list[dict]:
    """``lag_session`` for each session, all at once (each with a monitor of its own); a
    session that raised answers {"raised": type} (NotImplementedError ends the batch)."""

    async def played(session: dict) -> dict:
        try:
            return await lag_session(monitor_class, session)
        except NotImplementedError:
            raise  # not an answer: the exercise is not solved
        except Exception as exc:
            return {"raised": type(exc).__name__}

    return list(await asyncio.gather(*(played(session) for session in sessions)))


async def fetch_reports(fetch_all: Any, cases: list[dict]) -> list[dict]:
    """``fetch_report`` for every ``{"calls", "limit", "timeout"}`` of ``cases``, all at once
    (each with a service of its own), so the batch costs its longest case."""
    return list(
        await asyncio.gather(
            *(fetch_report(fetch_all, case["calls"], case["limit"], case["timeout"]) for case in cases)
        )
    )


async def report_app_answers(factory: Any, requests: list[dict]) -> list[dict]:
    """Make the app (``factory()``) and send it each ``{"method", "path"}`` in turn, with the
    cells' ``legacy_report`` replaced for the time by one that notes each call's arguments
    (a delay not passed as legacy_report's default) and whether it ran on the event loop's
    thread, and skips the sleep (the answers come at once, the same: a negative delay still
    fails as time.sleep fails). Answers, per request:
    status, content-type, JSON body (None if not JSON), and the calls noted."""
    import inspect

    import httpx

    names = factory.__globals__
    original = names["legacy_report"]
    default = inspect.signature(original).parameters["delay"].default
    calls: list[list] = []

    def noting(tenant_id, delay=default, *more, **named):
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        calls.append([tenant_id, delay, on_loop])
        return original(tenant_id, 0 if isinstance(delay, (int, float)) and delay > 0 else delay, *more, **named)

    names["legacy_report"] = noting
    answers = []
    try:
        app = factory()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for request in requests:
                del calls[:]
                response = await client.request(request["method"], request["path"])
                try:
                    body = response.json()
                except ValueError:
                    body = None
                answers.append(
                    {
                        "status": response.status_code,
                        "content_type": response.headers.get("content-type"),
                        "json": body,
                        "legacy_report calls": [list(call) for call in calls],
                    }
                )
    finally:
        names["legacy_report"] = original
    return answers
